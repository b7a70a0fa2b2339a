"""Fixtures for tests that drive syscontainers inside the systemd test host."""

from __future__ import annotations

import pytest

from tests.integration.sc_host import CHECKOUTS, ScHost, trust_registry


@pytest.fixture(scope="session")
def sc(testhost, registry) -> ScHost:
    """syscontainers inside the session's test host, the test registry marked plain-HTTP."""
    trust_registry(testhost, registry.host)
    return ScHost(testhost)


def _container_names(sc: ScHost) -> set[str]:
    """Names with a link or a deployment dir in the test host's checkouts dir (read from here:
    no command runs, so a clean test costs nothing)."""
    checkouts = sc.path(CHECKOUTS)
    if not checkouts.is_dir():
        return set()
    names = set()
    for entry in checkouts.iterdir():
        if entry.name.startswith("."):
            continue
        names.add(entry.name[:-2] if entry.name.endswith((".0", ".1")) else entry.name)
    return names


@pytest.fixture(autouse=True)
def uninstall_leftovers(request):
    """Cleanup in a fixture, not at the end of a test body: whatever container a test that
    uses the shared test host left installed (it failed half-way) is removed, so one failure
    never cascades into the next tests (same names, ports, host files)."""
    if "sc" not in request.fixturenames:
        yield
        return
    sc = request.getfixturevalue("sc")
    before = _container_names(sc)
    yield
    for name in sorted(_container_names(sc) - before):
        sc.sc("uninstall", "--force", name)
