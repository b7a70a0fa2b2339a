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

import json
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ... import proc
from ...errors import BadImage, SysContainersError
from ..imagemeta import Manifest, image_manifest, parse_source_manifest, is_manifest_list, \
    sha256_digest
from ..reference import ImageRef, validate_digest
from .skopeo_errors import policy_error, skopeo_error
from .trust import TrustPolicy

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
    policy: TrustPolicy | None = None   # verify() asks skopeo for this policy's verdict
    auth_file: str | None = None    # --authfile: the containers auth file to read
    cert_dir: str | None = None     # --cert-dir: the registry's client certificates / CAs


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
    def adopt(self, manifest: Manifest) -> Manifest: ...
    def config(self, manifest: Manifest, blob_dir: Path | None = None) -> bytes: ...
    def verify(self, manifest: Manifest, workdir: Path) -> None: ...
    def copy(self, layout: Path, blob_dir: Path) -> None: ...
    def start_copy(self, layout: Path, blob_dir: Path) -> "Copy": ...


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

    def adopt(self, manifest: Manifest) -> Manifest:
        """:meth:`manifest`, given what this source served moments ago to a question by the
        same reference and options (update's check, lifecycle/update.py): a source that
        pins by digest takes it instead of asking again. Here: asked again."""
        return self.manifest()

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

    def verify(self, manifest: Manifest, workdir: Path) -> None:
        """The trust policy's verdict (``options.policy``) on the image as the operator named
        it - by its tag, not pinned: a signature names the reference it was made for - given
        by ``skopeo copy`` into a throwaway layout under ``workdir``. Every layer of
        ``manifest`` gets a placeholder there (images/pull.py, step 3), so only the
        manifest, the config and the signatures are fetched. The image skopeo verified must
        be ``manifest``'s (a tag that moved in between is refused). PolicyRejected names the
        image, the policy file and skopeo's reason (docs/operations.md, "Signatures and the
        trust policy")."""
        policy = self.options.policy
        if policy is None or policy.accepts_anything():
            return                  # it cannot reject anything: nothing to ask skopeo
        layout, blobs = workdir / "verify", workdir / "verify-blobs"
        try:
            for layer in manifest.layers:
                if layer.size > 0:       # schema 1 (size unknown): skopeo fetches the blob
                    _placeholder(blobs, layer.digest, layer.size)
            blobs.mkdir(parents=True, exist_ok=True)
            args = ["skopeo", *policy.flags(), "copy", "--quiet", "--remove-signatures",
                    *self.flags("src-"),
                    "--dest-shared-blob-dir", str(blobs), "--dest-oci-accept-uncompressed-layers",
                    self.skopeo_name(), f"oci:{layout}:image"]
            res = proc.run(args, check=False)
            if res.returncode != 0:
                raise policy_error(res.stderr, self.what, str(policy.path),
                                   self.registry_name() or "")
            self._same_as_verified(manifest, layout, blobs)
        finally:
            shutil.rmtree(layout, ignore_errors=True)
            shutil.rmtree(blobs, ignore_errors=True)

    def _same_as_verified(self, manifest: Manifest, layout: Path, blobs: Path) -> None:
        """skopeo keeps an OCI manifest as it is (same digest) and converts a docker one: then
        the layers must be the same, and the config the same as OCI sees it."""
        try:
            index = json.loads((layout / "index.json").read_text())
            digest = validate_digest(index["manifests"][0]["digest"])
            if digest == manifest.digest:
                return
            verified = json.loads(_read_blob(blobs, digest))
            layers = [validate_digest(layer["digest"]) for layer in verified["layers"]]
            config = _read_blob(blobs, validate_digest(verified["config"]["digest"]))
            same = layers == [layer.digest for layer in manifest.layers] and \
                self._config_view(manifest, config)
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError,
                SysContainersError):
            same = False
        if not same:
            raise BadImage(f"{self.what} changed while it was verified (its tag was moved?): "
                           f"the verified image is not {manifest.digest}; pull again")

    def _config_view(self, manifest: Manifest, verified: bytes) -> bool:
        """Whether the verified (OCI) config is ``manifest``'s config as OCI sees it. Schema 1
        has no config blob: its newest history entry (which the manifest digest covers)
        holds what runs; skopeo derives the rest (rootfs, history) from the manifest."""
        if manifest.config_digest is not None:
            return oci_view(verified) == oci_view(self.config(manifest))
        newest = json.loads(json.loads(manifest.text)["history"][0]["v1Compatibility"])
        return _run_view(newest) == _run_view(json.loads(verified))

    def copy(self, layout: Path, blob_dir: Path) -> None:
        """:meth:`start_copy`, waited for."""
        self.start_copy(layout, blob_dir).finish()

    def start_copy(self, layout: Path, blob_dir: Path) -> "Copy":
        """Start copying the (pinned) image into the OCI layout ``layout``, blobs in
        ``blob_dir``, and return at once (images/pull.py imports each layer as it lands).
        With a trust policy, :meth:`verify` gave the verdict on the image as named; this copy
        is pinned by digest, which a policy naming tags would wrongly refuse, so skopeo does
        not judge it again (``--insecure-policy``)."""
        show = self.options.progress
        unjudged = ["--insecure-policy"] if self.options.policy is not None else []
        args = ["skopeo", *unjudged, "copy", *([] if show else ["--quiet"]),
                *self.flags("src-"),
                "--dest-shared-blob-dir", str(blob_dir), "--dest-oci-accept-uncompressed-layers",
                self.pinned, f"oci:{layout}:image"]
        return Copy(self, proc.start(args, show_stdout=show), blob_dir)

    def copied(self, blob_dir: Path) -> None:
        """Checks once the copy has ended well (a family may add some)."""


class Copy:
    """A running ``skopeo copy`` (:meth:`SkopeoSource.start_copy`).

    skopeo (1.9.3, seen with strace) copies several blobs at once, each into a temporary file
    in the layout, fsync()s it and rename()s it to ``blob_dir/sha256/<hex>``: a blob at its
    final path is complete, so :meth:`blob` may hand it out while the others still arrive.
    Its content is still checked against its digest by whoever reads it (the store)."""

    def __init__(self, source: SkopeoSource, started: proc.Started, blob_dir: Path):
        self._source = source
        self._started = started
        self._blob_dir = blob_dir
        self._ended = False

    def blob(self, digest: str) -> Path | None:
        """The blob's path once it is complete, else None."""
        path = self._blob_dir / "sha256" / validate_digest(digest).split(":", 1)[1]
        return path if path.is_file() else None

    def running(self) -> bool:
        return not self._ended and self._started.running()

    def finish(self) -> None:
        """Wait for skopeo; its failure as one line (skopeo_errors), then the family's
        checks of what it copied."""
        if self._ended:
            return
        self._ended = True
        res = self._started.finish()
        if res.returncode != 0:
            raise skopeo_error(res.stderr, self._source.what, self._source.registry_name() or "")
        self._source.copied(self._blob_dir)

    def stop(self) -> None:
        """End the copy now (a failed import): skopeo is terminated and waited for."""
        if not self._ended:
            self._ended = True
            self._started.stop()


def _placeholder(blobs: Path, digest: str, size: int) -> None:
    path = blobs / "sha256" / validate_digest(digest).split(":", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)


def _read_blob(blobs: Path, digest: str) -> bytes:
    raw = (blobs / "sha256" / digest.split(":", 1)[1]).read_bytes()
    if sha256_digest(raw) != digest:
        raise ValueError(digest)
    return raw


# what an OCI image config keeps of a docker one (containers/image converts by decoding into
# the OCI type); times are left out: they do not change what runs, and re-encoding may
# change their text
_OCI_TOP = ("author", "architecture", "variant", "os", "os.version", "os.features", "rootfs")
_OCI_CONFIG = ("User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir",
               "Labels", "StopSignal")
_HISTORY = ("created_by", "author", "comment", "empty_layer")


def _kept(obj: dict, keys: tuple[str, ...]) -> dict:
    return {k: obj[k] for k in keys if obj.get(k) not in (None, "", [], {}, False)}


def _run_view(config: dict) -> dict:
    return {**_kept(config, ("architecture", "os")),
            "config": _kept(config.get("config") or {}, _OCI_CONFIG)}


def oci_view(raw: bytes) -> dict:
    """An image config as OCI sees it: what a conversion keeps (ValueError if malformed)."""
    config = json.loads(raw)
    if not isinstance(config, dict):
        raise ValueError("config is not an object")
    view = _kept(config, _OCI_TOP)
    view["config"] = _kept(config.get("config") or {}, _OCI_CONFIG)
    view["history"] = [_kept(h, _HISTORY) for h in config.get("history") or []]
    return view
