"""The host lock (lock.py) on a real lock file: flock between two open file descriptions."""

from __future__ import annotations

import fcntl
import os
import stat
import threading

import pytest

from syscontainers.config import Config
from syscontainers.errors import LockBusy
from syscontainers.lock import host_lock
from syscontainers.paths import Paths


@pytest.fixture
def paths(tmp_path):
    return Paths(False, tmp_path / "co", tmp_path / "repo", tmp_path / "units", tmp_path / "tmpfiles",
                 tmp_path / "pre", Config())


def held_elsewhere(paths) -> bool:
    """Whether another open file description holds the lock (one try, no waiting)."""
    fd = os.open(paths.lock_file, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def test_lock_is_held_inside_and_released_after(paths):
    with host_lock(paths, timeout=0):
        assert held_elsewhere(paths)
        assert stat.S_IMODE(os.stat(paths.lock_file).st_mode) == 0o600
    assert not held_elsewhere(paths)


def test_lock_is_released_when_the_body_raises(paths):
    with pytest.raises(RuntimeError):
        with host_lock(paths, timeout=0):
            raise RuntimeError("boom")
    assert not held_elsewhere(paths)


def test_busy_lock_times_out_with_one_line(paths):
    with host_lock(paths, timeout=0):
        with pytest.raises(LockBusy) as e:
            with host_lock(paths, timeout=0.3):
                pass
    assert str(e.value) == f"another syscontainers command holds {paths.lock_file}; try again later"
    assert not held_elsewhere(paths)


def test_a_waiter_gets_the_lock_when_it_is_released(paths):
    got, release = threading.Event(), threading.Event()
    errors = []

    def waiter():
        try:
            with host_lock(paths, timeout=60):
                got.set()
        except BaseException as e:       # reported below
            errors.append(e)

    with host_lock(paths, timeout=0):
        t = threading.Thread(target=waiter)
        t.start()
        assert not got.wait(0.3)          # cannot get it while held (no timing bound asserted)
    t.join(timeout=60)
    assert got.is_set() and not errors and not t.is_alive()
