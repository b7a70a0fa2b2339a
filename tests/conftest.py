"""Shared fixtures: real services (registry, dockerd) per session, fresh state per test.

- ``registry``        docker-registry on 127.0.0.1 (session): ``.host``, ``.push(layout, tag,
                      repo)``, ``.mark()`` / ``.blob_gets(since)`` from its access log.
- ``auth_registry``   the same with htpasswd auth, user ``alice`` / password ``pw-7c41e9d2``.
- ``dockerd``         a private Docker daemon (session): ``.host`` (unix://...), ``.load(tar)``.
                      If it cannot start the test FAILS (it is never skipped).
- ``store_paths``     a fresh system-mode :class:`Paths` with everything under tmp_path (units,
                      tmpfiles and preinstalled dirs too, so nothing on the machine is touched).
- ``cli``             ``cli("images", "list", "--json")`` runs the CLI in-process against
                      ``store_paths``; returns ``CliResult(code, out, err)``.
- ``base_layout``     a session OCI layout with tags ``base`` (busybox only) and ``exports``
                      (busybox + an example exports layer), see ``tests/fixtures/examples.py``.

Image builders live in ``tests/fixtures/images.py``.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass

import pytest

from tests.fixtures.dockerd import Dockerd
from tests.fixtures.registry import Registry

# a password no file of ours contains by chance (tests grep for it to prove it is never stored)
AUTH_USERS = {"alice": "pw-7c41e9d2"}

# Hermetic tests: every HTTP(S) request to a host other than this machine goes to a proxy
# address where nothing listens, so it fails at once instead of reaching the internet (skopeo
# and Python honour these; loopback is never proxied). The test host's commands get the same
# (tests/integration/sc_host.py).
OFFLINE_ENV = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
               "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
               "NO_PROXY": "127.0.0.1,localhost,::1", "no_proxy": "127.0.0.1,localhost,::1"}


@pytest.fixture(scope="session", autouse=True)
def offline():
    """No test reaches a host outside this machine (see OFFLINE_ENV)."""
    import os
    saved = {k: os.environ.get(k) for k in OFFLINE_ENV}
    os.environ.update(OFFLINE_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    reg = Registry(tmp_path_factory.mktemp("registry")).start()
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory):
    reg = Registry(tmp_path_factory.mktemp("auth-registry"), users=AUTH_USERS).start()
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory):
    daemon = Dockerd(tmp_path_factory.mktemp("dockerd"))
    daemon.start()          # raises (test error, not a skip) when it cannot start
    try:
        yield daemon
    finally:
        daemon.stop()
        daemon.remove()


@pytest.fixture
def store_paths(tmp_path):
    """Fresh system-mode paths; the repo is created on first write (default location)."""
    from syscontainers.config import Config
    from syscontainers.paths import resolve_paths

    checkouts = tmp_path / "checkouts"
    paths = resolve_paths(False, checkout_flag=str(checkouts),
                          repo_flag=str(checkouts / ".storage" / "ostree"), env={}, config=Config())
    return dataclasses.replace(paths, units_dir=tmp_path / "units", tmpfiles_dir=tmp_path / "tmpfiles",
                               preinstalled=tmp_path / "preinstalled")


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(store_paths, capsys):
    """Run ``syscontainers --checkout-path ... --repo ... ARGS`` in this process."""
    from syscontainers.cli.__main__ import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        argv = ["--checkout-path", str(store_paths.checkouts), "--repo", str(store_paths.repo), *args]
        try:
            code = main(argv)
        except SystemExit as e:         # argparse errors
            code = e.code if isinstance(e.code, int) else 2
        sys.stdout.flush()
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def base_layout(tmp_path_factory):
    from tests.fixtures.examples import example_spec
    from tests.fixtures.images import ImageSpec, build_oci_layout

    layout = tmp_path_factory.mktemp("base-layout") / "layout"
    build_oci_layout(ImageSpec(), layout, "base")
    build_oci_layout(example_spec(), layout, "exports")
    return layout

# The systemd test host (tests/testhost): `testhost`, `testhost_units` fixtures.
pytest_plugins = ["tests.testhost.fixture"]
