"""What an image ships in ``/exports`` (docs/templates.md), read from a checked-out rootfs.

:func:`read_exports` returns an :class:`Exports` record: the template texts (None when the image
does not ship that file), the parsed ``manifest.json`` and the ``hostfs/`` directory. Nothing
is rendered here (render.py does that) and nothing is written.

The rootfs is image content, hence hostile: every exports file must be a regular file reached
without following a symlink (an ``exports/config.json -> /etc/shadow`` link would otherwise
read a host file), must be UTF-8 and at most :data:`MAX_FILE_SIZE` bytes.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .. import safejson
from ..errors import ConfigError
from ..service.health import HealthCheck, parse_manifest_check

EXPORTS_DIR = "exports"
MAX_FILE_SIZE = 4 * 1024 * 1024  # templates are small; refuse to slurp a hostile giant file


@dataclass(frozen=True)
class ExportsManifest:
    """``exports/manifest.json``; the defaults below apply when the file or a key is absent."""

    default_values: dict[str, str] = field(default_factory=dict)
    no_container_service: bool = False
    rename_files: dict[str, str] = field(default_factory=dict)   # host path -> templated path
    installed_files_template: tuple[str, ...] = ()              # host paths rendered as templates
    use_links: bool = True
    health_check: HealthCheck | None = None   # healthCheck, before template substitution


@dataclass(frozen=True)
class Exports:
    config_json: str | None = None        # exports/config.json, used as is
    config_template: str | None = None    # exports/config.json.template
    service_template: str | None = None   # exports/service.template
    tmpfiles_template: str | None = None  # exports/tmpfiles.template
    manifest: ExportsManifest = field(default_factory=ExportsManifest)
    hostfs: Path | None = None            # exports/hostfs when it is a real directory
    present: bool = False                 # whether /exports exists at all
    has_rpm_spec: bool = False            # rpm.spec or rpm.spec.template (--system-package auto)


def read_exports(rootfs: Path, image_name: str) -> Exports:
    """Read ``rootfs/exports``. ConfigError (naming the image) for a bad manifest or file."""
    rootfs = Path(rootfs)
    try:
        root_fd = os.open(rootfs, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as e:
        raise ConfigError(f"cannot read the rootfs of {image_name} at {rootfs}: {e.strerror}") from None
    try:
        try:
            dfd = os.open(EXPORTS_DIR, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=root_fd)
        except FileNotFoundError:
            return Exports()
        except OSError:
            raise ConfigError(f"/exports of image {image_name} is not a directory") from None
        try:
            return _read_from(dfd, rootfs / EXPORTS_DIR, image_name)
        finally:
            os.close(dfd)
    finally:
        os.close(root_fd)


def _read_from(dfd: int, exports: Path, image_name: str) -> Exports:
    def text(name: str) -> str | None:
        return _read_text(dfd, name, image_name)

    manifest_text = text("manifest.json")
    hostfs = exports / "hostfs"
    is_hostfs = _is_real_dir(dfd, "hostfs")
    names = set(os.listdir(dfd))
    return Exports(
        config_json=text("config.json"),
        config_template=text("config.json.template"),
        service_template=text("service.template"),
        tmpfiles_template=text("tmpfiles.template"),
        manifest=parse_manifest(manifest_text, image_name) if manifest_text is not None
        else ExportsManifest(),
        hostfs=hostfs if is_hostfs else None,
        present=True,
        has_rpm_spec=bool(names & {"rpm.spec", "rpm.spec.template"}),
    )


def _is_real_dir(dfd: int, name: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return False


def _read_text(dfd: int, name: str, image_name: str) -> str | None:
    """A regular file's text, None when absent; ConfigError when it is anything else."""
    where = f"/exports/{name} of image {image_name}"
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dfd)
    except FileNotFoundError:
        return None
    except OSError as e:
        # ELOOP: a symlink; anything else: unreadable. Either way the image is wrong.
        raise ConfigError(f"{where} must be a regular file ({e.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{where} must be a regular file")
        if st.st_size > MAX_FILE_SIZE:
            raise ConfigError(f"{where} is too large ({st.st_size} bytes)")
        data = f.read(MAX_FILE_SIZE + 1)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{where} is not UTF-8 text") from None


def parse_manifest(text: str, image_name: str) -> ExportsManifest:
    """Parse and type-check manifest.json; ConfigError naming the image when it is invalid."""
    data = safejson.loads(text, image_name,
                          message="Invalid manifest.json file in image {what}: {why}")
    if not isinstance(data, dict):
        raise ConfigError(f"Invalid manifest.json file in image {image_name}: not a JSON object")

    def bad(key: str, expected: str) -> ConfigError:
        return ConfigError(f"Invalid manifest.json file in image {image_name}: "
                           f"{key} must be {expected}")

    defaults = data.get("defaultValues", {})
    if not isinstance(defaults, dict) or not all(_scalar(v) for v in defaults.values()):
        raise bad("defaultValues", "an object of strings, numbers or booleans")
    rename = data.get("renameFiles", {})
    if not isinstance(rename, dict) or not all(isinstance(v, str) for v in rename.values()):
        raise bad("renameFiles", "an object of strings")
    templates = data.get("installedFilesTemplate", [])
    if not isinstance(templates, list) or not all(isinstance(v, str) for v in templates):
        raise bad("installedFilesTemplate", "a list of strings")
    no_service = data.get("noContainerService", False)
    use_links = data.get("useLinks", True)
    if not isinstance(no_service, bool):
        raise bad("noContainerService", "true or false")
    if not isinstance(use_links, bool):
        raise bad("useLinks", "true or false")
    check = data.get("healthCheck")
    health = parse_manifest_check(check, bad) if check is not None else None
    return ExportsManifest(
        default_values={str(k): _as_str(v) for k, v in defaults.items()},
        no_container_service=no_service,
        rename_files=dict(rename),
        installed_files_template=tuple(templates),
        use_links=use_links,
        health_check=health,
    )


def _scalar(v: object) -> bool:
    # Numbers and booleans are accepted, as their JSON text (true, 8080); objects, lists and
    # null are not: a template can only insert text.
    return isinstance(v, (str, int, float, bool))


def _as_str(v: object) -> str:
    return v if isinstance(v, str) else json.dumps(v)
