"""Service state on a real systemd test host: the container's output is its service's,
`list` tells a crash loop from a running service, update/rollback keep the enablement the
operator chose, and no runtime container outlives its unit (docs/operations.md "Service state
across update, rollback, stop and uninstall")."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest

from tests.fixtures.examples import config_template, example_spec
from tests.fixtures.images import ImageSpec, build_oci_layout
from tests.integration.sc_host import CHECKOUTS, ScHost, free_port, http_get
from tests.testhost.host import REPO_ROOT

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.registry]

FOREGROUND_UNIT = """\
[Unit]
Description=$NAME (foreground)

[Service]
ExecStart=$EXEC_START
ExecStop=$EXEC_STOP
WorkingDirectory=$DESTDIR

[Install]
WantedBy=multi-user.target
"""

# Crashes a second after each start; restarted every 2 s, forever (no start limit).
LOOP_UNIT = """\
[Unit]
Description=$NAME (crash loop)
StartLimitIntervalSec=0

[Service]
Type=forking
ExecStart=$EXEC_START
ExecStopPost=$EXEC_STOPPOST
Restart=on-failure
RestartSec=2
WorkingDirectory=$DESTDIR
PIDFile=$PIDFILE

[Install]
WantedBy=multi-user.target
"""

# Type=notify and never READY (as flanneld before it is configured): runc waits for READY
# and ignores SIGTERM until then, so systemd kills it after TimeoutStopSec.
NOTREADY_UNIT = """\
[Unit]
Description=$NAME (never ready)

[Service]
Type=notify
ExecStart={exec_start}
ExecStop=$EXEC_STOP
TimeoutStartSec=3
TimeoutStopSec=3
WorkingDirectory=$DESTDIR

[Install]
WantedBy=multi-user.target
"""


def with_process(spec: ImageSpec, script: str, unit: str | None = None,
                 cgroups_path: str | None = None) -> ImageSpec:
    """The example image running ``sh -c script``, with its own service.template if given."""
    cfg = json.loads(config_template())
    cfg["process"]["args"] = ["/bin/sh", "-c", script]
    if cgroups_path:
        cfg["linux"]["cgroupsPath"] = cgroups_path
    exports = {**spec.exports, "config.json.template": json.dumps(cfg)}
    if unit is not None:
        exports["service.template"] = unit
    return replace(spec, exports=exports)


CHATTY = ("echo chatty-out-$NAME; echo chatty-err-$NAME >&2; "
          "trap 'echo got-term-$NAME; exit 0' TERM; while true; do sleep 1; done")
STUBBORN = "echo waiting-for-nothing; trap '' TERM; while true; do sleep 1; done"


@pytest.fixture(scope="module")
def images(registry, tmp_path_factory):
    root = tmp_path_factory.mktemp("service-state-images")
    base = example_spec(index_html="state\n")
    specs = {
        "v1": example_spec(index_html="hello v1\n"),
        "v2": example_spec(index_html="hello v2\n"),
        "chatty": with_process(base, CHATTY),                       # detached (example unit)
        "chatty-fg": with_process(base, CHATTY, FOREGROUND_UNIT),   # runc in the foreground
        "loop": with_process(base, "echo looping; sleep 1; exit 3", LOOP_UNIT),
        "notready": with_process(base, STUBBORN, NOTREADY_UNIT.format(exec_start="$EXEC_START")),
        # a unit as older versions rendered it: the container in a runc-NAME.scope, outside
        # the unit's cgroup, so it survives the unit being killed
        "notready-scope": with_process(
            base, STUBBORN,
            NOTREADY_UNIT.format(exec_start="/usr/sbin/runc --systemd-cgroup run $NAME"),
            cgroups_path="system.slice:runc:$NAME"),
    }
    return {tag: registry.push(build_oci_layout(spec, root / tag, tag).layout, tag, "state/img")
            for tag, spec in specs.items()}


def runc_has(sc: ScHost, name: str) -> bool:
    return sc.host.run("runc", "state", name, check=False).returncode == 0


def wait_for(what, check, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def enablement(sc: ScHost, name: str) -> str:
    return sc.host.run("systemctl", "is-enabled", f"{name}.service", check=False).stdout.strip()


# ------------------------------------------------------------------ output in the unit's journal

@pytest.mark.parametrize("tag", ["chatty", "chatty-fg"])
def test_container_output_is_in_the_units_journal(sc, images, tag, testhost_units):
    name = f"out-{tag}"
    testhost_units.append(f"{name}.service")
    sc.ok("install", "--name", name, images[tag])
    try:
        sc.ok("start", name)
        only_unit = lambda: sc.host.run("journalctl", "--no-pager", "-u",  # noqa: E731
                                        f"{name}.service", check=False).stdout
        wait_for("the container's output", lambda: f"chatty-err-{name}" in only_unit())
        assert f"chatty-out-{name}" in only_unit()
        verbose = sc.host.run("journalctl", "--no-pager", "-o", "verbose",
                              f"MESSAGE=chatty-out-{name}").stdout
        assert f"_SYSTEMD_UNIT={name}.service" in verbose and ".scope" not in verbose
        assert f"chatty-out-{name}" in sc.ok("logs", name).out
        assert f"chatty-out-{name}" in sc.host.run("systemctl", "status", "-n", "20",
                                                   f"{name}.service", check=False).stdout
        pid = json.loads(sc.host.run("runc", "state", name).stdout)["pid"]
        cgroup = sc.host.run("cat", f"/proc/{pid}/cgroup").stdout
        assert f"0::/system.slice/{name}.service/container" in cgroup.splitlines()
        sc.ok("stop", name)
        assert f"got-term-{name}" in only_unit()         # stopped by SIGTERM, as before
        assert not runc_has(sc, name)
        assert sc.host.run("test", "-d", f"/sys/fs/cgroup/unified/system.slice/{name}.service",
                           check=False).returncode != 0
    finally:
        sc.sc("uninstall", name)
    assert not runc_has(sc, name) and sc.traces(name) == []


# ------------------------------------------------------------------ list: crash loops

def test_list_shows_a_crash_loop_as_restarting(sc, images, testhost_units):
    name = "loop1"
    testhost_units.append(f"{name}.service")
    sc.ok("install", "--name", name, images["loop"])
    try:
        sc.ok("start", name)
        wait_for("an automatic restart",
                 lambda: sc.listing()[name]["status"] == "restarting"
                 and sc.listing()[name]["restarts"] >= 1)
        # the table says so too, with the count (it runs a second between restarts)
        wait_for("the table to say restarting", lambda: any(
            line.split()[0] == name and "restarting (" in line
            for line in sc.ok("list").out.splitlines()[1:]))
        sc.ok("stop", name)
        assert sc.listing()[name]["status"] == "inactive"
    finally:
        sc.sc("uninstall", name)


def test_statuses_of_hundreds_of_units_take_two_systemctl_processes(sc, images):
    """The real systemd answers; the processes are counted around proc.run."""
    name = "many1"
    sc.ok("install", "--name", name, "--set", f"PORT={free_port()}", images["v1"])
    try:
        sc.ok("start", name)
        script = (
            "import json, sys\n"
            "from syscontainers.service import systemd as sd\n"
            "calls = []\n"
            "real = sd.run\n"
            "sd.run = lambda args, **kw: calls.append(args) or real(args, **kw)\n"
            f"units = ['{name}.service'] + [f'nosuch{{i}}.service' for i in range(300)]\n"
            "got = sd.Systemd(False).statuses(units)\n"
            "print(json.dumps({'calls': len(calls), 'mine': got['{name}.service'].status,\n"
            "                  'other': sorted({s.status for u, s in got.items()\n"
            "                                   if u != '{name}.service'})}))\n"
        ).replace("{name}", name)
        out = sc.host.run(str(REPO_ROOT / ".venv/bin/python"), "-c", script).stdout
        got = json.loads(out)
        assert got == {"calls": 2, "mine": "running", "other": ["no service"]}
    finally:
        sc.sc("uninstall", name)


# ------------------------------------------------------------------ enablement across switches

def test_update_and_rollback_keep_a_disabled_unit_disabled(sc, images, testhost_units):
    name, port = "en1", free_port()
    testhost_units.append(f"{name}.service")
    sc.ok("install", "--name", name, "--set", f"PORT={port}", images["v1"])
    try:
        sc.host.run("systemctl", "disable", f"{name}.service")
        sc.ok("update", name, "--rebase", images["v2"])
        assert enablement(sc, name) == "disabled" and sc.status(name) == "inactive"
        sc.ok("rollback", name)
        assert enablement(sc, name) == "disabled" and sc.status(name) == "inactive"
        # running and disabled: running and disabled after the update
        sc.ok("start", name)
        sc.ok("update", name, "--rebase", images["v2"])
        assert http_get(port) == "hello v2\n"
        assert enablement(sc, name) == "disabled" and sc.status(name) == "running"
        # enabled again by the operator: stays enabled
        sc.host.run("systemctl", "enable", f"{name}.service")
        sc.ok("rollback", name)
        assert enablement(sc, name) == "enabled" and http_get(port) == "hello v1\n"
    finally:
        sc.sc("uninstall", name)


def test_crash_recovery_keeps_a_disabled_unit_disabled(sc, images):
    name, port = "en2", free_port()
    sc.ok("install", "--name", name, "--set", f"PORT={port}", images["v1"])
    try:
        sc.host.run("systemctl", "disable", f"{name}.service")
        r = sc.sc("update", name, "--rebase", images["v2"],
                  env={"SYSCONTAINERS_CRASH_AT": "switch-link"})
        assert r.code in (-9, 137), r.text
        marker = json.loads(sc.path(CHECKOUTS / f".{name}.switching").read_text())
        assert marker == {"was-running": False, "was-enabled": False}
        sc.ok("update", name, "--rebase", images["v2"])   # reconciles first
        assert enablement(sc, name) == "disabled" and sc.status(name) == "inactive"
        assert not sc.exists(CHECKOUTS / f".{name}.switching")
    finally:
        sc.sc("uninstall", name)


# ------------------------------------------------------------------ no container outlives its unit

@pytest.mark.parametrize("tag", ["notready", "notready-scope"])
def test_uninstall_of_a_unit_that_never_got_ready_leaves_no_container(sc, images, tag,
                                                                      testhost_units):
    name = f"nr-{tag}"
    testhost_units.append(f"{name}.service")
    sc.ok("install", "--name", name, images[tag])
    try:
        sc.host.run("systemctl", "start", "--no-block", f"{name}.service")
        wait_for("the container to run", lambda: runc_has(sc, name))
        pid = json.loads(sc.host.run("runc", "state", name).stdout)["pid"]
        r = sc.ok("uninstall", name)
        assert f"uninstalled {name}" in r.out
        assert not runc_has(sc, name)
        assert name not in sc.host.run("runc", "list", "-q").stdout.split()
        assert sc.host.run("test", "-d", f"/proc/{pid}", check=False).returncode != 0
        assert sc.traces(name) == []
        # the name is free again: a fresh install and start work
        port = free_port()
        sc.ok("install", "--name", name, "--set", f"PORT={port}", images["v1"])
        sc.ok("start", name)
        assert http_get(port) == "hello v1\n"
    finally:
        sc.sc("uninstall", name)
    assert not runc_has(sc, name)


def test_stop_and_start_clean_up_what_a_killed_runtime_left(sc, images, testhost_units):
    name = "nr-stop"
    testhost_units.append(f"{name}.service")
    sc.ok("install", "--name", name, images["notready"])
    try:
        # a start that times out: systemd kills runc, its state stays behind
        r = sc.sc("start", name)
        assert r.code != 0
        wait_for("the unit to fail", lambda: sc.status(name) == "failed")
        assert runc_has(sc, name)           # what runc left (the problem this guards against)
        sc.ok("stop", name)
        assert not runc_has(sc, name)
    finally:
        sc.sc("uninstall", name)


def test_start_removes_a_stale_container_of_the_same_name(sc, images, testhost_units):
    name, port = "stale1", free_port()
    testhost_units.append(f"{name}.service")
    sc.ok("install", "--name", name, "--set", f"PORT={port}", images["v1"])
    try:
        # a container NAME the unit does not own (left by a killed runtime): it holds the port
        # and the name, and `runc run` would say "container with given ID already exists"
        sc.host.run("sh", "-c", f"cd {CHECKOUTS}/{name}.0 && runc run -d {name} "
                    "</dev/null >/dev/null 2>&1")
        stale = json.loads(sc.host.run("runc", "state", name).stdout)["pid"]
        sc.ok("start", name)
        assert http_get(port) == "hello v1\n"
        main = sc.host.run("systemctl", "show", "-p", "MainPID", "--value",
                           f"{name}.service").stdout.strip()
        assert json.loads(sc.host.run("runc", "state", name).stdout)["pid"] == int(main) != stale
        assert sc.host.run("test", "-d", f"/proc/{stale}", check=False).returncode != 0
    finally:
        sc.sc("uninstall", name)
    assert not runc_has(sc, name)


def test_exec_of_a_stopped_container_stays_out_of_the_service_cgroup(sc, images):
    name = "exo1"
    sc.ok("install", "--name", name, "--set", f"PORT={free_port()}", images["v1"])
    try:
        cfg = json.loads(sc.path(CHECKOUTS / f"{name}.0/config.json").read_text())
        assert cfg["linux"]["cgroupsPath"] == f"/system.slice/{name}.service/container"
        r = sc.ok("exec", name, "/bin/cat", "/proc/self/cgroup")
        assert f"{name}.service" not in r.out and "0::" in r.out, r.out
    finally:
        sc.sc("uninstall", name)
