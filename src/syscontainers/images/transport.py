"""skopeo as the one way images come in: read manifests, copy blobs into an OCI layout (SPEC 2).

Contracts:
- :meth:`Source.manifest` returns the source's manifest as the exact bytes the source serves
  (``skopeo inspect --raw``), so the image ID is the registry's manifest digest. A manifest list
  / OCI index is resolved to the host platform's instance; for ``docker://`` every later call
  names that instance by digest (``repo@sha256:...``), so a tag moving during a pull cannot mix
  two versions.
- :meth:`Source.copy` writes the image into an OCI layout whose blobs live in a shared blob dir.
  skopeo converts docker manifests to OCI there (and rewrites the config blob doing so), so the
  caller must take the manifest from :meth:`Source.manifest` and the config from
  :meth:`Source.config`, and only the *layer* blobs from the layout (their digests are kept:
  ``--dest-oci-accept-uncompressed-layers`` stops skopeo from compressing plain-tar layers).
- Every skopeo failure becomes one line (:func:`skopeo_error`); digests are validated before
  they name any path.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path

from .. import proc, safejson
from ..errors import BadImage, SysContainersError, TransportError
from .model import Layer
from .reference import ImageRef, validate_digest

MANIFEST_LIST_TYPES = (
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
)
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
         "armv7l": "arm", "armv6l": "arm", "ppc64le": "ppc64le", "s390x": "s390x",
         "i686": "386", "i386": "386", "riscv64": "riscv64"}


def host_platform() -> tuple[str, str]:
    """(os, architecture) in OCI terms for this machine."""
    machine = platform.machine().lower()
    return "linux", _ARCH.get(machine, machine)


@dataclass(frozen=True)
class SourceOptions:
    """How to reach a source. ``creds`` is (user, password); ``daemon_host`` a docker socket URL."""

    tls_verify: bool = True
    creds: tuple[str, str] | None = None
    daemon_host: str | None = None
    progress: bool = False          # let skopeo draw its progress on our stdout


@dataclass(frozen=True)
class Manifest:
    raw: bytes                      # exactly as served; docker.manifest is raw.decode()
    digest: str                     # sha256 of raw: the image ID
    media_type: str
    config_digest: str | None       # None for schema 1
    layers: tuple[Layer, ...]       # application order, lowest first

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8")


@dataclass(frozen=True)
class Instance:
    """The host platform's entry of a manifest list that is not fetched yet."""

    digest: str


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def manifest_digest(raw: bytes) -> str:
    """The digest a registry names a manifest by: its sha256, except for a signed (JWS)
    docker schema 1 manifest, whose digest covers the payload without the signatures —
    ``raw[:formatLength] + formatTail`` of the first signature's protected header."""
    try:
        parsed = json.loads(raw)
        protected = parsed["signatures"][0]["protected"]
        header = json.loads(_b64url(protected))
        payload = raw[:int(header["formatLength"])] + _b64url(header["formatTail"])
    except (ValueError, KeyError, IndexError, TypeError, RecursionError):
        return sha256_digest(raw)
    return sha256_digest(payload)


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_manifest(raw: bytes, what: str) -> dict:
    """Parse manifest JSON (a list or an image manifest); malformed input is BadImage."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadImage(f"malformed manifest for {what}: {e}") from None
    parsed = safejson.loads(text, what, BadImage, message="malformed manifest for {what}: {why}")
    if not isinstance(parsed, dict) or parsed.get("schemaVersion") not in (1, 2):
        raise BadImage(f"malformed manifest for {what}: not an image manifest")
    return parsed


def is_manifest_list(parsed: dict) -> bool:
    return parsed.get("mediaType") in MANIFEST_LIST_TYPES or (
        "manifests" in parsed and "layers" not in parsed and "fsLayers" not in parsed)


def image_manifest(raw: bytes, what: str) -> Manifest:
    """A single-image manifest (schema 2 docker/OCI, or schema 1) as a :class:`Manifest`."""
    parsed = parse_manifest(raw, what)
    try:
        if parsed["schemaVersion"] == 1:
            # schema 1 lists layers top first; sizes are unknown until the blobs are here.
            layers = tuple(Layer(validate_digest(fs["blobSum"]), 0)
                           for fs in reversed(parsed["fsLayers"]))
            return Manifest(raw, manifest_digest(raw), parsed.get("mediaType", "schema1"), None, layers)
        config = validate_digest(parsed["config"]["digest"])
        layers = tuple(Layer(validate_digest(d["digest"]), _size(d["size"]))
                       for d in parsed["layers"])
    except (KeyError, TypeError) as e:
        raise BadImage(f"malformed manifest for {what}: missing field {e}") from None
    except SysContainersError as e:
        raise BadImage(f"malformed manifest for {what}: {e}") from None
    media = parsed.get("mediaType") or "application/vnd.oci.image.manifest.v1+json"
    return Manifest(raw, sha256_digest(raw), media, config, layers)


def _size(value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadImage(f"invalid blob size {value!r}")
    return value


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


class Source:
    """One image source, read through skopeo. ``workdir`` holds the temporary auth file."""

    def __init__(self, ref: ImageRef, options: SourceOptions, workdir: Path):
        self.ref = ref
        self.options = options
        self.workdir = workdir
        self.pinned = ref.skopeo_source()    # replaced by repo@digest once resolved
        self._auth_file = self._write_auth_file() if options.creds else None

    @property
    def what(self) -> str:
        return self.ref.original or self.ref.skopeo_source()

    def _write_auth_file(self) -> Path | None:
        """Credentials go to a 0600 file, not onto skopeo's command line (visible in ps)."""
        if self.ref.transport != "docker":
            return None
        user, password = self.options.creds
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        path = self.workdir / "auth.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"auths": {self.ref.docker.registry: {"auth": token}}}, f)
        return path

    def _flags(self, side: str) -> list[str]:
        """skopeo options for this source; ``side`` is "" (inspect) or "src-" (copy)."""
        flags = []
        if self.ref.transport == "docker" and (self.ref.insecure or not self.options.tls_verify):
            flags.append(f"--{side}tls-verify=false")
        if self._auth_file:
            flags += [f"--{side}authfile", str(self._auth_file)]
        if self.ref.transport == "docker-daemon" and self.options.daemon_host:
            flags += [f"--{side}daemon-host", self.options.daemon_host]
        return flags

    def _skopeo(self, args: list[str], *, binary: bool = False, show: bool = False):
        res = proc.run(["skopeo", *args], check=False, binary=binary, show_stdout=show)
        if res.returncode != 0:
            raise skopeo_error(res.stderr, self.what, str(self.ref.docker or ""))
        return res.stdout

    def _inspect(self, source: str, config: bool = False) -> bytes:
        args = ["inspect", "--raw", *(["--config"] if config else []), *self._flags(""), source]
        return self._skopeo(args, binary=True)

    def manifest(self) -> "Manifest | Instance":
        """The image's raw manifest, resolved to the host platform (see module docstring).

        For a list read from a file transport (which cannot name an instance) this returns the
        chosen :class:`Instance`; its manifest is read after the copy (:meth:`instance_manifest`).
        """
        wanted = self.ref.docker.digest if self.ref.transport == "docker" else None
        if wanted:
            # containers/image refuses tag+digest: the digest alone names the content.
            self.pinned = f"docker://{self.ref.docker.repository}@{wanted}"
        raw = self._inspect(self.pinned)
        if wanted and manifest_digest(raw) != wanted:
            raise BadImage(f"manifest of {self.what} does not match its digest {wanted}")
        parsed = parse_manifest(raw, self.what)
        if is_manifest_list(parsed):
            digest = pick_platform(parsed, self.what)
            if self.ref.transport != "docker":
                return Instance(digest)
            self.pinned = f"docker://{self.ref.docker.repository}@{digest}"
            raw = self._inspect(self.pinned)
            if manifest_digest(raw) != digest:
                raise BadImage(f"manifest of {self.what} does not match its digest {digest}")
        manifest = image_manifest(raw, self.what)
        if self.ref.transport == "docker":
            self.pinned = f"docker://{self.ref.docker.repository}@{manifest.digest}"
        return manifest

    def instance_manifest(self, instance: "Instance", blob_dir: Path) -> Manifest:
        """After :meth:`copy`: the instance manifest skopeo chose, checked against ``instance``.

        An OCI instance is copied into the OCI layout unchanged, so its blob is the raw bytes.
        """
        path = blob_dir / "sha256" / validate_digest(instance.digest).split(":", 1)[1]
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise BadImage(f"{self.what}: the {host_platform()[1]} image of the list was not copied") from None
        if sha256_digest(raw) != instance.digest:
            raise BadImage(f"manifest of {self.what} does not match its digest {instance.digest}")
        return image_manifest(raw, self.what)

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
        raw = self._inspect(self.pinned, config=True)
        if manifest.config_digest is None:
            return raw
        if sha256_digest(raw) != manifest.config_digest:
            raise BadImage(f"config of {self.what} does not match its digest {manifest.config_digest}")
        return raw

    def copy(self, layout: Path, blob_dir: Path) -> None:
        """Copy the (pinned) image into the OCI layout ``layout``, blobs in ``blob_dir``."""
        show = self.options.progress
        args = ["copy", *([] if show else ["--quiet"]), *self._flags("src-"),
                "--dest-shared-blob-dir", str(blob_dir), "--dest-oci-accept-uncompressed-layers",
                self.pinned, f"oci:{layout}:image"]
        self._skopeo(args, show=show)


# --- errors --------------------------------------------------------------------------------

_MSG_RE = re.compile(r'level=(?:fatal|error) msg="((?:[^"\\]|\\.)*)"')
_PREFIXES = (r'Error parsing image name "[^"]*": ', r"Error initializing source [^:]*: ",
             r"initializing source [^:]*: ", r"Error reading manifest [^ ]* in [^:]*: ",
             r"reading manifest [^ ]* in [^:]*: ", r"trying to reuse blob [^:]*: ")


def _clean(stderr: str) -> str:
    found = _MSG_RE.findall(stderr)
    if found:
        msg = found[-1].encode().decode("unicode_escape", "replace")
    else:
        lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
        msg = lines[-1] if lines else "skopeo failed"
    for prefix in _PREFIXES:
        msg = re.sub(rf"^{prefix}", "", msg)
    return msg


def skopeo_error(stderr: str, what: str, docker_name: str = "") -> SysContainersError:
    """One line for the operator from skopeo's stderr (``what``: the reference as given)."""
    msg = _clean(stderr)
    m = re.search(r"dial tcp: lookup (\S+?)(?: on \S+)?: (no such host|[^:]+)$", msg) or \
        re.search(r"dial tcp (\S+?): (?:connect: )?(connection refused|i/o timeout|"
                  r"network is unreachable|no route to host)", msg)
    if m:
        return TransportError(f"cannot reach registry {m.group(1)}: {m.group(2)}")
    if "server gave HTTP response to HTTPS client" in msg:
        return TransportError(f"registry {_host_in(msg) or ''} speaks plain HTTP: pull "
                              f"http:{docker_name or what} or use --tls-verify=false")
    if re.search(r"unauthorized|authentication required|denied|401", msg):
        return TransportError(f"access to {what} denied by the registry: check the credentials "
                              f"(--src-creds, or the containers auth file)")
    if re.search(r"manifest unknown|name unknown|not found: manifest|404", msg):
        return TransportError(f"image {what} not found in the registry")
    if "Cannot connect to the Docker daemon" in msg:
        return TransportError(f"cannot reach the docker daemon for {what} (set DOCKER_HOST): {msg}")
    if "no descriptor found for reference" in msg:
        return TransportError(f"{what}: no image with that name in the OCI layout")
    if re.search(r"x509:|certificate", msg):
        return TransportError(f"TLS error for {what}: {msg} (use --tls-verify=false for a test registry)")
    m = re.search(r"[Dd]igest did not match, expected (\S+), got (\S+)", msg)
    if m:
        return BadImage(f"corrupted blob in {what}: content of {m.group(1)} has digest {m.group(2)}")
    if "no such file or directory" in msg:
        path = re.search(r"(?:open|l?stat) ([^:]+): no such file", msg)
        return TransportError(f"{path.group(1) if path else what}: no such file or directory")
    if re.search(r"invalid tar header|unexpected EOF|invalid character|unmarshal", msg):
        return BadImage(f"malformed image {what}: {msg}")
    return TransportError(f"cannot fetch {what}: {msg}")


def _host_in(msg: str) -> str | None:
    m = re.search(r"registry ([^\s:]+(?::\d+)?)", msg)
    return m.group(1) if m else None
