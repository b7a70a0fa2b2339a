"""Reading what a stored image says about itself: manifest layers, config, created time.

Pure JSON helpers (no libostree), shared by store.py and tests. Manifests come in three shapes:
OCI / Docker schema 2 (``layers[].digest``, ``config.digest``) and Docker schema 1
(``fsLayers[].blobSum``, lowest layer *last*; the config is the first ``history`` entry's
``v1Compatibility`` JSON).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

from .. import safejson
from ..errors import BadImage, ReferenceError_
from .reference import validate_digest


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
        if manifest.get("fsLayers"):
            items = [(layer["blobSum"], 0) for layer in reversed(manifest["fsLayers"])]
        else:
            items = [(layer["digest"], int(layer.get("size") or 0))
                     for layer in manifest.get("layers") or []]
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
