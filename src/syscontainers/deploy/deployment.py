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
import stat
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import safejson
from ..fileops import fsync_dir, read_text, write_private  # noqa: F401  (dl.fsync_dir, dl.write_private)
from ..errors import ConfigError, ContainerExists, UnreadableInfo, UsageError
from ..paths import Paths
from .infofields import info_fields

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
    # A name ending in .0/.1 is valid (atomic derives httpd-1.0 from tag 1.0); whether it
    # collides with another container's deployments is name_collision's business.
    return name


def parse_deployment_dir(entry: str) -> tuple[str, int] | None:
    """(NAME, N) for a directory entry named ``NAME.N`` (N 0 or 1), else None. Unambiguous:
    the index is always the last component, so ``httpd-1.0.0`` is deployment 0 of
    ``httpd-1.0``. Whether the entry is a deployment (a real directory) or the link of a
    container whose name ends in .0/.1 (a symlink) is for the caller to check."""
    name, dot, index = entry.rpartition(".")
    if not dot or index not in ("0", "1") or not name or name.startswith("."):
        return None
    return name, int(index)


def deployment_dirs(paths: Paths) -> list["Deployment"]:
    """Every deployment dir ``NAME.N`` under the checkouts (real directories only: a
    symlink of that form is the link of a container named NAME.N)."""
    if not paths.checkouts.is_dir():
        return []
    found = []
    for entry in sorted(paths.checkouts.iterdir()):
        parsed = parse_deployment_dir(entry.name)
        if parsed and entry.is_dir() and not entry.is_symlink():
            found.append(Deployment(parsed[0], parsed[1], entry))
    return found


def name_collision(paths: Paths, name: str) -> str | None:
    """Why ``name`` cannot be installed next to another container's deployments (docs/
    operations.md, "Checks on what the operator asks"), None when it can: ``foo.0`` is
    foo's deployment dir while foo is installed (or its deployments are left), and ``foo``
    owns ``foo.0``/``foo.1`` while a container of that name is there."""
    parsed = parse_deployment_dir(name)
    if parsed is not None:
        owner = parsed[0]
        if link_path(paths, owner).is_symlink() or existing(paths, owner):
            return (f"container name {name} collides with the deployment {name} of container "
                    f"{owner}; choose another --name")
    for index in (0, 1):
        other_name = f"{name}.{index}"
        if link_path(paths, other_name).is_symlink() or existing(paths, other_name):
            return (f"container name {name} would use {other_name} as its deployment, the name "
                    f"of the installed container {other_name}; choose another --name")
    return None


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
    # How the image was reached, so update reaches it the same way (docs/formats.md, "The
    # info file"); never a secret: only where credentials came from.
    source: str | None = None                 # the reference as given: http:HOST/IMG:TAG, oci:DIR:TAG
    source_transport: str | None = None       # docker, oci, oci-archive, docker-archive, docker-daemon
    source_tls_verify: bool | None = None     # docker only: false for http: / --tls-verify=false
    source_credentials: str | None = None     # "src-creds", "auth-file" or None
    source_signature_policy: str | None = None   # --signature-policy FILE; None: the host's
    source_auth_file: str | None = None       # --authfile FILE (a path, never its content)
    source_cert_dir: str | None = None        # --cert-dir DIR
    # Additions of this project (atomic ignores unknown keys; docs/formats.md "The info file"):
    secret_values: list[str] = field(default_factory=list)       # names given --set-secret
    allowed_privileges: list[str] | None = None   # --allow names; None: made before --allow
    config_checksum: str | None = None    # sha256 of config.json as written (list's drift check)
    pinned: bool = False                  # `pin NAME`: update --all / auto-update skip it
    pinned_reason: str | None = None
    auto_update: str | None = None   # registry | local | off; None: made before the policy (off)
    # the operator's check (--health-*; {"kind": "none"}: --no-healthcheck), carried across
    # updates, and the image's own, rendered (docs/formats.md, docs/operations.md "Health checks")
    health_check: dict | None = None
    image_health_check: dict | None = None

    def to_json(self) -> str:
        return json.dumps({k.replace("_", "-"): v for k, v in asdict(self).items()}, indent=4)

    @classmethod
    def from_json(cls, text: str, where: str) -> "InstallInfo":
        raw = safejson.loads(text, where, message="invalid info file {what}: {why}")
        return cls(**info_fields(raw, where))


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
            text = read_text(f"{self.path}/info")     # (a str: `list` reads 1000 of them)
        except FileNotFoundError:
            raise ConfigError(f"deployment {self.path} has no info file") from None
        except PermissionError:
            raise UnreadableInfo(
                f"cannot read {self.info_path}: deployments are private to the user who "
                "installed them (root for system containers; docs/operations.md \"File modes "
                "and secrets\")") from None
        except OSError as e:
            raise ConfigError(f"cannot read the info file {self.info_path}: {e.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"invalid info file {self.info_path}: not UTF-8 text") from None
        return InstallInfo.from_json(text, str(self.info_path))

    def exists(self) -> bool:
        # a symlink NAME.N is the link of another container (named NAME.N), not a deployment
        try:
            return stat.S_ISDIR(os.lstat(self.path).st_mode)
        except (OSError, ValueError):
            return False


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
    parsed = parse_deployment_dir(os.path.basename(target.rstrip("/")))
    if parsed is None or parsed[0] != name:
        return None     # only NAME.0 / NAME.1 (never another container's deployment)
    return deployment(paths, name, parsed[1])


def other(paths: Paths, dep: Deployment) -> Deployment:
    return deployment(paths, dep.name, 1 - dep.index)


def link_problem(paths: Paths, name: str) -> str | None:
    """Why ``CHECKOUTS/NAME`` cannot be (or is not) a working link of ours, or None when it
    is absent or names an existing ``NAME.0``/``NAME.1``. Something else there is the
    operator's and is never replaced; a link whose deployment was removed by hand is broken
    (docs/operations.md, "Errors and broken state")."""
    link = link_path(paths, name)
    if not os.path.lexists(link):
        return None
    if not link.is_symlink():
        kind = "directory" if link.is_dir() else "file"
        return (f"{link} is a {kind} syscontainers did not make; move it away or choose "
                "another --name")
    target = os.readlink(link)
    dep = current(paths, name)
    if dep is None or os.path.basename(target.rstrip("/")) != dep.path.name:
        return (f"{link} is a link to {target} that syscontainers did not make; move it away "
                "or choose another --name")
    if not dep.exists():
        return (f"container {name} is broken: {link} points at {dep.path.name}, which is "
                f"missing (removed by hand?); `syscontainers uninstall {name}` removes what "
                "is left of it")
    return None


def switch_link(paths: Paths, name: str, target: Deployment) -> None:
    """Point ``NAME`` at ``target`` atomically: symlink to a temporary name, rename over.
    Never over something that is not a link (the operator's file or directory)."""
    link = link_path(paths, name)
    if os.path.lexists(link) and not link.is_symlink():
        raise ContainerExists(f"{link} is not a link syscontainers made; move it away or "
                              "choose another --name")
    tmp = paths.checkouts / f".{name}.link-{os.getpid()}"
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    os.symlink(str(target.path), tmp)
    try:
        os.rename(tmp, link)
    except OSError:
        os.unlink(tmp)
        raise
    fsync_dir(paths.checkouts)


def remove_link(paths: Paths, name: str) -> None:
    try:
        os.unlink(link_path(paths, name))
    except FileNotFoundError:
        pass
    fsync_dir(paths.checkouts)


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

    import shutil

    shutil.rmtree(path, onerror=onerror)


def stale_dir(paths: Paths, name: str, index: int) -> Path:
    """Where a replaced deployment waits for removal (recognisable after a crash)."""
    return paths.checkouts / f".{name}.{index}.old-{os.getpid()}-{int(time.time())}"


def staged_dir(paths: Paths, name: str, index: int) -> Path:
    """Where ``auto-update --stage`` keeps the next deployment of NAME until it is switched
    in (docs/formats.md "Deployments"): not ``NAME.N`` itself, which holds the rollback
    version until the switch."""
    return paths.checkouts / f".{name}.{index}.staged"


def staged_dirs(paths: Paths) -> list[Deployment]:
    """Every staged deployment (``.NAME.N.staged``), as the deployment it would become."""
    if not paths.checkouts.is_dir():
        return []
    found = []
    for entry in sorted(paths.checkouts.iterdir()):
        m = re.match(r"^\.(.+)\.([01])\.staged$", entry.name)
        if m and entry.is_dir() and not entry.is_symlink():
            found.append(Deployment(m.group(1), int(m.group(2)), entry))
    return found


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
    return [dep.name for dep in installed(paths)]


def installed(paths: Paths) -> list[Deployment]:
    """The live deployment of every installed container, by name: one directory scan and
    one readlink per link (`list` with 1000 containers, docs/performance.md)."""
    try:
        entries = sorted((e.name, e.is_symlink()) for e in os.scandir(paths.checkouts))
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for name, is_link in entries:
        dep = current(paths, name) if is_link else None
        if dep is not None:
            found.append(dep)
    return found


def in_use_image_ids(paths: Paths) -> set[str]:
    """Image IDs that any deployment (current or previous) still needs."""
    ids = set()
    for dep in deployment_dirs(paths) + staged_dirs(paths):   # a staged update's image too
        try:
            ids.add(dep.read_info().revision)
        except ConfigError:
            continue
    ids.discard("")
    return ids


@dataclass(frozen=True)
class ImageUser:
    """A deployment of an installed container and the image it was built from."""

    name: str
    index: int
    image_id: str          # info "revision"
    commit: str            # info "ostree-commit"
    image_name: str        # info "image": the name it was installed (or updated) from


def image_users(paths: Paths) -> list[ImageUser]:
    """The deployments (both, NAME.0 and NAME.1) of every installed container."""
    users = []
    for name in installed_names(paths):
        for dep in existing(paths, name):
            try:
                info = dep.read_info()
            except ConfigError:
                continue
            users.append(ImageUser(name, dep.index, info.revision, info.ostree_commit, info.image))
    return users


def config_text(dep: Deployment) -> str | None:
    """The text of the deployment's config.json; None when it has none. `list` reads it once
    for the command and the drift check (docs/performance.md, "Where the time goes")."""
    try:
        return read_text(f"{dep.path}/config.json")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read {dep.path / 'config.json'}: "
                          f"{getattr(e, 'strerror', None) or e}") from None


def args_of_config(dep: Deployment, text: str | None) -> list[str]:
    """process.args of ``text``, the deployment's config.json (for list and status; here, not
    in lifecycle/build.py, so status imports nothing heavy); [] when there is none (None: no
    config.json, noContainerService). ConfigError when args is not a list of strings (a
    hand-edited or pre-validation config: list shows the container as broken)."""
    if text is None:
        return []
    path = f"{dep.path}/config.json"
    cfg = safejson.loads(text, path)
    process = cfg.get("process") if isinstance(cfg, dict) else None
    args = process.get("args") if isinstance(process, dict) else None
    if args is None or args == []:
        return []
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise ConfigError(f"{path}: process.args is not a list of strings")
    return list(args)
