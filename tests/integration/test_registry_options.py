"""--authfile and --cert-dir on the pulling verbs, on the systemd test host (docs/operations.md,
"Registry credentials: login and logout"): an auth file given by path and a TLS registry
whose certificate only a --cert-dir trusts; both are recorded, so update reaches the registry
the same way without them being given again."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess

import pytest

from tests.conftest import AUTH_USERS
from tests.fixtures.examples import example_spec
from tests.fixtures.images import build_oci_layout
from tests.fixtures.registry import Registry, self_signed_certificate
from tests.integration.sc_host import CHECKOUTS, free_port

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.registry]

OWN = {"org.example.test": "registry-options"}


def info(sc, name: str) -> dict:
    return json.loads(sc.path(CHECKOUTS / f"{name}.0/info").read_text())


def test_authfile_is_used_and_recorded(sc, auth_registry, tmp_path):
    layout = build_oci_layout(example_spec(labels=OWN), tmp_path / "l", "v1").layout
    ref = auth_registry.push(layout, "v1", "regopts/auth")
    (user, password), = AUTH_USERS.items()
    auth = "/root/regopts-auth.json"
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    sc.path(auth).write_text(json.dumps({"auths": {auth_registry.host: {"auth": token}}}))
    try:
        r = sc.sc("pull", f"http:{ref}")
        assert r.code == 1 and "denied" in r.err
        sc.ok("install", "--name", "regopt1", "--set", f"PORT={free_port()}", "--authfile", auth,
              f"http:{ref}")
        rec = info(sc, "regopt1")
        assert (rec["source-credentials"], rec["source-auth-file"]) == ("auth-file", auth)
        assert password not in json.dumps(rec)
        assert "up to date" in sc.ok("update", "regopt1", "--check").out     # the recorded file
        r = sc.sc("run", "--creds", f"{user}:wrong", f"http:{ref}-absent", "true")
        assert r.code == 1 and r.err.count("\n") == 1, r.text
    finally:
        sc.sc("uninstall", "regopt1")
        sc.path(auth).unlink(missing_ok=True)


def test_a_tls_registry_is_trusted_through_cert_dir(sc, tmp_path):
    cert, key = self_signed_certificate(tmp_path / "tls")
    reg = Registry(tmp_path / "registry", tls=(cert, key)).start()
    certs = "/root/regopts-certs"
    try:
        layout = build_oci_layout(example_spec(labels=OWN, index_html="tls\n"), tmp_path / "l", "v1").layout
        ref = f"{reg.host}/regopts/tls:v1"
        (tmp_path / "ca").mkdir()
        shutil.copy(cert, tmp_path / "ca" / "ca.crt")      # a cert dir: *.crt are CAs
        subprocess.run(["skopeo", "copy", "--quiet", "--dest-cert-dir", str(tmp_path / "ca"),
                        f"oci:{layout}:v1", f"docker://{ref}"], check=True, capture_output=True)
        r = sc.sc("pull", ref)
        assert r.code == 1 and r.err.count("\n") == 1 and "TLS error" in r.err, r.text
        sc.host.run("mkdir", "-p", certs)
        shutil.copy(cert, sc.path(f"{certs}/ca.crt"))
        sc.ok("install", "--name", "regopt2", "--set", f"PORT={free_port()}", "--cert-dir", certs, ref)
        assert info(sc, "regopt2")["source-cert-dir"] == certs
        assert "up to date" in sc.ok("update", "regopt2", "--check").out      # the recorded dir
    finally:
        sc.sc("uninstall", "regopt2")
        sc.host.run("rm", "-rf", certs)
        reg.stop()
