"""Locations for system and user mode, and their precedence: flag > env > config > default
(docs/operations.md, "Modes and locations")."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from syscontainers import paths as paths_mod
from syscontainers.config import Config
from syscontainers.paths import config_file
from syscontainers.errors import UsageError
from syscontainers.paths import decide_user_mode, resolve_paths, same_filesystem_links

HOME = os.path.expanduser("~")


@pytest.fixture(autouse=True)
def no_host_repo(tmp_path, monkeypatch):
    """No test may see (or depend on) the machine's own /ostree/repo."""
    monkeypatch.setattr(paths_mod, "HOST_OSTREE_REPO", tmp_path / "no-such-ostree-repo")


# ---------------------------------------------------------------- mode

@pytest.mark.parametrize("system, user, euid, expected", [
    (False, False, 0, False),        # root: system mode by default
    (False, False, 1000, True),      # anybody else: user mode
    (False, True, 0, True),          # root may ask for user mode
    (False, True, 1000, True),
    (True, False, 0, False),
])
def test_mode(system, user, euid, expected):
    assert decide_user_mode(system, user, euid=euid) is expected


def test_system_flag_needs_root():
    with pytest.raises(UsageError, match="^Only root can use --system$"):
        decide_user_mode(True, False, euid=1000)
    with pytest.raises(UsageError):
        decide_user_mode(True, True, euid=0)


# ---------------------------------------------------------------- defaults

def test_system_defaults(tmp_path):
    p = resolve_paths(False, env={}, config=Config())
    assert p.checkouts == Path("/var/lib/containers/atomic")
    assert p.repo == Path("/var/lib/containers/atomic/.storage/ostree")
    assert p.units_dir == Path("/etc/systemd/system")
    assert p.tmpfiles_dir == Path("/etc/tmpfiles.d")
    assert p.repo_mode == "bare" and not p.user_mode


def test_user_defaults_follow_home():
    p = resolve_paths(True, env={}, config=Config())
    data = Path(HOME) / ".local/share"
    assert p.checkouts == data / "containers/atomic"
    assert p.repo == data / "containers/atomic/repo"
    assert p.units_dir == Path(HOME) / ".config/systemd/user"
    assert p.tmpfiles_dir == data / "containers/tmpfiles"
    assert p.repo_mode == "bare-user" and p.user_mode


def test_user_paths_follow_xdg_dirs(tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "conf")}
    p = resolve_paths(True, env=env, config=Config())
    assert p.checkouts == tmp_path / "data/containers/atomic"
    assert p.repo == tmp_path / "data/containers/atomic/repo"
    assert p.units_dir == tmp_path / "conf/systemd/user"
    assert p.tmpfiles_dir == tmp_path / "data/containers/tmpfiles"
    assert config_file(True, env) == tmp_path / "conf/containers/syscontainers.toml"
    assert config_file(False, env) == Path("/etc/containers/syscontainers.toml")


# ---------------------------------------------------------------- precedence

@pytest.mark.parametrize("user_mode", [False, True])
def test_checkouts_flag_beats_env_beats_config(tmp_path, user_mode):
    cfg = Config(checkout_path=str(tmp_path / "from-config"))
    env = {"ATOMIC_OSTREE_CHECKOUT_PATH": str(tmp_path / "from-env")}
    assert resolve_paths(user_mode, env={}, config=cfg).checkouts == tmp_path / "from-config"
    assert resolve_paths(user_mode, env=env, config=cfg).checkouts == tmp_path / "from-env"
    flagged = resolve_paths(user_mode, checkout_flag=str(tmp_path / "flag"), env=env, config=cfg)
    assert flagged.checkouts == tmp_path / "flag"


def test_system_repo_flag_beats_env_beats_config_beats_default(tmp_path):
    cfg = Config(ostree_repository=str(tmp_path / "cfg-repo"))
    env = {"ATOMIC_OSTREE_CHECKOUT_PATH": str(tmp_path / "co")}
    assert resolve_paths(False, env=env, config=Config()).repo == tmp_path / "co/.storage/ostree"
    env["ATOMIC_OSTREE_REPO"] = str(tmp_path / "env-repo")
    assert resolve_paths(False, env={}, config=cfg).repo == tmp_path / "cfg-repo"
    assert resolve_paths(False, env=env, config=cfg).repo == tmp_path / "env-repo"
    assert resolve_paths(False, repo_flag=str(tmp_path / "flag"), env=env,
                         config=cfg).repo == tmp_path / "flag"


def test_user_repo_ignores_the_system_config_default(tmp_path):
    """In user mode the per-user repo comes before the config's ostree_repository (the order
    of docs/operations.md); only the flag and the environment override it."""
    cfg = Config(ostree_repository=str(tmp_path / "cfg-repo"))
    env = {"XDG_DATA_HOME": str(tmp_path / "data")}
    assert resolve_paths(True, env=env, config=cfg).repo == tmp_path / "data/containers/atomic/repo"
    env["ATOMIC_OSTREE_REPO"] = str(tmp_path / "env-repo")
    assert resolve_paths(True, env=env, config=cfg).repo == tmp_path / "env-repo"


def test_config_file_is_read_from_the_environment_location(tmp_path):
    conf = tmp_path / "sc.toml"
    conf.write_text(f'checkout_path = "{tmp_path / "co"}"\n')
    p = resolve_paths(False, env={"SYSCONTAINERS_CONFIG": str(conf)})
    assert p.checkouts == tmp_path / "co" and p.config.source == str(conf)


# ---------------------------------------------------------------- /ostree/repo

def test_host_ostree_repo_is_shared_when_links_work(tmp_path, monkeypatch):
    host_repo = tmp_path / "ostree/repo"
    (host_repo / "tmp").mkdir(parents=True)
    monkeypatch.setattr(paths_mod, "HOST_OSTREE_REPO", host_repo)
    p = resolve_paths(False, checkout_flag=str(tmp_path / "co"), env={}, config=Config())
    assert p.repo == host_repo
    assert list((host_repo / "tmp").iterdir()) == []       # the probe file is gone
    # An explicit config still wins over the host's repo.
    cfg = Config(ostree_repository=str(tmp_path / "cfg-repo"))
    assert resolve_paths(False, checkout_flag=str(tmp_path / "co"), env={},
                         config=cfg).repo == tmp_path / "cfg-repo"
    # User mode never shares the host's (root-owned, mode bare) repo.
    assert resolve_paths(True, checkout_flag=str(tmp_path / "co"), env={},
                         config=Config()).repo != host_repo


def _other_filesystem(tmp_path: Path) -> Path | None:
    for candidate in ("/dev/shm", "/run"):
        if os.path.isdir(candidate) and os.access(candidate, os.W_OK) and \
                os.stat(candidate).st_dev != tmp_path.stat().st_dev:
            return Path(candidate)
    return None


def test_host_ostree_repo_on_another_filesystem_is_not_shared(tmp_path, monkeypatch):
    other = _other_filesystem(tmp_path)
    if other is None:
        pytest.fail("no writable directory on another filesystem (/dev/shm, /run) to test EXDEV")
    import tempfile
    with tempfile.TemporaryDirectory(dir=other) as d:
        host_repo = Path(d) / "ostree/repo"
        host_repo.mkdir(parents=True)
        monkeypatch.setattr(paths_mod, "HOST_OSTREE_REPO", host_repo)
        assert not same_filesystem_links(host_repo, tmp_path)
        p = resolve_paths(False, checkout_flag=str(tmp_path / "co"), env={}, config=Config())
        assert p.repo == tmp_path / "co/.storage/ostree"
        assert list(host_repo.iterdir()) == []


def test_same_filesystem_links(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    assert same_filesystem_links(a, b)
    assert list(a.iterdir()) == [] and list(b.iterdir()) == []
    assert not same_filesystem_links(tmp_path / "missing", b)


# --- our state out of atomic's .storage (docs/formats.md, "Our state directory") ----------

def _legacy(checkouts: Path) -> None:
    storage = checkouts / ".storage"
    (storage / "ostree").mkdir(parents=True)
    (storage / "lock").write_text("")
    (storage / "mounts/k/upper").mkdir(parents=True)
    (storage / "mounts/k/upper/f").write_text("upper")
    (storage / "tmp/pull-1").mkdir(parents=True)


def test_ensure_moves_what_older_versions_kept_in_dot_storage(tmp_path):
    paths = resolve_paths(False, checkout_flag=str(tmp_path), repo_flag=str(tmp_path / "r"),
                          env={}, config=Config())
    _legacy(tmp_path)
    paths.ensure()
    assert sorted(p.name for p in paths.storage.iterdir()) == ["ostree"]
    assert (paths.mounts_dir / "k/upper/f").read_text() == "upper"
    assert (paths.tmp_dir / "pull-1").is_dir()
    assert paths.state.stat().st_mode & 0o777 == 0o700
    assert paths.lock_file.parent == paths.state and paths.blob_cache.parent == paths.state


def test_ensure_merges_when_both_places_have_an_entry(tmp_path):
    paths = resolve_paths(False, checkout_flag=str(tmp_path), repo_flag=str(tmp_path / "r"),
                          env={}, config=Config())
    (paths.mounts_dir / "new").mkdir(parents=True)
    _legacy(tmp_path)
    paths.ensure()
    assert sorted(p.name for p in paths.mounts_dir.iterdir()) == ["k", "new"]
    assert not (paths.storage / "mounts").exists()


def test_ensure_leaves_a_symlink_in_dot_storage_alone(tmp_path):
    paths = resolve_paths(False, checkout_flag=str(tmp_path), repo_flag=str(tmp_path / "r"),
                          env={}, config=Config())
    (tmp_path / "elsewhere").mkdir()
    paths.storage.mkdir(parents=True)
    (paths.storage / "images").symlink_to(tmp_path / "elsewhere")
    paths.ensure()
    assert (paths.storage / "images").is_symlink() and not paths.image_cache.exists()
