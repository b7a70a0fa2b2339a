"""Two invocations at once on the same host are serialised by a lock (docs/operations.md).

Synchronisation is by events, never by sleeping: a writer is known to be waiting once its
process holds the lock file open (it opens the file, then polls flock, which cannot succeed
while this test holds the lock).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from syscontainers.errors import LockBusy
from syscontainers.lock import host_lock
from tests.fixtures.images import ImageSpec, build_oci_layout

pytestmark = [pytest.mark.root]

SC = [sys.executable, "-m", "syscontainers.cli"]


def wait_until_open(pid: int, path, timeout: float = 60) -> None:
    """Poll (with a deadline) until process ``pid`` has ``path`` open."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except FileNotFoundError:
            raise AssertionError(f"process {pid} exited before opening {path}") from None
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                    return
            except FileNotFoundError:
                continue
        time.sleep(0.05)
    raise AssertionError(f"process {pid} did not open {path} within {timeout} s")


def refs(store_paths) -> list:
    heads = store_paths.repo / "refs/heads"
    return sorted(str(p) for p in heads.rglob("*")) if heads.exists() else []


def test_a_writer_waits_for_the_lock_holder(store_paths, tmp_path):
    layout = build_oci_layout(ImageSpec(layers=[{"etc/a": "1\n"}]), tmp_path / "l", "v1").layout
    flags = ["--checkout-path", str(store_paths.checkouts), "--repo", str(store_paths.repo)]
    proc = None
    try:
        with host_lock(store_paths):
            before = refs(store_paths)
            proc = subprocess.Popen([*SC, *flags, "pull", f"oci:{layout}:v1"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            wait_until_open(proc.pid, store_paths.lock_file)
            # it reached the lock and can go no further while this test holds it
            assert proc.poll() is None, "pull finished while another invocation held the lock"
            assert refs(store_paths) == before
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert refs(store_paths) != before
        # the reader verbs do not wait for writers
        with host_lock(store_paths):
            r = subprocess.run([*SC, *flags, "images", "list"], capture_output=True, text=True,
                               timeout=60)
        assert r.returncode == 0 and "v1" in r.stdout
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


def test_lock_is_released_when_the_holder_is_killed(store_paths):
    code = ("import sys, time; sys.path.insert(0, 'src');"
            "from syscontainers.paths import resolve_paths;"
            "from syscontainers.config import Config;"
            "from syscontainers.lock import host_lock;"
            f"p = resolve_paths(False, checkout_flag={str(store_paths.checkouts)!r}, env={{}}, config=Config());"
            "l = host_lock(p); l.__enter__(); print('held', flush=True); sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                              stdin=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockBusy) as e:          # held: a try without waiting fails
            with host_lock(store_paths, timeout=0):
                pass
        assert str(e.value) == (f"another syscontainers command holds {store_paths.lock_file}; "
                                "try again later")
        holder.kill()
        holder.wait(timeout=30)
        # the kernel released it with the process: one try without waiting succeeds
        with host_lock(store_paths, timeout=0):
            pass
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
