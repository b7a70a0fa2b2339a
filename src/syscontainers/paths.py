"""Every filesystem location the tool uses, for system and user mode
(docs/operations.md, "Modes and locations").

Precedence for each location: command-line flag > environment > config file > default.
Nothing here creates anything except :func:`Paths.ensure`, called by verbs that write.
"""

from __future__ import annotations

import errno
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .config import Config, config_file, load_config
from .errors import UsageError

PREINSTALLED_DIR = Path("/usr/lib/containers/atomic")
HOST_OSTREE_REPO = Path("/ostree/repo")   # an OSTree-booted host's own repo (shared if it can be)


@dataclass(frozen=True)
class Paths:
    user_mode: bool
    checkouts: Path         # deployments NAME.0 / NAME.1 and the NAME links
    repo: Path              # the OSTree repository
    units_dir: Path         # systemd unit files we install
    tmpfiles_dir: Path      # tmpfiles.d snippets we install
    preinstalled: Path      # read-only containers shipped with the OS
    config: Config

    @property
    def storage(self) -> Path:
        """Private working storage next to the checkouts (caches, per-layer checkouts)."""
        return self.checkouts / ".storage"

    @property
    def blob_cache(self) -> Path:
        """skopeo's shared blob dir for OCI layouts; only transient content lives there."""
        return self.storage / "blobs"

    @property
    def layers_dir(self) -> Path:
        """Per-layer checkouts used for overlay mounts (run-once, mount)."""
        return self.storage / "layers"

    @property
    def image_cache(self) -> Path:
        """Cached read-only checkouts of whole images (lower dirs of run-once / mount)."""
        return self.storage / "images"

    @property
    def lock_file(self) -> Path:
        return self.storage / "lock"

    def unit_file(self, name: str) -> Path:
        """The systemd unit installed for container ``name``."""
        return self.units_dir / f"{name}.service"

    def tmpfiles_file(self, name: str) -> Path:
        """The tmpfiles.d snippet installed for container ``name``."""
        return self.tmpfiles_dir / f"{name}.conf"

    @property
    def repo_mode(self) -> str:
        return "bare-user" if self.user_mode else "bare"

    def ensure(self) -> None:
        """Create the state directories (0700 for private storage)."""
        self.checkouts.mkdir(parents=True, exist_ok=True)
        self.storage.mkdir(mode=0o700, exist_ok=True)


def decide_user_mode(system_flag: bool, user_flag: bool, euid: int | None = None) -> bool:
    euid = os.geteuid() if euid is None else euid
    if system_flag and user_flag:
        raise UsageError("--system and --user cannot be used together")
    if system_flag and euid != 0:
        raise UsageError("Only root can use --system")
    return user_flag or euid != 0


def _xdg_data_home(env) -> Path:
    return Path(env.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local/share"))


def same_filesystem_links(a: Path, b: Path) -> bool:
    """True when a hard link from directory ``a`` into directory ``b`` works (a real link(2))."""
    try:
        fd, src = tempfile.mkstemp(prefix=".linktest-", dir=a)
        os.close(fd)
    except OSError:
        return False
    dst = b / os.path.basename(src)
    try:
        os.link(src, dst)
        os.unlink(dst)
        return True
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.EPERM, errno.EACCES, errno.EROFS, errno.ENOENT):
            raise
        return False
    finally:
        os.unlink(src)


def resolve_paths(
    user_mode: bool,
    *,
    checkout_flag: str | None = None,
    repo_flag: str | None = None,
    env=os.environ,
    config: Config | None = None,
) -> Paths:
    config = config if config is not None else load_config(config_file(user_mode, env))
    data = _xdg_data_home(env)
    if checkout_flag:
        checkouts = Path(checkout_flag)
    elif env.get("ATOMIC_OSTREE_CHECKOUT_PATH"):
        checkouts = Path(env["ATOMIC_OSTREE_CHECKOUT_PATH"])
    elif config.checkout_path:
        checkouts = Path(config.checkout_path)
    elif user_mode:
        checkouts = data / "containers/atomic"
    else:
        checkouts = Path("/var/lib/containers/atomic")

    repo = _resolve_repo(user_mode, repo_flag, env, config, checkouts, data)
    if user_mode:
        units = Path(env.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")) / "systemd/user"
        tmpfiles = data / "containers/tmpfiles"
    else:
        units = Path("/etc/systemd/system")
        tmpfiles = Path("/etc/tmpfiles.d")
    return Paths(user_mode, checkouts, repo, units, tmpfiles, PREINSTALLED_DIR, config)


def _resolve_repo(user_mode, repo_flag, env, config, checkouts: Path, data: Path) -> Path:
    if repo_flag:
        return Path(repo_flag)
    if env.get("ATOMIC_OSTREE_REPO"):
        return Path(env["ATOMIC_OSTREE_REPO"])
    if user_mode:
        return data / "containers/atomic/repo"
    if config.ostree_repository:
        return Path(config.ostree_repository)
    # The host's own /ostree/repo is shared only when checkouts can hard-link from it.
    host_repo = HOST_OSTREE_REPO
    if host_repo.is_dir():
        checkouts.mkdir(parents=True, exist_ok=True)
        if same_filesystem_links(host_repo / "tmp" if (host_repo / "tmp").is_dir() else host_repo, checkouts):
            return host_repo
    return checkouts / ".storage/ostree"
