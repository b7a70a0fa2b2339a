"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest

from syscontainers.config import Config
from syscontainers.paths import Paths


@pytest.fixture
def paths(tmp_path):
    """System-mode paths with every location under tmp_path (checkouts dir created)."""
    p = Paths(False, tmp_path / "co", tmp_path / "repo", tmp_path / "units", tmp_path / "tmpfiles",
              tmp_path / "pre", Config())
    p.ensure()
    return p


@pytest.fixture(autouse=True)
def empty_registries_conf(tmp_path_factory, monkeypatch):
    """No registries.conf of this machine's (its drop-ins alias busybox & co.): short names
    qualify as on a host without one, unless a test writes its own."""
    from syscontainers.images import registries

    root = tmp_path_factory.mktemp("registries")
    (root / "registries.conf").write_text("")
    (root / "registries.conf.d").mkdir()
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(root / "registries.conf"))
    monkeypatch.setattr(registries, "SYSTEM_DROPINS", root / "registries.conf.d")
