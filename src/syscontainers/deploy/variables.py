"""Template variables of an image (``images info``, docs/templates.md): what an operator may
or must ``--set``.

Scans ``/exports/*.template`` of the image's merged tree (so whiteouts of later layers are
honoured), the host files manifest.json names in ``installedFilesTemplate`` and the new paths
of its ``renameFiles`` (both rendered at install too), drops the variables the tool sets
itself, and splits the rest into those with a default (the image's ``defaultValues``, or a
value the OS provides) and those ``--set`` must give. It reads the image through
``Store.read_file``/``list_dir``, which never write (docs/architecture.md, "Store seam"), and
lives in deploy/ because it uses deploy's exports, template and values modules.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError, UsageError
from ..images.model import Image
from .exports import ExportsManifest, parse_manifest
from .template import template_variables
from .values import FORCED_VARIABLES
from .values import OS_VARIABLES as ALL_OS_VARIABLES

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

    @property
    def set_by_os(self) -> tuple[str, ...]:
        """The variables the OS sets unless --set gives them (their default is SET_BY_OS)."""
        return tuple(k for k, v in self.defaults.items() if v == SET_BY_OS)


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
    manifest = _image_manifest(store, image, label)
    templates.update(_manifest_templates(store, image, manifest, label))
    image_defaults = dict(manifest.default_values)
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


def _text(data: bytes, label: str, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{label}: {what} is not UTF-8 text") from None


def _image_manifest(store, image: Image, label: str) -> ExportsManifest:
    data = store.read_file(image, "exports/manifest.json")
    if data is None:
        return ExportsManifest()
    return parse_manifest(_text(data, label, "exports/manifest.json"), label)


def _manifest_templates(store, image: Image, manifest: ExportsManifest,
                        label: str) -> dict[str, tuple[str, ...]]:
    """Variables of the host files rendered as templates and of renameFiles' new paths."""
    found: dict[str, tuple[str, ...]] = {}
    for host_path in manifest.installed_files_template:
        where = "exports/hostfs/" + host_path.lstrip("/")
        data = store.read_file(image, where)
        if data is not None:
            found[where] = tuple(sorted(template_variables(_text(data, label, where))
                                        - TOOL_VARIABLES))
    renamed = set()
    for new_path in manifest.rename_files.values():
        renamed |= template_variables(new_path)
    if renamed - TOOL_VARIABLES:
        found["manifest.json renameFiles"] = tuple(sorted(renamed - TOOL_VARIABLES))
    check = manifest.health_check
    checked = set()
    for text in (*check.command, check.target) if check else ():
        checked |= template_variables(text)
    if checked - TOOL_VARIABLES:
        found["manifest.json healthCheck"] = tuple(sorted(checked - TOOL_VARIABLES))
    return found


def check_set_names(variables: ImageVariables, set_values, label: str) -> None:
    """``--set NAME=VALUE`` for a NAME no template of the image uses (and that is not one
    the OS sets) is a typo until proven otherwise: UsageError listing the image's variables
    (docs/operations.md, "Checks on what the operator asks"). ``--force`` skips this."""
    known = set(variables.defaults) | set(variables.required) | set(ALL_OS_VARIABLES)
    unknown = sorted(set(set_values) - known)
    if not unknown:
        return
    mine = sorted(set(variables.defaults) | set(variables.required))
    listing = ("its variables: " + ", ".join(mine)) if mine else "it uses no variables"
    raise UsageError(f"--set {', '.join(unknown)}: no template of image {label} uses "
                     f"{'it' if len(unknown) == 1 else 'them'} ({listing}); "
                     "use --force to set it anyway")
