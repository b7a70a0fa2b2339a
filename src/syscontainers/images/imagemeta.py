"""The one manifest parser: what an image manifest says, for the transport and the store.

Manifests come in three shapes: OCI / Docker schema 2 (``layers[].digest``, ``config.digest``)
and Docker schema 1 (``fsLayers[].blobSum``, lowest layer *last*; the config is the first
``history`` entry's ``v1Compatibility`` JSON). Only this module knows those shapes, so a pull
(:func:`image_manifest`, strict: what comes in must be well formed) and the store reading what
it holds (:func:`layer_digests`, :func:`config_digest`, lenient about sizes: atomic-written
commits may lack them) cannot disagree on layer order or digests. Pure JSON, no libostree.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from .. import safejson
from ..errors import BadImage, ReferenceError_, SysContainersError
from .model import Layer
from .reference import validate_digest

MANIFEST_LIST_TYPES = (
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
)


@dataclass(frozen=True)
class Manifest:
    """A single-image manifest (never a list: sources resolve lists to one instance)."""

    raw: bytes                      # exactly as served; docker.manifest is raw.decode()
    digest: str                     # the registry's digest of raw: the image ID
    media_type: str
    config_digest: str | None       # None for schema 1
    layers: tuple[Layer, ...]       # application order, lowest first

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8")

    def content(self) -> tuple:
        """What "the same image" means (lifecycle/images.content): config and layer digests;
        schema 1 has no config digest, so its manifest digest stands for it."""
        return (self.config_digest or self.digest, tuple(layer.digest for layer in self.layers))


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


def _raw_layers(manifest: dict) -> list[tuple]:
    """(digest, size) as written, in application order (schema 1 lists the top layer first
    and has no sizes)."""
    if manifest.get("fsLayers"):
        return [(layer["blobSum"], None) for layer in reversed(manifest["fsLayers"])]
    return [(layer["digest"], layer.get("size")) for layer in manifest.get("layers") or []]


# --- incoming manifests (strict) -----------------------------------------------------------

def parse_source_manifest(raw: bytes, what: str) -> dict:
    """Parse manifest JSON as a source serves it (a list or an image manifest)."""
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
    parsed = parse_source_manifest(raw, what)
    schema1 = parsed["schemaVersion"] == 1
    try:
        if schema1 and not isinstance(parsed["fsLayers"], list):
            raise TypeError("fsLayers")
        config = None if schema1 else validate_digest(parsed["config"]["digest"])
        # schema 1 sizes are unknown until the blobs are here (0 = unknown)
        layers = tuple(Layer(validate_digest(d), 0 if schema1 else _size(s))
                       for d, s in _raw_layers(parsed))
    except (KeyError, TypeError) as e:
        raise BadImage(f"malformed manifest for {what}: missing field {e}") from None
    except SysContainersError as e:
        raise BadImage(f"malformed manifest for {what}: {e}") from None
    if schema1:
        return Manifest(raw, manifest_digest(raw), parsed.get("mediaType", "schema1"), None, layers)
    media = parsed.get("mediaType") or "application/vnd.oci.image.manifest.v1+json"
    return Manifest(raw, sha256_digest(raw), media, config, layers)


def _size(value) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadImage(f"invalid blob size {value!r}")
    return value


# --- stored manifests (lenient about what does not name a path) ----------------------------

def parse_manifest(raw: str, label: str) -> dict:
    if not isinstance(raw, (str, bytes)):
        raise BadImage(f"image {label}: the manifest is not valid JSON")
    manifest = safejson.loads(raw, label, BadImage,
                              message="image {what}: the manifest is not valid JSON ({why})")
    if not isinstance(manifest, dict):
        raise BadImage(f"image {label}: the manifest is not a JSON object")
    return manifest


def layer_digests(manifest: dict, label: str) -> list[tuple[str, int]]:
    """[(digest, size or 0)] in application order (lowest first); digests validated."""
    try:
        items = [(digest, int(size or 0)) for digest, size in _raw_layers(manifest)]
        for digest, _size in items:
            validate_digest(digest)
    except (KeyError, TypeError, ValueError, AttributeError, ReferenceError_) as e:
        raise BadImage(f"image {label}: the manifest lists a malformed layer ({e})") from None
    return items


def config_digest(manifest: dict) -> str | None:
    """The config blob's digest (schema 2 / OCI), validated; None when there is none."""
    config = manifest.get("config")
    digest = config.get("digest") if isinstance(config, dict) else None
    if digest is None:
        return None
    try:
        return validate_digest(digest)
    except ReferenceError_:
        return None


def schema1_config(manifest: dict) -> dict:
    """Schema 1 has no config blob: its newest v1Compatibility entry plays that part."""
    try:
        config = json.loads(manifest["history"][0]["v1Compatibility"])
    except (KeyError, IndexError, TypeError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


_FRACTION = re.compile(r"(\.\d{1,6})\d*")


def parse_created(value) -> int | None:
    """RFC 3339 time (as in image configs, nanoseconds allowed) -> epoch seconds; else None."""
    if not isinstance(value, str) or not value:
        return None
    text = _FRACTION.sub(r"\1", value.strip()).replace("Z", "+00:00").replace("z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


def parse_config(raw: bytes | str | None) -> dict:
    if raw is None:
        return {}
    try:
        config = json.loads(raw)
    except (ValueError, TypeError, RecursionError):
        return {}
    return config if isinstance(config, dict) else {}
