"""Pull failures that used to hang or mislead (docs/operations.md, "Errors and broken state"):
archive paths that are not regular files, and a disk below the reserve, against a real store
on real filesystems."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from tests.testhost.host import REPO_ROOT

pytestmark = [pytest.mark.root]

SC = str(REPO_ROOT / ".venv/bin/syscontainers")


def sc(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([SC, *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("source", ["docker-archive:/dev/zero", "oci-archive:/dev/zero",
                                    "docker-archive:FIFO", "docker-archive:DIR"])
def test_archives_that_are_not_regular_files_are_refused(tmp_path, source):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    source = source.replace("FIFO", str(fifo)).replace("DIR", str(tmp_path))
    # a hang here was the bug: the timeout turns it into a failure instead of a stuck suite
    r = sc("--checkout-path", str(tmp_path / "c"), "pull", source, timeout=60)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().endswith("not a regular file (" + source.split(":")[0]
                                     + ": needs an archive file)"), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.fixture
def small_tmpfs(tmp_path):
    top = tmp_path / "small"
    top.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200m", "tmpfs", str(top)], check=True)
    try:
        yield top
    finally:
        subprocess.run(["umount", "-l", str(top)], check=False)


def test_disk_below_the_reserve_says_how_much_is_free(small_tmpfs, base_layout):
    """200 MiB free is less than the 256 MiB kept in reserve: the layer is refused, and the
    message says so (it used to say "0 MiB free")."""
    r = sc("--checkout-path", str(small_tmpfs), "pull", f"oci:{base_layout}:base")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert re.search(r"its disk has (19\d|200) MiB free and keeps a reserve of 256 MiB",
                     r.stderr), r.stderr
    assert "0 MiB free" not in r.stderr
    listed = sc("--checkout-path", str(small_tmpfs), "images", "list", "--json")
    assert listed.returncode == 0 and listed.stdout.strip() == "[]"
