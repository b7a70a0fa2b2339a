"""pytest plugin: one systemd test host for the whole session.

Register with ``pytest_plugins = ["tests.testhost.fixture"]`` (root conftest or a test module).

- ``testhost`` (session): a booted TestHost with the repository bound read-write at its own
  path, so ``<repo>/.venv/bin/syscontainers`` runs inside. Always stopped: fixture finalizer,
  plus atexit and SIGTERM/SIGHUP handlers for a session that is killed. (If the session dies
  by SIGKILL, systemd dies with it through PR_SET_PDEATHSIG; the next session sweeps the
  empty cgroups left behind.)
- ``testhost_units`` (function): a list a test appends the units it works with to; when the
  test fails, their journals (and the failed units) are added to its report.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal

import pytest

from .host import REPO_ROOT, Bind, TestHost

_JOURNAL_KEY = pytest.StashKey[tuple[TestHost, list[str]]]()


def testhost_missing() -> str | None:
    """Why a test host cannot boot on this machine, or None."""
    if os.geteuid() != 0:
        return "the systemd test host needs root"
    for tool in ("unshare", "nsenter", "/lib/systemd/systemd", "/usr/bin/python3"):
        if shutil.which(tool) is None:
            return f"the systemd test host needs {tool}"
    return None


def _install_signal_stop(host: TestHost) -> None:
    """Stop the host when the session is terminated by SIGTERM/SIGHUP, then die as asked."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        previous = signal.getsignal(sig)

        def handler(signum, frame, previous=previous):
            host.stop()
            if callable(previous):
                previous(signum, frame)
            else:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)

        signal.signal(sig, handler)


@pytest.fixture(scope="session")
def testhost(tmp_path_factory: pytest.TempPathFactory):
    """The session's booted test host (see the module docstring)."""
    reason = testhost_missing()
    if reason:
        pytest.fail(reason)  # never a silent skip: these tests are part of the contract
    state = tmp_path_factory.mktemp("testhost")
    host = TestHost(state, binds=[Bind(REPO_ROOT)])
    atexit.register(host.stop)
    _install_signal_stop(host)
    try:
        host.start()
        print(f"test host booted in {host.boot_seconds:.2f} s (PID {host.pid})")
        yield host
    finally:
        host.stop()
        atexit.unregister(host.stop)


@pytest.fixture
def testhost_units(request: pytest.FixtureRequest, testhost: TestHost) -> list[str]:
    """Units whose journal goes into the report of this test if it fails."""
    units: list[str] = []
    request.node.stash[_JOURNAL_KEY] = (testhost, units)
    return units


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    watched = item.stash.get(_JOURNAL_KEY, None)
    if watched is None or not report.failed or call.when != "call":
        return
    host, units = watched
    if host.pid is None:
        return
    try:
        parts = [f"--- {u} ---\n{host.journal(u)}" for u in units]
        parts.append(f"--- failed units ---\n{host.failed_units()}")
    except Exception as e:   # a report must never fail because of its extras
        parts = [f"(cannot read the test host's journal: {e!r})"]
    report.sections.append(("test host journal", "\n".join(parts)))

