"""Template variables of an image (SPEC 2 "info"): what an operator may or must ``--set``.

Scans ``/exports/*.template`` of the image's merged tree (so whiteouts of later layers are
honoured), drops the variables the tool sets itself, and splits the rest into those with a
default (the image's ``defaultValues``, or a value the OS provides) and those ``--set`` must give.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..deploy.exports import parse_manifest
from ..deploy.template import template_variables
from ..deploy.values import FORCED_VARIABLES
from ..errors import ConfigError
from .model import Image

# Set by the tool whatever happens: not the operator's business.
TOOL_VARIABLES = frozenset(FORCED_VARIABLES) | {"RUNTIME", "ATOMIC"}
# Set by the OS unless --set gives them (listed under "has a default").
OS_VARIABLES = ("RUN_DIRECTORY", "STATE_DIRECTORY", "CONF_DIRECTORY", "UUID", "PIDFILE",
                "ALL_PROCESS_CAPABILITIES")
SET_BY_OS = "(set by the OS)"


@dataclass(frozen=True)
class ImageVariables:
    defaults: dict[str, str]             # variable -> default value (or SET_BY_OS)
    required: tuple[str, ...]            # must be given with --set
    templates: dict[str, tuple[str, ...]]   # exports file -> the variables it mentions


def image_variables(store, image: Image) -> ImageVariables:
    """The template variables of ``image`` (ConfigError for a template that is not UTF-8 or a
    malformed exports/manifest.json, naming the image)."""
    label = image.name or image.id[:12]
    templates: dict[str, tuple[str, ...]] = {}
    for entry in sorted(store.list_dir(image, "exports") or []):
        if not entry.endswith(".template"):
            continue
        data = store.read_file(image, f"exports/{entry}")
        if data is None:                 # a directory named *.template
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{label}: exports/{entry} is not UTF-8 text") from None
        templates[entry] = tuple(sorted(template_variables(text) - TOOL_VARIABLES))
    image_defaults = _image_defaults(store, image, label)
    used = sorted({v for names in templates.values() for v in names})
    defaults, required = {}, []
    for var in used:
        if var in image_defaults:
            defaults[var] = image_defaults[var]
        elif var in OS_VARIABLES:
            defaults[var] = SET_BY_OS
        else:
            required.append(var)
    return ImageVariables(defaults, tuple(required), templates)


def _image_defaults(store, image: Image, label: str) -> dict[str, str]:
    data = store.read_file(image, "exports/manifest.json")
    if data is None:
        return {}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{label}: exports/manifest.json is not UTF-8 text") from None
    return dict(parse_manifest(text, label).default_values)
