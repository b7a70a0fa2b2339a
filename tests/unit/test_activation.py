"""The order and the undo of the activation steps (lifecycle/activation.py) for install,
update/rollback (switch), reconcile and uninstall, over a Host whose systemd, rpm and runtime
are fakes that record their calls into one log. The same verbs run against the real systemd
in tests/integration/test_lifecycle.py, test_update.py and test_service_state.py."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from syscontainers import faults
from syscontainers.deploy import deployment as dl
from syscontainers.errors import CommandError, ServiceError
from syscontainers.lifecycle import activation as act
from syscontainers.lifecycle import install, remove, switch, update
from syscontainers.lifecycle.activation import Host, UndoStack
from syscontainers.service.systemd import ServiceManager, ServiceState

NAME = "web"
UNIT = f"{NAME}.service"
UNIT_TEXT = "[Service]\nExecStart=/bin/true\n"
TMPFILES_TEXT = "d /run/web 0755 root root -\n"


class FakeSystemd:
    """Records every call into ``log``; ``fail`` names the call that raises ServiceError."""

    user_mode = False

    def __init__(self, log: list, active: bool = False, enabled: bool = True):
        self.log, self.active, self.enabled, self.fail = log, active, enabled, None
        self.stale = False     # needs_reload: whether systemd has the unit as on disk

    def _call(self, *entry) -> None:
        self.log.append(entry)
        if self.fail == entry[0] or self.fail == entry:
            self.fail = None
            raise ServiceError(f"{entry[0]} failed")

    def daemon_reload(self): self._call("daemon-reload")
    def enable(self, unit, reload=True): self._call("enable", unit, reload)
    def disable_now(self, unit, reload=True): self._call("disable-now", unit, reload)
    def start(self, unit): self._call("start", unit)
    def stop(self, unit): self._call("stop", unit)
    def reset_failed(self, unit): self._call("reset-failed", unit)
    def tmpfiles(self, action, conf): self._call("tmpfiles", action)
    def journal_args(self, name): return []
    def needs_reload(self, unit): return self.log.append(("needs-reload",)) or self.stale

    def is_active(self, unit):
        return self.active

    def is_enabled(self, unit):
        return self.enabled

    def statuses(self, units):
        self.log.append(("statuses",))
        return {u: ServiceState("inactive") for u in units}


class FakeRpm:
    def __init__(self, log: list):
        self.log, self.fail = log, None

    def _call(self, *entry):
        self.log.append(entry)
        if self.fail == entry[0]:
            self.fail = None
            raise CommandError(f"{entry[0]} failed")

    def upgrade(self, rpm_file): self._call("rpm -U", rpm_file.name)
    def erase(self, package): self._call("rpm -e", package)
    def is_installed(self, package): return True


@pytest.fixture(autouse=True)
def no_fsync(monkeypatch):
    """Durability is not what these tests check (a crash is simulated by the markers left,
    and the real crash tests run on the test host); fsync on the disk is most of their time."""
    import os
    monkeypatch.setattr(os, "fsync", lambda fd: None)


@pytest.fixture
def log():
    return []


@pytest.fixture
def host(store_paths, log, monkeypatch):
    store_paths.checkouts.mkdir(parents=True)
    monkeypatch.setattr(faults, "point", lambda name: log.append(("point", name, _markers(store_paths))))
    systemd = FakeSystemd(log)
    h = Host(store_paths, systemd, FakeRpm(log),
             remove_container=lambda runtime, name: log.append(("runtime delete", name)) or False,
             may_have_container=lambda runtime, name, user_mode: True)   # always look
    # every verb builds its Host from paths: it gets this one
    monkeypatch.setattr(Host, "for_paths", classmethod(lambda cls, paths, rpm=None: h))
    return h


def _markers(paths) -> tuple[str, ...]:
    return tuple(m for m, path in (("installing", dl.installing_marker(paths, NAME)),
                                   ("switching", dl.switching_marker(paths, NAME)))
                 if path.exists())


def systemd_calls(log: list) -> list:
    return [e for e in log if e[0] not in ("point", "statuses")]


def make_deployment(paths, index: int, revision: str, package: bool = False) -> dl.Deployment:
    dep = dl.deployment(paths, NAME, index)
    dep.path.mkdir()
    info = dl.InstallInfo(image="example/web", revision=revision, ostree_commit="c", created=0,
                          values={}, runtime="/bin/true",
                          rpm_installed=f"{NAME}-{revision}.rpm" if package else None)
    dep.info_path.write_text(info.to_json())
    dep.unit_copy.write_text(UNIT_TEXT + f"# {revision}\n")
    dep.tmpfiles_copy.write_text(TMPFILES_TEXT)
    return dep


def installed(paths, package: bool = False) -> tuple[dl.Deployment, dl.Deployment]:
    """NAME.0 live (its unit and tmpfiles file on the host), NAME.1 the other deployment."""
    cur = make_deployment(paths, 0, "v1", package)
    prev = make_deployment(paths, 1, "v0", package)
    dl.switch_link(paths, NAME, cur)
    paths.units_dir.mkdir()
    paths.tmpfiles_dir.mkdir()
    paths.unit_file(NAME).write_text(cur.unit_copy.read_text())
    paths.tmpfiles_file(NAME).write_text(TMPFILES_TEXT)
    return cur, prev


def test_the_real_systemd_implements_the_protocol():
    from syscontainers.service.systemd import Systemd
    wanted = {m for m in vars(ServiceManager) if not m.startswith("_")} - {"user_mode"}
    assert wanted <= set(dir(Systemd)) and wanted <= set(dir(FakeSystemd))


# ---------------------------------------------------------------------------------- undo stack

def test_undo_stack_runs_undos_in_reverse_reports_failures_and_reraises():
    done, said = [], []
    with pytest.raises(KeyError):
        with UndoStack(said.append, "while undoing x") as undo:
            undo.push(lambda: done.append(1))
            undo.push(lambda: (_ for _ in ()).throw(OSError("disk full")))
            undo.push(lambda: done.append(3))
            raise KeyError("step")
    assert done == [3, 1]
    assert said == ["warning: while undoing x: disk full"]


def test_undo_stack_left_normally_or_committed_undoes_nothing():
    done = []
    with UndoStack(done.append, "x") as undo:
        undo.push(lambda: done.append("undone"))
    assert done == []
    with pytest.raises(KeyError):
        with UndoStack(done.append, "x") as undo:
            undo.push(lambda: done.append("undone"))
            undo.commit()
            raise KeyError("after the commit point")
    assert done == []


# ------------------------------------------------------------------------------------ install

def built(paths, unit=UNIT_TEXT, tmpfiles=TMPFILES_TEXT):
    dep = dl.deployment(paths, NAME, 0)
    dep.path.mkdir()
    return SimpleNamespace(deployment=dep, info=None, rendered=SimpleNamespace(
        unit=unit, tmpfiles=tmpfiles, host_files=()))


def package(log):
    def put():
        log.append(("rpm -i",))
        return lambda: log.append(("rpm -e",))
    return put


def test_install_order_and_markers(host, log):
    b = built(host.paths)
    install.activate(host, b, print, host_package=package(log))
    assert log == [
        ("rpm -i",),
        ("point", "install-unit", ("installing",)),
        ("point", "install-link", ("installing",)),
        ("enable", UNIT, False), ("daemon-reload",), ("tmpfiles", "create")]
    assert _markers(host.paths) == ()
    assert dl.current(host.paths, NAME) == b.deployment
    assert host.paths.unit_file(NAME).read_text() == UNIT_TEXT


# the failing step -> the undo calls, in order, after it
INSTALL_FAILURES = [
    (("rpm -i",), []),
    (("enable",), [("rpm -e",)]),
    (("daemon-reload",), [("disable-now", UNIT, True), ("rpm -e",)]),
    (("tmpfiles",), [("daemon-reload",), ("disable-now", UNIT, True), ("rpm -e",)]),
]


@pytest.mark.parametrize("failing, undos", INSTALL_FAILURES, ids=lambda v: str(v))
def test_install_failure_undoes_what_was_done_in_reverse(host, log, failing, undos):
    host.systemd.fail = failing[0]
    put = package(log)
    if failing == ("rpm -i",):
        def put():
            raise CommandError("rpm -i failed")
    b = built(host.paths)
    said = []
    with pytest.raises((ServiceError, CommandError)):
        install.activate(host, b, said.append, host_package=put)
    calls = systemd_calls(log)
    at = next(i for i, e in enumerate(calls) if e[0] == failing[0]) if failing != ("rpm -i",) else -1
    assert calls[at + 1:] == undos
    _assert_nothing_installed(host)
    assert said == []


def test_install_failure_writing_the_unit_undoes_the_host_files(host, log):
    host.paths.units_dir.parent.mkdir(parents=True, exist_ok=True)
    host.paths.units_dir.write_text("not a directory")
    with pytest.raises(OSError):
        install.activate(host, built(host.paths), print, host_package=package(log))
    assert systemd_calls(log) == [("rpm -i",), ("rpm -e",)]
    assert not dl.deployment(host.paths, NAME, 0).path.exists()
    assert _markers(host.paths) == ()


def _assert_nothing_installed(host):
    p = host.paths
    assert not dl.link_path(p, NAME).is_symlink()
    assert not p.unit_file(NAME).exists() and not p.tmpfiles_file(NAME).exists()
    assert not dl.deployment(p, NAME, 0).path.exists()
    assert _markers(p) == ()


def test_install_undo_keeps_a_unit_file_that_is_no_longer_ours(host, log, monkeypatch):
    """The undo removes the unit file only while it holds what install wrote."""
    def replaced(name):
        log.append(("point", name, ()))
        if name == "install-link":
            host.paths.unit_file(NAME).write_text("# the operator's\n")
            raise OSError("crash stand-in")
    monkeypatch.setattr(faults, "point", replaced)
    with pytest.raises(OSError):
        install.activate(host, built(host.paths), print)
    assert host.paths.unit_file(NAME).read_text() == "# the operator's\n"
    assert not host.paths.tmpfiles_file(NAME).exists()
    assert not dl.link_path(host.paths, NAME).is_symlink()


def test_install_without_a_unit_enables_and_reloads_nothing(host, log):
    install.activate(host, built(host.paths, unit=None, tmpfiles=None), print)
    assert systemd_calls(log) == []
    assert dl.current(host.paths, NAME) is not None


# ---------------------------------------------------------------------- update/rollback (switch)

@pytest.mark.parametrize("active, enabled", [(True, True), (False, True), (True, False),
                                             (False, False)])
def test_rollback_keeps_enablement_and_restarts_only_what_ran(host, log, active, enabled):
    host.systemd.active, host.systemd.enabled = active, enabled
    cur, prev = installed(host.paths)
    update.rollback(host.paths, NAME, print)
    expected = ([("stop", UNIT)] if active else []) + [
        ("runtime delete", NAME), ("tmpfiles", "remove")] + (
        [("enable", UNIT, False)] if enabled else []) + [
        ("daemon-reload",), ("tmpfiles", "create")] + ([("start", UNIT)] if active else [])
    assert systemd_calls(log) == expected
    points = [e for e in log if e[0] == "point"]
    assert [p[1] for p in points] == ["switch-stopped", "switch-hostfiles", "switch-unit",
                                      "switch-link"]
    assert all(p[2] == ("switching",) for p in points)   # the marker is there at every point
    assert _markers(host.paths) == ()                       # finish() removed it
    assert dl.current(host.paths, NAME) == prev
    assert host.paths.unit_file(NAME).read_text() == prev.unit_copy.read_text()


@pytest.mark.parametrize("stale", [False, True])
def test_an_unchanged_unit_is_neither_rewritten_nor_reloaded(host, log, stale):
    """docs/operations.md "When update reloads systemd": the same unit text and systemd's
    copy current: no daemon-reload, no enable; systemd's copy stale: both, as for a change."""
    host.systemd.active, host.systemd.enabled, host.systemd.stale = True, True, stale
    cur, prev = installed(host.paths)
    prev.unit_copy.write_text(cur.unit_copy.read_text())
    unit_file = host.paths.unit_file(NAME)
    before = unit_file.stat().st_mtime_ns
    update.rollback(host.paths, NAME, print)
    assert unit_file.stat().st_mtime_ns == before        # not written again
    reloaded = [("enable", UNIT, False), ("daemon-reload",)] if stale else []
    assert systemd_calls(log) == [("stop", UNIT), ("runtime delete", NAME),
                                  ("tmpfiles", "remove"), ("needs-reload",), *reloaded,
                                  ("tmpfiles", "create"), ("start", UNIT)]
    assert dl.current(host.paths, NAME) == prev


def test_switch_writes_the_marker_with_running_and_enabled(host, log):
    host.systemd.active, host.systemd.enabled = True, False
    cur, prev = installed(host.paths)
    assert switch.switch(host, cur, prev, print) is True
    state = json.loads(dl.switching_marker(host.paths, NAME).read_text())
    assert state == {"was-running": True, "was-enabled": False}
    switch.finish(host.paths, NAME)
    assert _markers(host.paths) == ()


def _fail_writing(text, monkeypatch):
    real = act.write_atomic

    def write_atomic(path, content, *args):
        if content == text:
            raise OSError("disk full")
        real(path, content, *args)
    monkeypatch.setattr(act, "write_atomic", write_atomic)


def _fail_link_to(dep, monkeypatch):
    real = dl.switch_link

    def switch_link(paths, name, target):
        if target == dep:
            raise OSError("link failed")
        real(paths, name, target)
    monkeypatch.setattr(dl, "switch_link", switch_link)


# failing step -> the calls of the undo, in order (the restart of the source comes last)
RESTART = [("enable", UNIT, False), ("daemon-reload",), ("tmpfiles", "create"), ("start", UNIT)]
SWITCH_FAILURES = {
    "tmpfiles-remove": [*RESTART],
    "host-files": [("rpm -U", f"{NAME}-v1.rpm"), *RESTART],
    "units": [("rpm -U", f"{NAME}-v1.rpm"), *RESTART],
    "link": [("rpm -U", f"{NAME}-v1.rpm"), *RESTART],
}


@pytest.mark.parametrize("step", SWITCH_FAILURES)
def test_switch_failure_restores_the_source_in_reverse(host, log, monkeypatch, step):
    host.systemd.active = True
    cur, prev = installed(host.paths, package=True)
    if step == "tmpfiles-remove":
        host.systemd.fail = ("tmpfiles", "remove")
    elif step == "host-files":
        host.rpm.fail = "rpm -U"
    elif step == "units":
        _fail_writing(prev.unit_copy.read_text(), monkeypatch)
    else:
        _fail_link_to(prev, monkeypatch)
    with pytest.raises((ServiceError, CommandError, OSError)):
        switch.switch(host, cur, prev, print)
    calls = systemd_calls(log)
    before = [("stop", UNIT), ("runtime delete", NAME), ("tmpfiles", "remove")] + (
        [] if step == "tmpfiles-remove" else [("rpm -U", f"{NAME}-v0.rpm")])
    assert calls == before + SWITCH_FAILURES[step]
    assert dl.current(host.paths, NAME) == cur
    assert host.paths.unit_file(NAME).read_text() == cur.unit_copy.read_text()
    assert _markers(host.paths) == ()


def test_switch_failure_after_the_link_is_finished_forward_not_undone(host, log):
    host.systemd.active = True
    cur, prev = installed(host.paths)
    host.systemd.fail = "daemon-reload"
    with pytest.raises(ServiceError):
        switch.switch(host, cur, prev, print)
    assert dl.current(host.paths, NAME) == prev
    assert _markers(host.paths) == ("switching",)    # reconcile finishes it
    log.clear()
    switch.reconcile(host, NAME, print)
    assert systemd_calls(log) == [("enable", UNIT, False), ("daemon-reload",),
                                  ("tmpfiles", "create"), ("start", UNIT)]
    assert _markers(host.paths) == ()


# ------------------------------------------------------------------------------------ reconcile

def test_reconcile_after_a_crash_at_the_link_keeps_a_disabled_unit_disabled(host, log):
    cur, prev = installed(host.paths)
    dl.switch_link(host.paths, NAME, prev)    # the crash came right after the link
    dl.switching_marker(host.paths, NAME).write_text(
        json.dumps({"was-running": False, "was-enabled": False}))
    switch.reconcile(host, NAME, print)
    assert systemd_calls(log) == [("daemon-reload",), ("tmpfiles", "create")]
    assert host.paths.unit_file(NAME).read_text() == prev.unit_copy.read_text()
    assert _markers(host.paths) == ()


def test_reconcile_finishes_an_install_interrupted_after_its_link(host, log):
    installed(host.paths)
    dl.installing_marker(host.paths, NAME).touch()
    switch.reconcile(host, NAME, print)
    assert systemd_calls(log) == [("enable", UNIT, False), ("daemon-reload",),
                                  ("tmpfiles", "create")]
    assert _markers(host.paths) == ()


def test_reconcile_without_markers_does_nothing(host, log):
    installed(host.paths)
    switch.reconcile(host, NAME, print)
    assert log == []


# ------------------------------------------------------------------------------------ uninstall

def test_uninstall_order_one_daemon_reload_then_leftovers_then_package(host, log):
    cur, prev = installed(host.paths, package=True)
    remove.uninstall(host.paths, NAME, print)
    assert systemd_calls(log) == [
        ("disable-now", UNIT, False), ("daemon-reload",), ("reset-failed", UNIT),
        ("tmpfiles", "remove"), ("runtime delete", NAME), ("rpm -e", f"{NAME}-v1")]
    assert [e for e in log if e[0] == "point"] == [("point", "uninstall-link", ())]
    p = host.paths
    assert not p.unit_file(NAME).exists() and not p.tmpfiles_file(NAME).exists()
    assert dl.existing(p, NAME) == [] and not dl.link_path(p, NAME).is_symlink()


def test_uninstall_after_a_crash_is_finished_by_running_it_again(host, log, monkeypatch):
    installed(host.paths)
    monkeypatch.setattr(faults, "point", lambda name: (_ for _ in ()).throw(OSError("crash")))
    with pytest.raises(OSError):
        remove.uninstall(host.paths, NAME, print)
    assert not dl.link_path(host.paths, NAME).is_symlink()
    assert dl.existing(host.paths, NAME)                   # dirs without a link: a leftover
    monkeypatch.setattr(faults, "point", lambda name: None)
    log.clear()
    remove.clean_incomplete(host, NAME, print)
    # the unit and tmpfiles files are gone already: only the leftover check runs again
    assert systemd_calls(log) == [("runtime delete", NAME), ("runtime delete", NAME)]
    assert dl.existing(host.paths, NAME) == []


def test_clean_incomplete_removes_only_our_unit_file(host, log):
    dep = make_deployment(host.paths, 0, "v1")
    host.paths.units_dir.mkdir()
    host.paths.unit_file(NAME).write_text("# the operator's own\n")
    remove.clean_incomplete(host, NAME, print)
    assert host.paths.unit_file(NAME).read_text() == "# the operator's own\n"
    assert ("disable-now", UNIT, False) not in log
    assert not dep.path.exists()
