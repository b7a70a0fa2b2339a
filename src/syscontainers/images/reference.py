"""Image references: parsing, normalization, OSTree ref name encoding.

A reference is ``[transport:]name``. Every transport is turned into an :class:`ImageRef` here
and nowhere else. ``ImageRef.transport`` is data: only ``images.transport.open_source`` looks
at it, to pick the source family; the rest of the code asks that source what it needs (its
skopeo name, stored name, registry name) instead of branching on transport strings.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ..errors import ReferenceError_

DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
LAYER_PREFIX = "ociimage/"
DEFAULT_TAG = "latest"
DOCKER_HUB = "docker.io"

# Docker reference grammar (distribution/reference), simplified but strict.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?|\[[0-9a-fA-F:]+\](?::[0-9]+)?)"
_TAG = r"[\w][\w.-]{0,127}"
_NAME_RE = re.compile(
    rf"^(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>sha256:[a-f0-9]{{64}}))?$"
)

FILE_TRANSPORTS = ("oci", "oci-archive", "docker-archive")
# containers/storage, where podman and buildah keep images: [driver@root+runroot:opts]NAME
CONTAINERS_STORAGE = "containers-storage"
TRANSPORTS = ("docker", "docker-daemon", CONTAINERS_STORAGE) + FILE_TRANSPORTS
# atomic's spellings of the same transports
_ALIASES = {"dockertar": "docker-archive", "docker": "docker-daemon"}


def validate_digest(digest: str) -> str:
    """Return ``digest`` if it is ``sha256:<64 hex>``; anything else names nothing."""
    if not isinstance(digest, str) or not DIGEST_RE.match(digest):
        raise ReferenceError_(f"invalid digest {digest!r} (expected sha256:<64 hex digits>)")
    return digest


@dataclass(frozen=True)
class DockerName:
    """``registry/repo/image[:tag][@digest]`` with the registry always present."""

    registry: str
    path: str              # repo/image (library/ added for Docker Hub single names)
    tag: str | None
    digest: str | None

    @property
    def repository(self) -> str:
        return f"{self.registry}/{self.path}"

    def __str__(self) -> str:
        s = self.repository
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s


def parse_docker_name(text: str, default_registry: str = DOCKER_HUB) -> tuple[DockerName, bool]:
    """Parse a registry name; returns (name, had_registry). Tag defaults to latest unless a
    digest is given alone."""
    m = _NAME_RE.match(text)
    if not m:
        raise ReferenceError_(f"invalid image name {text!r}")
    domain, path, tag, digest = m.group("domain", "path", "tag", "digest")
    had_registry = True
    # A first component is a registry only if it looks like a host (docker's rule).
    if domain is not None and not ("." in domain or ":" in domain or domain == "localhost"
                                   or domain.startswith("[")):
        path = f"{domain}/{path}"
        domain = None
    if domain is None:
        had_registry = False
        domain = default_registry
    if domain.lower() == "docker.io" and "/" not in path:
        path = f"library/{path}"
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return DockerName(domain, path, tag, digest), had_registry


@dataclass(frozen=True)
class ImageRef:
    """A parsed reference. ``transport`` is one of :data:`TRANSPORTS`."""

    transport: str
    docker: DockerName | None = None   # docker / docker-daemon
    path: str | None = None            # oci / oci-archive / docker-archive
    ref: str | None = None             # oci:DIR:REF, oci-archive:FILE:REF
    insecure: bool = False             # http: prefix
    short_name: bool = False           # no registry given: default registries were used
    original: str = ""

    def store_name(self) -> str:
        """The name the image is stored under (before archive-derived names replace it)."""
        if self.docker is not None:
            return str(self.docker)
        # docs/architecture.md, "Transport seam": REF verbatim when it reads as name:tag, else <file basename>:<REF or latest>.
        ref = self.ref or ""
        if ref and _NAME_RE.match(ref) and ":" in ref.split("/")[-1]:
            return ref
        base = os.path.basename(os.path.normpath(self.path or ""))
        base = re.sub(r"\.(tar\.gz|tgz|tar|oci|ociarchive)$", "", base)
        base = re.sub(r"[^a-z0-9._-]", "", base.lower()) or "image"
        return f"{base}:{ref or DEFAULT_TAG}"


def parse_reference(text: str, default_registry: str = DOCKER_HUB) -> ImageRef:
    """Parse ``[transport:]name``, accepting atomic's spellings too."""
    if not text or text.strip() != text:
        raise ReferenceError_(f"invalid image reference {text!r}")
    original = text
    insecure = False
    if text.startswith("http:"):
        insecure, text = True, text[len("http:"):]
    if text.startswith("docker://"):
        return _docker_ref("docker", text[len("docker://"):], insecure, original, default_registry)
    if text.startswith("https://"):
        return _docker_ref("docker", text[len("https://"):], insecure, original, default_registry)
    if text.startswith("//"):
        return _docker_ref("docker", text[2:], True, original, default_registry)
    transport, sep, rest = text.partition(":")
    transport = _ALIASES.get(transport, transport) if sep else transport
    if sep and transport in FILE_TRANSPORTS:
        return _file_ref(transport, rest, original)
    if sep and transport == CONTAINERS_STORAGE:
        return _storage_ref(rest, original)
    if sep and transport == "docker-daemon":
        return _docker_ref("docker-daemon", rest, False, original, default_registry)
    if sep and re.fullmatch(r"[a-z][a-z0-9+-]*", transport) and "/" not in transport \
            and not re.fullmatch(r"[0-9]+(/.*)?", rest) and not _NAME_RE.match(text):
        raise ReferenceError_(
            f"unknown transport {transport!r} in {original!r} "
            f"(known: docker://, oci:, oci-archive:, docker-archive:, docker-daemon:, "
            f"containers-storage:)")
    return _docker_ref("docker", text, insecure, original, default_registry)


def _docker_ref(transport, name, insecure, original, default_registry) -> ImageRef:
    if not name:
        raise ReferenceError_(f"missing image name in {original!r}")
    docker, had_registry = parse_docker_name(name, default_registry)
    return ImageRef(transport, docker=docker, insecure=insecure,
                    short_name=not had_registry, original=original)


def _storage_ref(rest: str, original: str) -> ImageRef:
    """``containers-storage:[STORE]NAME``: STORE (``driver@graphroot+runroot:options``, as
    skopeo takes it) goes to ``path``; NAME is a registry-style name, qualified the way
    podman stores it (``localhost/x`` stays, ``x`` is docker.io's), with ``:latest`` added."""
    store = None
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            raise ReferenceError_(f"unclosed [store] in {original!r}")
        store, rest = rest[:end + 1], rest[end + 1:]
    if not rest:
        raise ReferenceError_(f"missing image name in {original!r}")
    docker, _had_registry = parse_docker_name(rest)
    return ImageRef(CONTAINERS_STORAGE, docker=docker, path=store, original=original)


def _file_ref(transport: str, rest: str, original: str) -> ImageRef:
    if not rest:
        raise ReferenceError_(f"missing path in {original!r}")
    path, ref = rest, None
    # oci:DIR:REF / oci-archive:FILE:REF; docker-archive's suffix is not used here.
    if transport in ("oci", "oci-archive") and ":" in rest:
        path, _, ref = rest.partition(":")
        ref = ref or None
    return ImageRef(transport, path=path, ref=ref, original=original)


# --- OSTree ref names ---------------------------------------------------------------------

def encode_name(name: str) -> str:
    """Encode an image name for an OSTree ref: every char that is not alphanumeric, ``.`` or
    ``-`` becomes ``_`` + two upper-case hex digits (atomic's encoding)."""
    out = []
    for ch in name:
        if (ch.isascii() and ch.isalnum()) or ch in ".-":
            out.append(ch)
        else:
            for byte in ch.encode("utf-8"):
                out.append(f"_{byte:02X}")
    return "".join(out)


_ENC_RE = re.compile(r"_([0-9A-F]{2})")


def decode_name(encoded: str) -> str:
    """Reverse :func:`encode_name`; raises ReferenceError_ for an invalid encoding."""
    if not re.fullmatch(r"(?:[A-Za-z0-9.-]|_[0-9A-F]{2})*", encoded):
        raise ReferenceError_(f"invalid encoded image name {encoded!r}")
    raw = bytearray()
    i = 0
    while i < len(encoded):
        if encoded[i] == "_":
            raw.append(int(encoded[i + 1:i + 3], 16))
            i += 3
        else:
            raw.append(ord(encoded[i]))
            i += 1
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ReferenceError_(f"invalid encoded image name {encoded!r}") from None


def image_ref_name(name: str) -> str:
    """The OSTree ref holding image ``name`` (``ociimage/<encoded>``)."""
    return LAYER_PREFIX + encode_name(name)


def layer_ref_name(digest: str) -> str:
    """The OSTree ref holding a layer (``ociimage/<digest hex>``)."""
    return LAYER_PREFIX + validate_digest(digest).split(":", 1)[1]


def is_layer_ref(ref: str) -> bool:
    return bool(re.fullmatch(r"ociimage/[a-f0-9]{64}", ref))


def default_container_name(image_name: str) -> str:
    """Last path element of the image, plus ``-TAG`` when the tag is not latest."""
    name = image_name
    for prefix in ("docker://", "http:", "https://"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    name = name.split("@", 1)[0]
    last = name.rstrip("/").split("/")[-1]
    base, _, tag = last.partition(":")
    if tag and tag != DEFAULT_TAG:
        return f"{base}-{tag}"
    return base
