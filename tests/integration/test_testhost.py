"""The systemd test host boots, runs units and real runc containers, and leaves no trace."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from tests.testhost import TestHost, cgroups
from tests.testhost.host import REPO_ROOT, Bind, mounts_under

# Registers the fixtures and the failure-report hook (a no-op when the root conftest already
# does).

pytestmark = [pytest.mark.systemd, pytest.mark.root]

# Kernel settings a booted systemd would change on the machine if it could (systemd-sysctl,
# Debian's sysctl.d); they must be the same after a test host's life.
WATCHED_SYSCTLS = (
    "fs/file-max", "fs/nr_open", "kernel/pid_max", "kernel/sysrq", "kernel/core_pattern",
    "kernel/core_uses_pid", "kernel/kptr_restrict", "fs/protected_hardlinks",
    "fs/protected_symlinks", "fs/protected_regular", "fs/protected_fifos",
    "net/ipv4/ping_group_range", "net/core/default_qdisc", "kernel/hostname",
)
BUSYBOX = Path("/usr/bin/busybox")


def _machine_snapshot() -> dict:
    sysctls = {}
    for name in WATCHED_SYSCTLS:
        p = Path("/proc/sys") / name
        sysctls[name] = p.read_text() if p.exists() else None
    cgroup_mounts = [line.split()[4:6] for line in Path("/proc/self/mountinfo").read_text()
                     .splitlines() if line.split()[4].startswith("/sys/fs/cgroup")]
    # Other test sessions may run hosts of their own at the same time: only ours count.
    ours = [p for p in cgroups.stale() if p.name.startswith(f"{cgroups.PREFIX}{os.getpid()}-")]
    return {"sysctls": sysctls, "cgroup_mounts": cgroup_mounts, "our_cgroups": ours}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _make_bundle(host: TestHost, inside: str, args: list[str], userns: bool = False) -> Path:
    """A runc bundle at ``inside`` (a path in the test host): busybox rootfs, ``runc spec``."""
    bundle = host.path(inside)
    for d in ("bin", "www", "proc", "sys", "dev", "tmp"):
        (bundle / "rootfs" / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, bundle / "rootfs/bin/busybox")
    for applet in ("sh", "httpd", "cat", "id"):
        (bundle / "rootfs/bin" / applet).symlink_to("busybox")
    (bundle / "rootfs/www/index.html").write_text("hello from a test host\n")
    spec = ["runc", "spec", "--bundle", inside] + (["--rootless"] if userns else [])
    host.run(*spec)
    config_path = bundle / "config.json"
    config = json.loads(config_path.read_text())
    config["process"].update(args=args, terminal=False)
    config["root"]["readonly"] = True
    linux = config["linux"]
    linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "network"]
    if userns:
        linux["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
        linux["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    config_path.write_text(json.dumps(config, indent=2))
    return bundle


def _fetch(url: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _wait_for(read, text: str, timeout: float = 5) -> str:
    deadline = time.monotonic() + timeout
    while text not in (out := read()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return out


def _install_runc_unit(host: TestHost, name: str, bundle_inside: str) -> str:
    unit = f"{name}.service"
    host.path(f"/etc/systemd/system/{unit}").write_text(
        "[Unit]\nDescription=test container %s\n\n"
        "[Service]\nType=forking\nPIDFile=/run/%s.pid\n"
        "ExecStart=/usr/sbin/runc --systemd-cgroup run -d --pid-file /run/%s.pid "
        "--bundle %s %s\n"
        # busybox is PID 1 of the container and ignores SIGTERM: stop it with SIGKILL
        "ExecStop=/usr/sbin/runc kill %s KILL\n"
        "ExecStopPost=/usr/sbin/runc delete --force %s\n" % (
            name, name, name, bundle_inside, name, name, name))
    host.run("systemctl", "daemon-reload")
    return unit


def test_boots_to_running(testhost: TestHost):
    state = testhost.run("systemctl", "is-system-running", check=False).stdout.strip()
    assert state in ("running", "degraded"), testhost.failed_units()
    assert testhost.run("cat", "/proc/1/comm").stdout.strip() == "systemd"
    assert testhost.run("systemd-detect-virt", "--container", check=False).stdout.strip() \
        == "container-other"
    # The repository (and its venv) is there, at its own path.
    assert testhost.run("test", "-x", str(REPO_ROOT / ".venv/bin/python"),
                        check=False).returncode == 0


def test_private_dev_sys_and_cgroups(testhost: TestHost):
    mounts = testhost.run("findmnt", "-rn", "-o", "TARGET,FSTYPE,OPTIONS").stdout
    table = {line.split()[0]: line.split()[1:] for line in mounts.splitlines()}
    assert table["/sys"][0] == "sysfs" and table["/sys"][1].startswith("ro")
    assert table["/usr"][1].startswith("ro")
    assert table["/dev"][0] == "tmpfs"
    assert "/proc/sys" not in table, "/proc/sys stays read-only after the boot"
    # systemd sees its cgroup subtree as the root.
    assert testhost.run("cat", "/proc/1/cgroup").stdout.splitlines()[-1] == "0::/init.scope"


def test_file_unit_and_transient_unit(testhost: TestHost, testhost_units: list[str]):
    testhost_units += ["sc-test-oneshot.service", "sc-test-transient.service"]
    testhost.path("/etc/systemd/system/sc-test-oneshot.service").write_text(
        "[Service]\nType=oneshot\nRemainAfterExit=yes\n"
        "ExecStart=/bin/sh -c 'echo oneshot-ran > /run/sc-test-oneshot'\n")
    testhost.run("systemctl", "daemon-reload")
    testhost.run("systemctl", "start", "sc-test-oneshot.service")
    assert testhost.run("systemctl", "is-active", "sc-test-oneshot.service").stdout.strip() \
        == "active"
    assert testhost.run("cat", "/run/sc-test-oneshot").stdout == "oneshot-ran\n"
    testhost.run("systemctl", "stop", "sc-test-oneshot.service")

    testhost.run("systemd-run", "--unit", "sc-test-transient", "--wait", "--quiet",
                 "/bin/sh", "-c", "echo transient-said-hello")
    assert "transient-said-hello" in testhost.journal("sc-test-transient.service")


def test_runc_container_as_a_service(testhost: TestHost, testhost_units: list[str]):
    name, port = "sc-test-httpd", _free_port()
    testhost_units.append(f"{name}.service")
    bundle_inside = "/var/lib/test-bundle"
    _make_bundle(testhost, bundle_inside,
                 ["/bin/busybox", "httpd", "-f", "-vv", "-p", f"127.0.0.1:{port}", "-h", "/www"])
    unit = _install_runc_unit(testhost, name, bundle_inside)
    try:
        testhost.run("systemctl", "start", unit)
        assert testhost.run("systemctl", "is-active", unit).stdout.strip() == "active"
        assert _fetch(f"http://127.0.0.1:{port}/") == "hello from a test host\n"
        scope = testhost.run("systemctl", "show", "-P", "ActiveState",
                             f"runc-{name}.scope").stdout.strip()
        assert scope == "active"
        # The container's own stderr (httpd -vv logs each request) reaches the journal.
        journal = _wait_for(lambda: testhost.journal(unit), "url:/")
        assert "url:/" in journal and f"Started {unit}" in journal, journal
    finally:
        testhost.run("systemctl", "stop", unit, check=False)
    assert testhost.run("systemctl", "is-active", unit, check=False).stdout.strip() \
        in ("inactive", "failed")
    assert name not in testhost.run("runc", "list", "-q").stdout
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)


def test_container_with_a_user_namespace(testhost: TestHost):
    _make_bundle(testhost, "/var/lib/test-userns",
                 ["/bin/busybox", "sh", "-c", "cat /proc/self/uid_map; id -u; cat /www/index.html"],
                 userns=True)
    out = testhost.run("runc", "run", "--bundle", "/var/lib/test-userns", "sc-test-userns",
                       timeout=60).stdout
    uid_map = out.splitlines()[0].split()
    assert uid_map == ["0", "200000", "65536"]
    assert out.splitlines()[1:] == ["0", "hello from a test host"]
    assert "sc-test-userns" not in testhost.run("runc", "list", "-q").stdout


def test_user_manager(testhost: TestHost, testhost_units: list[str]):
    uid = testhost.start_user("tester")
    testhost_units.append(f"user@{uid}.service")
    state = testhost.run_as_user("tester", "systemctl", "--user", "is-system-running",
                                 check=False).stdout.strip()
    assert state in ("running", "degraded"), state
    testhost.run_as_user("tester", "systemd-run", "--user", "--wait", "--quiet",
                         "--unit", "sc-test-user-unit", "/bin/sh", "-c", "id -u > /tmp/uid")
    whoami = testhost.run_as_user("tester", "id", "-u").stdout.strip()
    assert whoami == str(uid)
    assert re.search(r"^tester:\d+:65536$", testhost.path("/etc/subuid").read_text(), re.M)  # any free range


def test_teardown_leaves_no_trace(tmp_path: Path):
    """A host of its own, with a container running, stopped: the machine is as before."""
    before = _machine_snapshot()
    host = TestHost(tmp_path / "host", binds=[Bind(REPO_ROOT, readonly=True)])
    try:
        host.start()
        pid, name, port = host.pid, "sc-test-teardown", _free_port()
        _make_bundle(host, "/var/lib/b", ["/bin/busybox", "httpd", "-f", "-p",
                                         f"127.0.0.1:{port}", "-h", "/www"])
        host.run("systemctl", "start", _install_runc_unit(host, name, "/var/lib/b"))
        assert _fetch(f"http://127.0.0.1:{port}/") == "hello from a test host\n"
        sub = host._cgroups
        assert sub is not None and sub.pids()
    finally:
        host.stop()
    host.stop()   # idempotent
    print(f"boot {host.boot_seconds:.2f} s, teardown {host.stop_seconds:.2f} s")
    assert not Path(f"/proc/{pid}").exists()
    assert not any(d.exists() for d in sub.dirs)
    assert not (tmp_path / "host").exists()
    assert not mounts_under(tmp_path)
    assert _machine_snapshot() == before
    assert all(opts.startswith("rw") for _, opts in before["cgroup_mounts"])
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)


def test_a_bind_over_private_paths_is_refused(tmp_path: Path):
    from tests.testhost import TestHostError
    with pytest.raises(TestHostError):
        TestHost(tmp_path, binds=[(tmp_path, Path("/usr/lib/x"))])
    assert os.listdir(tmp_path) == []
