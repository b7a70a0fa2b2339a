"""Deployments: ``CHECKOUTS/NAME.0`` / ``NAME.1``, the ``NAME`` link, and the ``info`` file.

The deployment dir is the source of truth for a container (DESIGN): everything list, update
and rollback need is in ``NAME.N/info`` and the copies of the rendered unit/tmpfiles kept there.
Switching is one rename(2) of a fresh symlink over ``NAME``: there is never a moment without a
valid link. Directories being built carry a ``.NAME.N.partial-*`` name, so a crash leaves
something recognisable that the next run removes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import ConfigError, UsageError
from ..paths import Paths

NAME_MAX = 200  # a unit name is at most 255 chars; leave room for ".service" and suffixes
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]*$")


def validate_name(name: str) -> str:
    """Container names end up in paths and unit names: no '/', no '..', no leading '.' or
    '-', bounded length, only characters valid in a systemd unit name."""
    if not name:
        raise UsageError("container name is empty")
    if len(name) > NAME_MAX:
        raise UsageError(f"container name is too long ({len(name)} > {NAME_MAX} characters)")
    if "/" in name or ".." in name or name[0] in ".-" or not _NAME_RE.match(name):
        raise UsageError(
            f"invalid container name {name!r}: use letters, digits and _ . @ - "
            "(not starting with . or -, no '..')")
    if re.search(r"\.[01]$", name):
        raise UsageError(f"invalid container name {name!r}: it must not end in .0 or .1")
    return name


class UnreadableInfo(ConfigError):
    """The info file exists but this user may not read it (another user's deployment)."""


# Deployments hold values given with --set / --set-secret (passwords, tokens) in the info
# file and the rendered config.json: their dirs and files are private to the owner
# (docs/operations.md "File modes and secrets"). The rootfs inside keeps the image's modes.
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def dir_mode(config: dict | None, user_mode: bool) -> int:
    """0700, except 0711 (traverse only) for a system container whose config.json has its own
    user namespace: its root is then a host uid that must reach the rootfs through this dir
    (the files inside stay 0600, so nothing of them is readable)."""
    linux = (config or {}).get("linux") if isinstance(config, dict) else None
    namespaces = linux.get("namespaces") if isinstance(linux, dict) else None
    has_userns = any(isinstance(n, dict) and n.get("type") == "user" for n in namespaces or [])
    return 0o711 if has_userns and not user_mode else PRIVATE_DIR_MODE


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (also when it existed before)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w") as f:
        os.fchmod(fd, PRIVATE_FILE_MODE)
        f.write(text)


def tighten(dep: "Deployment", user_mode: bool) -> bool:
    """Make a deployment made before file modes were private (older versions, atomic) private
    now: its dir 0700 (see :func:`dir_mode`), its own files (info, config.json, unit/tmpfiles
    copies) 0600. The rootfs is left as the image has it. Returns whether anything changed."""
    changed = False
    if not dep.path.is_dir() or dep.path.is_symlink():
        return False
    try:
        config = json.loads((dep.path / "config.json").read_text())
    except (OSError, ValueError):
        config = None
    for path, mode in [(dep.path, dir_mode(config, user_mode))] + [
            (p, PRIVATE_FILE_MODE) for p in dep.path.iterdir()
            if p.name != "rootfs" and p.is_file() and not p.is_symlink()]:
        if os.stat(path).st_mode & 0o777 != mode:
            os.chmod(path, mode)
            changed = True
    return changed


@dataclass(frozen=True)
class InstallInfo:
    """The ``info`` file (atomic's keys, kept as they are for compatibility)."""

    image: str
    revision: str                     # image ID
    ostree_commit: str
    created: int
    values: dict[str, str]
    has_container_service: bool = True
    installed_files: list[str] = field(default_factory=list)
    installed_files_checksum: dict[str, str] = field(default_factory=dict)
    installed_files_template: list[str] = field(default_factory=list)
    rename_installed_files: dict[str, str] = field(default_factory=dict)
    rpm_installed: str | None = None
    system_package: str = "no"
    remote: str | None = None
    use_links: bool = True
    runtime: str = ""
    # Additions of this project (atomic ignores unknown keys; docs/formats.md "The info file"):
    secret_values: list[str] = field(default_factory=list)       # names given --set-secret
    allowed_privileges: list[str] | None = None   # --allow names; None: made before --allow

    def to_json(self) -> str:
        return json.dumps({k.replace("_", "-"): v for k, v in asdict(self).items()}, indent=4)

    @classmethod
    def from_json(cls, text: str, where: str) -> "InstallInfo":
        try:
            raw = json.loads(text)
            if not isinstance(raw, dict):
                raise ValueError("not an object")
        except ValueError as e:
            raise ConfigError(f"invalid info file {where}: {e}") from None
        known = {f.replace("_", "-"): f for f in cls.__dataclass_fields__}
        data = {known[k]: v for k, v in raw.items() if k in known}
        data.setdefault("image", "")
        data.setdefault("revision", "")
        data.setdefault("ostree_commit", "")
        data.setdefault("created", 0)
        data.setdefault("values", {})
        if data.get("system_package") in (None, False):
            data["system_package"] = "no"
        return cls(**data)


@dataclass(frozen=True)
class Deployment:
    name: str
    index: int
    path: Path

    @property
    def info_path(self) -> Path:
        return self.path / "info"

    @property
    def rootfs(self) -> Path:
        return self.path / "rootfs"

    @property
    def unit_copy(self) -> Path:
        return self.path / f"{self.name}.service"

    @property
    def tmpfiles_copy(self) -> Path:
        return self.path / f"tmpfiles-{self.name}.conf"

    def read_info(self) -> InstallInfo:
        try:
            text = self.info_path.read_text()
        except FileNotFoundError:
            raise ConfigError(f"deployment {self.path} has no info file") from None
        except PermissionError:
            raise UnreadableInfo(
                f"cannot read {self.info_path}: deployments are private to the user who "
                "installed them (root for system containers; docs/operations.md \"File modes "
                "and secrets\")") from None
        return InstallInfo.from_json(text, str(self.info_path))

    def exists(self) -> bool:
        return self.path.is_dir()


def deployment(paths: Paths, name: str, index: int) -> Deployment:
    return Deployment(name, index, paths.checkouts / f"{name}.{index}")


def existing(paths: Paths, name: str) -> list[Deployment]:
    """NAME.0 / NAME.1, those that exist."""
    return [d for d in (deployment(paths, name, i) for i in (0, 1)) if d.exists()]


def switching_marker(paths: Paths, name: str) -> Path:
    """Present while update/rollback switches NAME (its content: whether the service ran)."""
    return paths.checkouts / f".{name}.switching"


def installing_marker(paths: Paths, name: str) -> Path:
    """Present while an install activates NAME (host files → unit → link → enable)."""
    return paths.checkouts / f".{name}.installing"


def link_path(paths: Paths, name: str) -> Path:
    return paths.checkouts / name


def current(paths: Paths, name: str) -> Deployment | None:
    """The deployment the ``NAME`` link points at (None when not installed)."""
    link = link_path(paths, name)
    try:
        target = os.readlink(link)
    except (FileNotFoundError, OSError):
        return None
    m = re.search(r"\.([01])$", target.rstrip("/"))
    if not m:
        return None
    return deployment(paths, name, int(m.group(1)))


def other(paths: Paths, dep: Deployment) -> Deployment:
    return deployment(paths, dep.name, 1 - dep.index)


def switch_link(paths: Paths, name: str, target: Deployment) -> None:
    """Point ``NAME`` at ``target`` atomically: symlink to a temporary name, rename over."""
    link = link_path(paths, name)
    tmp = paths.checkouts / f".{name}.link-{os.getpid()}"
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    os.symlink(str(target.path), tmp)
    os.rename(tmp, link)
    fsync_dir(paths.checkouts)


def remove_link(paths: Paths, name: str) -> None:
    try:
        os.unlink(link_path(paths, name))
    except FileNotFoundError:
        pass
    fsync_dir(paths.checkouts)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def partial_dir(paths: Paths, name: str, index: int) -> Path:
    """Where a deployment is built before it is renamed into place."""
    return paths.checkouts / f".{name}.{index}.partial-{os.getpid()}-{int(time.time())}"


def remove_tree(path: Path) -> None:
    """Remove a deployment dir; read-only dirs inside a rootfs are made writable first."""
    if not os.path.lexists(path):
        return
    if path.is_symlink() or not path.is_dir():
        os.unlink(path)
        return

    def onerror(func, p, exc):
        parent = os.path.dirname(p)
        try:
            os.chmod(parent, 0o700)
            func(p)
        except FileNotFoundError:
            pass

    shutil.rmtree(path, onerror=onerror)


def stale_dir(paths: Paths, name: str, index: int) -> Path:
    """Where a replaced deployment waits for removal (recognisable after a crash)."""
    return paths.checkouts / f".{name}.{index}.old-{os.getpid()}-{int(time.time())}"


def clean_partials(paths: Paths, name: str | None = None) -> list[Path]:
    """Remove leftovers of interrupted runs (partial dirs, temporary links)."""
    removed = []
    if not paths.checkouts.is_dir():
        return removed
    for entry in paths.checkouts.iterdir():
        n = entry.name
        if not n.startswith("."):
            continue
        m = re.match(r"^\.(.+)\.(?:[01]\.(?:partial|old)-\d+-\d+|link-\d+|switching\.tmp)$", n)
        if m and (name is None or m.group(1) == name):
            remove_tree(entry)
            removed.append(entry)
    return removed


def installed_names(paths: Paths) -> list[str]:
    """Names of installed containers: every ``NAME`` link pointing at ``NAME.0``/``NAME.1``."""
    if not paths.checkouts.is_dir():
        return []
    names = []
    for entry in sorted(paths.checkouts.iterdir()):
        if entry.is_symlink() and current(paths, entry.name) is not None:
            names.append(entry.name)
    return names


def in_use_image_ids(paths: Paths) -> set[str]:
    """Image IDs that any deployment (current or previous) still needs."""
    ids = set()
    if not paths.checkouts.is_dir():
        return ids
    for entry in paths.checkouts.iterdir():
        if re.search(r"\.[01]$", entry.name) and entry.is_dir() and not entry.is_symlink():
            try:
                ids.add(Deployment(entry.name[:-2], int(entry.name[-1]), entry).read_info().revision)
            except ConfigError:
                continue
    ids.discard("")
    return ids
