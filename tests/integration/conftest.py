"""Fixtures for tests that drive syscontainers inside the systemd test host."""

from __future__ import annotations

import pytest

from tests.integration.sc_host import ScHost, trust_registry


@pytest.fixture(scope="session")
def sc(testhost, registry) -> ScHost:
    """syscontainers inside the session's test host, the test registry marked plain-HTTP."""
    trust_registry(testhost, registry.host)
    return ScHost(testhost)
