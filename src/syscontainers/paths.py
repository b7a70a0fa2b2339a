"""Every filesystem location the tool uses, for system and user mode
(docs/operations.md, "Modes and locations").

Precedence for each location: command-line flag > environment > config file > default.
Nothing here creates anything except :func:`Paths.ensure`, called by verbs that write.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path

from .config import Config, load_config
from .errors import UsageError

# --- fixed locations of the host (docs/operations.md, "Modes and locations"); every other
# module takes them from here, so that a test or a port changes one line.
SYSTEM_CHECKOUTS = Path("/var/lib/containers/atomic")
SYSTEM_UNITS_DIR = Path("/etc/systemd/system")
SYSTEM_TMPFILES_DIR = Path("/etc/tmpfiles.d")
SYSTEM_CONFIG_FILE = Path("/etc/containers/syscontainers.toml")
PREINSTALLED_DIR = Path("/usr/lib/containers/atomic")
HOST_OSTREE_REPO = Path("/ostree/repo")   # an OSTree-booted host's own repo (shared if it can be)
# where an RPM package of a container puts its files (docs/operations.md, "System packages")
PACKAGE_UNIT_DIR = Path("/usr/lib/systemd/system")
PACKAGE_TMPFILES_DIR = Path("/usr/lib/tmpfiles.d")
# what the host is: its distribution, and whether /usr is an OSTree deployment
OS_RELEASE = Path("/etc/os-release")
OSTREE_BOOTED = Path("/run/ostree-booted")
# system mode's RUN_DIRECTORY, CONF_DIRECTORY, STATE_DIRECTORY (docs/templates.md)
SYSTEM_RUN_DIR, SYSTEM_CONF_DIR, SYSTEM_STATE_DIR = "/run", "/etc", "/var/lib"
# systemd's search paths, first wins: a file of ours is shadowed by one earlier in the list
SYSTEM_TMPFILES_DIRS = ("/etc/tmpfiles.d", "/run/tmpfiles.d", "/usr/local/lib/tmpfiles.d",
                        "/usr/lib/tmpfiles.d", "/lib/tmpfiles.d")
SYSTEM_UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/run/systemd/transient",
                    "/usr/local/lib/systemd/system", "/usr/lib/systemd/system",
                    "/lib/systemd/system")
USER_UNIT_DIRS = ("/etc/systemd/user", "/run/systemd/user", "/usr/local/lib/systemd/user",
                  "/usr/lib/systemd/user")


def config_file(user_mode: bool, env=os.environ) -> Path:
    """Where the config file is (docs/operations.md, "Configuration file")."""
    if env.get("SYSCONTAINERS_CONFIG"):
        return Path(env["SYSCONTAINERS_CONFIG"])
    if user_mode:
        base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
        return Path(base) / "containers" / "syscontainers.toml"
    return SYSTEM_CONFIG_FILE


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
        """atomic's ``.storage`` dir: the OSTree repository (``ostree``) and atomic's per-layer
        checkouts (``<64 hex>``). Nothing else of ours lives here: atomic's ``images prune``
        deletes every entry that is neither (docs/formats.md, "Our state directory")."""
        return self.checkouts / ".storage"

    @property
    def state(self) -> Path:
        """Our private working state next to the checkouts (lock, temporary dirs, caches): a
        dot entry, which atomic never lists nor prunes (docs/formats.md)."""
        return self.checkouts / ".syscontainers"

    @property
    def tmp_dir(self) -> Path:
        """Temporary work dirs (pulls, run-once bundles): same filesystem as the repo."""
        return self.state / "tmp"

    @property
    def blob_cache(self) -> Path:
        """skopeo's shared blob dir for OCI layouts; only transient content lives there."""
        return self.state / "blobs"

    @property
    def layers_dir(self) -> Path:
        """Per-layer checkouts of older versions of this tool (``.storage/layers`` before);
        pruned like atomic's ``.storage/<hex>`` ones."""
        return self.state / "layers"

    @property
    def image_cache(self) -> Path:
        """Cached read-only checkouts of whole images (lower dirs of run-once / mount)."""
        return self.state / "images"

    @property
    def mounts_dir(self) -> Path:
        """Upper and work dirs of writable mounts, kept until ``umount``."""
        return self.state / "mounts"

    @property
    def lock_file(self) -> Path:
        return self.state / "lock"

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
        """Create the state directories (0700 for private state), moving what older versions
        kept in atomic's ``.storage`` to :attr:`state` (docs/formats.md, "Our state
        directory")."""
        self.checkouts.mkdir(parents=True, exist_ok=True)
        self.storage.mkdir(mode=0o700, exist_ok=True)
        self.state.mkdir(mode=0o700, exist_ok=True)
        _move_legacy_state(self.storage, self.state)


# What versions before the move kept in .storage (atomic's prune deleted them there).
_LEGACY_STATE = ("tmp", "blobs", "images", "mounts", "layers")


def _move_legacy_state(storage: Path, state: Path) -> None:
    """Move our old entries out of ``.storage``: a rename on one filesystem, so a mount whose
    upper dir lives there keeps working (the kernel holds the dirs, not their names). The
    old lock file is dropped: its flock means nothing to a version that locks the new one."""
    lock = storage / "lock"
    if lock.is_file() and not lock.is_symlink():
        lock.unlink(missing_ok=True)
    for entry_name in _LEGACY_STATE:
        src = storage / entry_name
        if not src.is_dir() or src.is_symlink():
            continue
        dst = state / entry_name
        if dst.exists():
            # both exist (an older binary ran after the move): keep the entries, merge them
            for entry in src.iterdir():
                if not (dst / entry.name).exists():
                    os.rename(entry, dst / entry.name)
            import shutil     # (rare: every start/stop/status imports this module)

            shutil.rmtree(src, ignore_errors=True)
        else:
            os.rename(src, dst)


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
        import tempfile

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
        checkouts = SYSTEM_CHECKOUTS

    repo = _resolve_repo(user_mode, repo_flag, env, config, checkouts, data)
    if user_mode:
        units = Path(env.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")) / "systemd/user"
        tmpfiles = data / "containers/tmpfiles"
    else:
        units = SYSTEM_UNITS_DIR
        tmpfiles = SYSTEM_TMPFILES_DIR
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
