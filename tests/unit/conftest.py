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
