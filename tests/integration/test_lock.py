"""Two invocations at once on the same host are serialised by a lock (SPEC 7)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from syscontainers.lock import host_lock
from tests.fixtures.images import ImageSpec, build_oci_layout

pytestmark = [pytest.mark.root]

SC = [sys.executable, "-m", "syscontainers.cli"]


def test_a_writer_waits_for_the_lock_holder(store_paths, tmp_path):
    layout = build_oci_layout(ImageSpec(layers=[{"etc/a": "1\n"}]), tmp_path / "l", "v1").layout
    flags = ["--checkout-path", str(store_paths.checkouts), "--repo", str(store_paths.repo)]
    with host_lock(store_paths):
        proc = subprocess.Popen([*SC, *flags, "pull", f"oci:{layout}:v1"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        assert proc.poll() is None, "pull ran while another invocation held the lock"
        assert not store_paths.repo.exists() or not list((store_paths.repo / "refs/heads").rglob("*"))
        released = time.monotonic()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert time.monotonic() >= released
    # the reader verbs do not wait for writers
    with host_lock(store_paths):
        r = subprocess.run([*SC, *flags, "images", "list"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "v1" in r.stdout


def test_lock_is_released_when_the_holder_is_killed(store_paths):
    code = ("import sys, time; sys.path.insert(0, 'src');"
            "from syscontainers.paths import resolve_paths;"
            "from syscontainers.config import Config;"
            "from syscontainers.lock import host_lock;"
            f"p = resolve_paths(False, checkout_flag={str(store_paths.checkouts)!r}, env={{}}, config=Config());"
            "l = host_lock(p); l.__enter__(); print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        holder.kill()
        holder.wait(timeout=10)
        start = time.monotonic()
        with host_lock(store_paths, timeout=5):
            pass
        assert time.monotonic() - start < 2
    finally:
        if holder.poll() is None:
            holder.kill()
