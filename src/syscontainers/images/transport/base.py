"""What every source family shares: the :class:`Source` protocol and skopeo as the one reader.

Contracts (kept by every family, see docs/architecture.md, "Transport seam"):
- :meth:`Source.manifest` returns one type, :class:`~..imagemeta.Manifest`: the exact bytes
  the source serves (``skopeo inspect --raw``), so the image ID is the registry's manifest
  digest. A manifest list / OCI index is resolved to the host platform's instance *inside*
  the source (how depends on the family), so callers never test types.
- :meth:`Source.copy` writes the image into an OCI layout whose blobs live in a shared blob
  dir. skopeo converts docker manifests to OCI there (and rewrites the config blob doing so),
  so the caller takes the manifest from :meth:`Source.manifest` and the config from
  :meth:`Source.config`, and only the *layer* blobs from the layout (their digests are kept:
  ``--dest-oci-accept-uncompressed-layers`` stops skopeo from compressing plain-tar layers).
- Every skopeo failure becomes one line (:func:`.skopeo_errors.skopeo_error`); digests are
  validated before they name any path.
- Opening a source has no side effect: files (the credentials' auth file) are written into
  ``workdir`` only when skopeo runs, so a source can be opened just to be asked for its name.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ... import proc
from ...errors import BadImage, SysContainersError
from ..imagemeta import Manifest, image_manifest, parse_source_manifest, is_manifest_list, \
    sha256_digest
from ..reference import ImageRef, validate_digest
from .skopeo_errors import skopeo_error

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
         "armv7l": "arm", "armv6l": "arm", "ppc64le": "ppc64le", "s390x": "s390x",
         "i686": "386", "i386": "386", "riscv64": "riscv64"}


def host_platform() -> tuple[str, str]:
    """(os, architecture) in OCI terms for this machine."""
    machine = platform.machine().lower()
    return "linux", _ARCH.get(machine, machine)


def pick_platform(index: dict, what: str) -> str:
    """The digest of the host platform's image in a manifest list / OCI index."""
    want_os, want_arch = host_platform()
    seen = []
    for entry in index.get("manifests") or []:
        plat = entry.get("platform") or {}
        seen.append(f"{plat.get('os')}/{plat.get('architecture')}")
        if plat.get("os") == want_os and plat.get("architecture") == want_arch:
            try:
                return validate_digest(entry.get("digest"))
            except SysContainersError as e:
                raise BadImage(f"malformed manifest list for {what}: {e}") from None
    raise BadImage(f"{what} has no image for {want_os}/{want_arch} (it has: {', '.join(seen) or 'none'})")


@dataclass(frozen=True)
class SourceOptions:
    """How to reach a source. ``creds`` is (user, password); ``daemon_host`` a docker socket URL."""

    tls_verify: bool = True
    creds: tuple[str, str] | None = None
    daemon_host: str | None = None
    progress: bool = False          # let skopeo draw its progress on our stdout


@dataclass(frozen=True)
class Reach:
    """How the access record (docs/formats.md, ``source-*`` keys) says a source is reached:
    TLS verification and where credentials come from ("src-creds", "auth-file"); None where
    the family has no such thing (files, the docker daemon)."""

    tls_verify: bool | None = None
    credentials: str | None = None


class Source(Protocol):
    """One image source. Implemented once per transport family; made by ``open_source``."""

    ref: ImageRef
    pinned: str          # the skopeo name of exactly the image manifest() returned

    @property
    def what(self) -> str: ...
    def stored_name(self) -> str: ...
    def registry_name(self) -> str | None: ...
    def notes(self) -> tuple[str, ...]: ...
    def reach(self, tls_verify: bool, creds_given: bool) -> Reach: ...
    def manifest(self) -> Manifest: ...
    def config(self, manifest: Manifest, blob_dir: Path | None = None) -> bytes: ...
    def copy(self, layout: Path, blob_dir: Path) -> None: ...


class SkopeoSource:
    """The shared half of every family: skopeo calls, config and copy. Subclasses name the
    image for skopeo (:meth:`skopeo_name`), add their flags and resolve manifest lists."""

    def __init__(self, ref: ImageRef, options: SourceOptions, workdir: Path | None):
        self.ref = ref
        self.options = options
        self.workdir = workdir
        self.pinned = self.skopeo_name()

    def skopeo_name(self) -> str:
        raise NotImplementedError

    @property
    def what(self) -> str:
        return self.ref.original or self.skopeo_name()

    # -- questions answered without skopeo (defaults: a source that is not a registry)
    def stored_name(self) -> str:
        """The name a pull of this source stores (docs/architecture.md, "Transport seam")."""
        return self.ref.store_name()

    def registry_name(self) -> str | None:
        """``registry/repo:tag`` when the image lives in a registry, else None."""
        return None

    def notes(self) -> tuple[str, ...]:
        """Warnings for the operator about how the reference was read."""
        return ()

    def reach(self, tls_verify: bool, creds_given: bool) -> Reach:
        return Reach()

    # -- skopeo
    def flags(self, side: str) -> list[str]:
        """skopeo options for this source; ``side`` is "" (inspect) or "src-" (copy)."""
        return []

    def _skopeo(self, args: list[str], *, binary: bool = False, show: bool = False):
        res = proc.run(["skopeo", *args], check=False, binary=binary, show_stdout=show)
        if res.returncode != 0:
            raise skopeo_error(res.stderr, self.what, self.registry_name() or "")
        return res.stdout

    def inspect(self, source: str, config: bool = False) -> bytes:
        args = ["inspect", "--raw", *(["--config"] if config else []), *self.flags(""), source]
        return self._skopeo(args, binary=True)

    def manifest(self) -> Manifest:
        """The image's raw manifest, resolved to the host platform (see module docstring)."""
        raw = self.top_manifest()
        parsed = parse_source_manifest(raw, self.what)
        if is_manifest_list(parsed):
            raw = self.instance(pick_platform(parsed, self.what))
        return image_manifest(raw, self.what)

    def top_manifest(self) -> bytes:
        """What the reference names: an image manifest or a list."""
        return self.inspect(self.pinned)

    def instance(self, digest: str) -> bytes:
        """The raw manifest of the list entry ``digest``, verified against it."""
        raise BadImage(f"{self.what}: a manifest list where an image was expected")

    def config(self, manifest: Manifest, blob_dir: Path | None = None) -> bytes:
        """The config blob exactly as the source has it, verified against its digest.

        After :meth:`copy` of an OCI image the blob is already in ``blob_dir`` (skopeo only
        rewrites configs it converts), so it is not asked for again. Schema 1 has no config
        blob: skopeo derives one from the manifest's history (which the manifest digest
        covers), so its labels are those of ``v1Compatibility``.
        """
        if manifest.config_digest is not None and blob_dir is not None:
            cached = blob_dir / "sha256" / manifest.config_digest.split(":", 1)[1]
            if cached.is_file():
                raw = cached.read_bytes()
                if sha256_digest(raw) == manifest.config_digest:
                    return raw
        raw = self.inspect(self.pinned, config=True)
        if manifest.config_digest is None:
            return raw
        if sha256_digest(raw) != manifest.config_digest:
            raise BadImage(f"config of {self.what} does not match its digest {manifest.config_digest}")
        return raw

    def copy(self, layout: Path, blob_dir: Path) -> None:
        """Copy the (pinned) image into the OCI layout ``layout``, blobs in ``blob_dir``."""
        show = self.options.progress
        args = ["copy", *([] if show else ["--quiet"]), *self.flags("src-"),
                "--dest-shared-blob-dir", str(blob_dir), "--dest-oci-accept-uncompressed-layers",
                self.pinned, f"oci:{layout}:image"]
        self._skopeo(args, show=show)
