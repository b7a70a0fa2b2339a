"""Foreground unit templates (atomic's etcd/flannel style: ``ExecStart=$EXEC_START``, no
``$PIDFILE``/``$EXEC_STOPPOST``) run their container detached on a real systemd test host: no
runtime process stays resident, and the template's semantics hold — output in the unit's
journal, stop delivers SIGTERM, a non-zero exit is the service's, update and rollback work
(docs/templates.md "Foreground templates run detached")."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tests.fixtures.examples import FOREGROUND_TEMPLATE, example_spec
from tests.fixtures.images import build_oci_layout
from tests.integration.sc_host import ScHost, free_port, http_get
from tests.integration.test_service_state import wait_for, with_process

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.registry]

# As atomic's flannel/etcd templates: the runtime in the foreground as the service.
ETCD_LIKE = FOREGROUND_TEMPLATE

CHATTY = ("echo fg-out-$NAME; echo fg-err-$NAME >&2; "
          "trap 'echo fg-term-$NAME; exit 0' TERM; while true; do sleep 1; done")


@pytest.fixture(scope="module")
def images(registry, tmp_path_factory):
    root = tmp_path_factory.mktemp("foreground-images")
    specs = {
        "v1": example_spec(index_html="fg v1\n"),
        "v2": example_spec(index_html="fg v2\n"),
        "chatty": with_process(example_spec(index_html="fg chatty\n"), CHATTY),
        # runs a moment, then fails (one that exits before systemd has read the PID file
        # fails its start with Result=protocol instead: docs/templates.md)
        "exit7": with_process(example_spec(index_html="fg exit\n"), "sleep 2; echo bye; exit 7"),
    }
    refs = {}
    for tag, spec in specs.items():
        spec = replace(spec, exports={**spec.exports, "service.template": ETCD_LIKE})
        refs[tag] = registry.push(build_oci_layout(spec, root / tag, tag).layout, tag,
                                  "fg/img")
    return refs


def service_processes(sc: ScHost, name: str) -> list[tuple[int, str]]:
    """(pid, comm) of every process in the service's cgroup and below (the unified
    hierarchy systemd tracks processes by)."""
    out = sc.host.run("sh", "-c", f"cat $(find /sys/fs/cgroup/unified/system.slice/{name}.service "
                      "-name cgroup.procs)", check=False).stdout
    procs = []
    for pid in sorted({int(p) for p in out.split()}):
        comm = sc.host.run("cat", f"/proc/{pid}/comm", check=False).stdout.strip()
        if comm:
            procs.append((pid, comm))
    return procs


def show(sc: ScHost, name: str, *props: str) -> dict[str, str]:
    out = sc.host.run("systemctl", "show", "-p", ",".join(props), f"{name}.service").stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def test_foreground_template_runs_without_a_resident_runtime(sc, images, testhost_units):
    name = "fgchat"
    testhost_units.append(f"{name}.service")
    sc.ok("install", "--name", name, images["chatty"])
    try:
        unit = sc.path(f"/etc/systemd/system/{name}.service").read_text()
        assert "Type=forking" in unit and "Description=fgchat (etcd-like)" in unit
        sc.ok("start", name)
        journal = lambda: sc.host.run("journalctl", "--no-pager", "-u",  # noqa: E731
                                      f"{name}.service", check=False).stdout
        wait_for("the container's output", lambda: f"fg-err-{name}" in journal())
        assert f"fg-out-{name}" in journal()
        procs = service_processes(sc, name)
        assert procs and not [c for _, c in procs if c.startswith("runc")], procs
        state = json.loads(sc.host.run("runc", "state", name).stdout)
        assert show(sc, name, "MainPID")["MainPID"] == str(state["pid"])   # the container's init
        sc.ok("stop", name)
        assert f"fg-term-{name}" in journal()             # SIGTERM reached the container
        props = show(sc, name, "Result", "ExecMainStatus")
        assert props == {"Result": "success", "ExecMainStatus": "0"}
        assert sc.host.run("runc", "state", name, check=False).returncode != 0
    finally:
        sc.sc("uninstall", name)


def test_foreground_template_exit_status_is_the_services(sc, images, testhost_units):
    name = "fgexit"
    testhost_units.append(f"{name}.service")
    # no restarts: one failure to look at
    sc.ok("install", "--name", name, images["exit7"])
    try:
        unit = sc.path(f"/etc/systemd/system/{name}.service")
        unit.write_text(unit.read_text().replace("Restart=on-failure", "Restart=no"))
        sc.host.run("systemctl", "daemon-reload")
        sc.host.run("systemctl", "start", f"{name}.service")    # started: it fails later
        wait_for("the unit to fail", lambda: show(sc, name, "ActiveState")["ActiveState"]
                 == "failed")
        assert show(sc, name, "Result", "ExecMainCode", "ExecMainStatus") == {
            "Result": "exit-code", "ExecMainCode": "1", "ExecMainStatus": "7"}
        assert "bye" in sc.host.run("journalctl", "--no-pager", "-u", f"{name}.service").stdout
        # the delete after stop ran: the next start is not refused by a leftover container
        assert sc.host.run("runc", "state", name, check=False).returncode != 0
    finally:
        sc.sc("uninstall", name)


def test_foreground_template_update_and_rollback(sc, images, testhost_units):
    name, port = "fgupd", free_port()
    testhost_units.append(f"{name}.service")
    sc.ok("install", "--name", name, "--set", f"PORT={port}", images["v1"])
    try:
        sc.ok("start", name)
        assert http_get(port) == "fg v1\n"
        sc.ok("update", name, "--rebase", images["v2"])
        assert http_get(port) == "fg v2\n" and sc.status(name) == "running"
        assert not [c for _, c in service_processes(sc, name) if c.startswith("runc")]
        sc.ok("rollback", name)
        assert http_get(port) == "fg v1\n" and sc.status(name) == "running"
        assert not [c for _, c in service_processes(sc, name) if c.startswith("runc")]
    finally:
        sc.sc("uninstall", name)
