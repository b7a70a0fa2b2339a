"""run-once, exec, mount/umount, extract on the real test host (docs/operations.md, "What each verb does to the host")."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from tests.fixtures.examples import example_spec
from tests.fixtures.images import ImageSpec, build_oci_layout
from tests.integration.sc_host import LAUNCHER as LAUNCHER_INSIDE, SC as SC_INSIDE, ScHost, \
    free_port, http_get

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.registry]


@pytest.fixture(scope="module")
def images(registry, tmp_path_factory):
    root = tmp_path_factory.mktemp("runonce-images")
    specs = {
        "web": example_spec(index_html="hello run\n"),
        "tool": ImageSpec(layers=[{"etc/motd": "tool motd\n"}],
                          cmd=["/bin/sh", "-c", "cat /etc/motd; exit 7"]),
        "once": ImageSpec(layers=[{"etc/motd": "once\n"}], labels={"atomic.run": "once"},
                          cmd=["/bin/sh", "-c", "echo ran-once"]),
    }
    return {tag: registry.push(build_oci_layout(spec, root / tag, tag).layout, tag, "run/img")
            for tag, spec in specs.items()}



def storage_leftovers(sc: ScHost) -> list[str]:
    out = sc.host.run("sh", "-c", "ls -A /var/lib/containers/atomic/.syscontainers/tmp 2>/dev/null; "
                      "findmnt -rn -o TARGET | grep /var/lib/containers || true").stdout
    return out.split()


def test_run_prints_output_returns_status_and_leaves_nothing(sc, images):
    r = sc.sc("run", images["tool"])
    assert r.code == 7 and "tool motd" in r.out, r.text
    r = sc.sc("run", images["tool"], "/bin/sh", "-c", "echo from-cmd; exit 0")
    assert r.code == 0 and "from-cmd" in r.out, r.text
    assert storage_leftovers(sc) == []
    assert sc.host.run("runc", "list", "-q").stdout.strip() == ""


def test_run_once_with_exports_renders_set_values(sc, images):
    r = sc.sc("run", "--set", "PORT=1", images["web"], "/bin/sh", "-c", "cat /srv/index.html")
    assert r.code == 0 and "hello run" in r.out, r.text
    assert storage_leftovers(sc) == []


def test_install_of_run_once_image_runs_it_once(sc, images):
    r = sc.sc("install", images["once"])
    assert r.code == 0 and "ran-once" in r.out and "atomic.run=once" in r.out, r.text
    assert "img-once" not in sc.listing() and not sc.exists("/var/lib/containers/atomic/img-once")


def test_exec_in_running_and_stopped_containers(sc, images, testhost_units):
    port = free_port()
    testhost_units.append("ex1.service")
    sc.ok("install", "--name", "ex1", "--set", f"PORT={port}", images["web"])
    r = sc.sc("exec", "ex1", "/bin/cat", "/srv/index.html")          # stopped: run once
    assert r.code == 0 and r.out == "hello run\n", r.text
    assert sc.sc("exec", "--detach", "ex1", "/bin/true").code != 0
    sc.ok("start", "ex1")
    http_get(port)
    r = sc.sc("exec", "ex1", "/bin/sh", "-c", "cat /srv/index.html; exit 4")  # running: runc exec
    assert r.code == 4 and r.out == "hello run\n", r.text
    assert sc.sc("exec", images["tool"], "/bin/cat", "/etc/motd").out == "tool motd\n"
    sc.ok("uninstall", "ex1")
    assert storage_leftovers(sc) == []


def test_mount_umount_extract(sc, images):
    sc.host.run("mkdir", "-p", "/srv/mnt1", "/srv/mnt2")
    sc.ok("pull", images["tool"])
    sc.ok("mount", images["tool"], "/srv/mnt1")
    try:
        assert sc.host.run("cat", "/srv/mnt1/etc/motd").stdout == "tool motd\n"
        assert sc.host.run("touch", "/srv/mnt1/x", check=False).returncode != 0  # read-only
    finally:
        sc.ok("umount", "/srv/mnt1")
    # --rw (docs/operations.md): the change lives in an upper dir under the state dir
    # until umount; the image itself never changes
    state = "/var/lib/containers/atomic/.syscontainers/mounts/srv_mnt2"
    sc.ok("mount", "--rw", images["tool"], "/srv/mnt2")
    try:
        sc.host.run("sh", "-c", "echo changed > /srv/mnt2/etc/motd")
        assert sc.host.run("cat", "/srv/mnt2/etc/motd").stdout == "changed\n"
        assert sc.host.run("cat", f"{state}/upper/etc/motd").stdout == "changed\n"
        image_id = json.loads(sc.ok("images", "inspect", "--json", images["tool"]).out)["id"]
        assert sc.host.run("cat", f"{state}/image-id").stdout == image_id
    finally:
        sc.ok("umount", "/srv/mnt2")
    assert not sc.exists(state)
    assert sc.host.run("mountpoint", "-q", "/srv/mnt2", check=False).returncode != 0
    assert sc.host.run("ls", "-A", "/srv/mnt2").stdout == ""
    sc.ok("mount", images["tool"], "/srv/mnt2")       # the image is unchanged
    try:
        assert sc.host.run("cat", "/srv/mnt2/etc/motd").stdout == "tool motd\n"
    finally:
        sc.ok("umount", "/srv/mnt2")
    sc.ok("extract", images["tool"], "/srv/ex1")
    motd = sc.path("/srv/ex1/etc/motd")
    assert motd.read_text() == "tool motd\n" and motd.stat().st_nlink == 1   # copies, not links
    r = sc.sc("extract", images["tool"], "/srv/ex1")
    assert r.code != 0 and "not empty" in r.err


def test_prune_removes_unused_image_caches(sc, images):
    sc.ok("run", images["tool"], "/bin/true")
    image_id = json.loads(sc.ok("images", "inspect", "--json", images["tool"]).out)["id"]
    cache = sc.path(f"/var/lib/containers/atomic/.syscontainers/images/{image_id}")
    assert cache.is_dir()
    sc.ok("images", "delete", images["tool"])
    r = sc.ok("images", "prune")
    assert "Reclaimed" in r.out and str(image_id) in r.out
    assert not cache.exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_run_is_cleaned_up_when_interrupted(sc, images, sig):
    """Ctrl-C (SIGINT to the foreground process group) or SIGTERM to the tool: the container
    is stopped and the bundle, its mount and the runc state are gone."""
    sc.ok("pull", images["tool"])
    proc = subprocess.Popen(["nsenter", "-t", str(sc.host.pid), "-a", SC_INSIDE, "run",
                             images["tool"], "/bin/sh", "-c", "echo started; sleep 60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "started"
        # the front (bin/syscontainers) execs Python with the launcher: that is the tool
        tool = sc.host.run("pgrep", "-f", f"{LAUNCHER_INSIDE} run").stdout.split()
        assert len(tool) == 1
        if sig == signal.SIGINT:
            os.killpg(proc.pid, sig)      # what a terminal's Ctrl-C does
        else:
            sc.host.run("kill", "-TERM", tool[0])
        deadline = time.monotonic() + 90  # nsenter may die first: wait for the tool itself (a loaded 2-core CI machine: runc is slow to stop)
        while sc.host.run("kill", "-0", tool[0], check=False).returncode == 0:
            assert time.monotonic() < deadline, "the tool did not finish after the signal"
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert storage_leftovers(sc) == []
    assert sc.host.run("runc", "list", "-q").stdout.strip() == ""
