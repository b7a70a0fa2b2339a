"""login / logout on the systemd test host against a registry that wants credentials
(docs/operations.md, "Registry credentials: login and logout")."""

from __future__ import annotations

import json
import stat

import pytest

from tests.conftest import AUTH_USERS, OFFLINE_ENV
from tests.fixtures.examples import example_spec
from tests.fixtures.images import build_oci_layout
from tests.integration.sc_host import SC, CHECKOUTS, free_port

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.registry]

CONFIG_HOME = "/root/login-test-config"      # this module's own: nothing left in root's
ENV = {"XDG_CONFIG_HOME": CONFIG_HOME}
AUTH = f"{CONFIG_HOME}/containers/auth.json"


def login(sc, registry: str, password: str):
    return sc.host.run(SC, "login", "--username", next(iter(AUTH_USERS)), "--password-stdin",
                       "--tls-verify=false", registry, input=password + "\n", check=False,
                       env={**OFFLINE_ENV, **ENV})


def test_login_then_install_without_credentials_then_logout(sc, auth_registry, tmp_path):
    layout = build_oci_layout(example_spec(labels={"org.example.test": "login"}), tmp_path / "l", "v1")
    ref = auth_registry.push(layout.layout, "v1", "login/web")
    (user, password), = AUTH_USERS.items()
    try:
        r = login(sc, auth_registry.host, "wrong")
        assert r.returncode != 0 and r.stderr.count("\n") == 1, r.stderr
        assert "refused the user name or password" in r.stderr
        assert not sc.exists(AUTH)

        r = login(sc, f"http://{auth_registry.host}/some/path", password)
        assert r.returncode == 0, r.stderr
        assert r.stdout == f"Login Succeeded: {auth_registry.host} (credentials in {AUTH})\n"
        assert stat.S_IMODE(sc.path(AUTH).stat().st_mode) == 0o600
        assert auth_registry.host in json.loads(sc.path(AUTH).read_text())["auths"]

        sc.ok("install", "--name", "login1", "--set", f"PORT={free_port()}", f"http:{ref}", env=ENV)
        rec = json.loads(sc.path(CHECKOUTS / "login1.0/info").read_text())
        assert rec["source-credentials"] == "auth-file"
        assert "up to date" in sc.ok("update", "login1", "--check", env=ENV).out

        r = sc.ok("logout", auth_registry.host, env=ENV)
        assert r.out == f"Removed login credentials for {auth_registry.host} (from {AUTH})\n"
        r = sc.sc("update", "login1", "--check", env=ENV)
        assert r.code == 1 and "denied" in r.err, r.text
        r = sc.sc("logout", auth_registry.host, env=ENV)
        assert r.code == 2 and r.err == f"error: not logged in to {auth_registry.host} (in {AUTH})\n"
        r = sc.sc("logout", env=ENV)
        assert r.code == 2 and "name one REGISTRY, or --all" in r.err
    finally:
        sc.sc("uninstall", "login1")
        sc.host.run("rm", "-rf", CONFIG_HOME)


def test_login_without_a_terminal_or_password_stdin_is_a_usage_error(sc, auth_registry):
    r = sc.sc("login", "--username", "alice", auth_registry.host, env=ENV)
    assert r.code == 2 and r.err == "error: login: no terminal to ask on: give --password-stdin\n"
