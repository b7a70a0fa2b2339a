"""Trustworthy updates on the systemd test host: the access record (http:, credentials),
a source that cannot be asked (update fails, --offline, update --all "unchecked"),
update --check (exit 0/100/1, manifest only, nothing written, --diff), a re-encoded manifest
is no update, and what rollback says (docs/operations.md, "Updates").

The registries here are private to this module and not in the test host's registries.conf,
so only the ``http:`` prefix reaches them (as on a host where the operator marked nothing).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess

import pytest

from tests.conftest import AUTH_USERS
from tests.fixtures.examples import example_spec
from tests.fixtures.images import build_oci_layout
from tests.fixtures.registry import Registry
from tests.integration.sc_host import CHECKOUTS, ScHost, free_port, http_get

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.registry]


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    """Images of this module's own (a label no other test uses): the test host's store is
    shared by the session, and --check must find v2 not stored yet."""
    root = tmp_path_factory.mktemp("trust-images")
    own = {"org.example.test": "update-trust"}
    return {tag: build_oci_layout(example_spec(index_html=f"hello {tag}\n", labels=own), root / tag, tag)
            for tag in ("v1", "v2")}


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """A plain-HTTP registry nobody marked insecure: reachable only through ``http:``."""
    reg = Registry(tmp_path_factory.mktemp("trust-registry")).start()
    try:
        yield reg
    finally:
        reg.stop()


def info(sc: ScHost, name: str, index: int = 0) -> dict:
    return json.loads(sc.path(CHECKOUTS / f"{name}.{index}/info").read_text())


def link(sc: ScHost, name: str) -> str:
    return sc.host.run("readlink", str(CHECKOUTS / name)).stdout.strip()


def state(sc: ScHost, name: str) -> tuple:
    """What --check must leave as it was: deployments, their info, the link, the store."""
    listing = sc.host.run("ls", "-A", str(CHECKOUTS)).stdout
    infos = [sc.path(CHECKOUTS / f"{name}.{i}/info").read_text()
             for i in (0, 1) if sc.exists(CHECKOUTS / f"{name}.{i}/info")]
    return listing, infos, link(sc, name), sc.ok("images", "list", "--all", "--json").out


def test_http_install_is_updated_the_same_way_and_check_fetches_nothing(sc, plain, layouts,
                                                                        testhost_units):
    ref = plain.push(layouts["v1"].layout, "v1", "trust/web", dest_tag="cur")
    port = free_port()
    testhost_units.append("tr1.service")
    sc.ok("install", "--name", "tr1", "--set", f"PORT={port}", f"http:{ref}")
    rec = info(sc, "tr1")
    assert (rec["image"], rec["source"], rec["source-transport"], rec["source-tls-verify"],
            rec["source-credentials"]) == (ref, f"http:{ref}", "docker", False, None)
    sc.ok("start", "tr1")
    assert http_get(port) == "hello v1\n"

    r = sc.sc("update", "tr1", "--check")
    assert r.code == 0 and "tr1: up to date" in r.out and f"asked http:{ref}" in r.out, r.out

    plain.push(layouts["v2"].layout, "v2", "trust/web", dest_tag="cur")   # the tag moves
    before, mark = state(sc, "tr1"), plain.mark()
    r = sc.sc("update", "tr1", "--check")
    assert r.code == 100, r.text
    assert "tr1: update available" in r.out and layouts["v2"].id[:12] in r.out
    assert "not known until the new image's layers are fetched" in r.out
    r = sc.sc("update", "tr1", "--check", "--json")
    report = json.loads(r.out)
    assert r.code == 100 and report["update_available"] is True
    assert (report["current"], report["available"]) == (layouts["v1"].id, layouts["v2"].id)
    assert plain.blob_gets(mark) == [] and state(sc, "tr1") == before   # manifest only
    r = sc.ok("update", "tr1", "--display")
    assert "the registry was not asked" in r.out

    sc.ok("pull", "--update", f"http:{ref}")      # the new layers are here now: renderable
    r = sc.sc("update", "tr1", "--check", "--diff")
    assert r.code == 100 and "would change: unit" in r.out, r.text
    assert f"-WorkingDirectory={CHECKOUTS}/tr1.0" in r.out
    assert f"+WorkingDirectory={CHECKOUTS}/tr1.1" in r.out

    r = sc.ok("update", "tr1")
    assert f"updated tr1: {layouts['v1'].id[:12]} -> {layouts['v2'].id[:12]}" in r.out
    assert link(sc, "tr1") == str(CHECKOUTS / "tr1.1") and http_get(port) == "hello v2\n"
    assert info(sc, "tr1", 1)["source"] == f"http:{ref}"
    assert sc.sc("update", "tr1", "--check").code == 0

    r = sc.ok("rollback", "tr1")
    assert r.out.strip() == (f"rolled back tr1: {layouts['v2'].id[:12]} ({ref}) -> "
                             f"{layouts['v1'].id[:12]} ({ref})")
    assert http_get(port) == "hello v1\n"
    sc.ok("uninstall", "tr1")


def test_a_registry_that_is_down_is_an_error_unless_offline(sc, layouts, tmp_path,
                                                            testhost_units):
    reg = Registry(tmp_path / "down-registry").start()
    try:
        ref = reg.push(layouts["v1"].layout, "v1", "trust/down")
        sc.ok("install", "--name", "tr2", "--set", f"PORT={free_port()}", f"http:{ref}")
    finally:
        reg.stop()
    try:
        r = sc.sc("update", "tr2")
        assert r.code == 1 and r.out == "", r.text
        assert len(r.err.strip().splitlines()) == 1
        assert f"cannot reach registry {reg.host}" in r.err and "--offline" in r.err, r.err
        assert link(sc, "tr2") == str(CHECKOUTS / "tr2.0") and not sc.exists(CHECKOUTS / "tr2.1")

        r = sc.ok("update", "tr2", "--offline")
        assert "Latest version already installed." in r.out
        r = sc.sc("update", "tr2", "--check")
        assert r.code == 1 and f"cannot reach registry {reg.host}" in r.err
        r = sc.sc("update", "tr2", "--check", "--offline")
        assert r.code == 0 and "not asked" in r.out, r.text

        r = sc.sc("update", "--all")
        assert r.code == 1
        row = next(line for line in r.out.splitlines() if line.startswith("tr2 "))
        assert "unchecked" in row and "unchanged" not in row, r.out
        r = sc.sc("update", "--all", "--json")
        rows = {row["container"]: row for row in json.loads(r.out)}
        assert r.code == 1 and rows["tr2"]["result"] == "unchecked"
        assert "cannot reach registry" in rows["tr2"]["reason"]
        r = sc.sc("update", "--all", "--check", "--json")
        rows = {row["container"]: row for row in json.loads(r.out)}
        assert r.code == 1 and "cannot reach registry" in rows["tr2"]["unchecked"]
    finally:
        sc.ok("uninstall", "tr2")


def test_a_reencoded_manifest_of_the_same_image_is_no_update(sc, plain, layouts, testhost_units):
    ref = plain.push(layouts["v1"].layout, "v1", "trust/re")
    sc.ok("install", "--name", "tr3", "--set", f"PORT={free_port()}", f"http:{ref}")
    plain.push(layouts["v1"].layout, "v1", "trust/re", fmt="v2s2")    # same config and layers
    served = json.loads(subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"],
        capture_output=True, check=True).stdout)
    assert served["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    before, mark = state(sc, "tr3"), plain.mark()

    r = sc.sc("update", "tr3", "--check")
    assert r.code == 0 and "tr3: up to date" in r.out and "the same image" in r.out, r.text
    r = sc.ok("update", "tr3")
    assert "Latest version already installed." in r.out
    assert state(sc, "tr3") == before and plain.blob_gets(mark) == []
    sc.ok("uninstall", "tr3")


def test_check_diff_shows_what_a_new_value_changes(sc, plain, layouts):
    ref = plain.push(layouts["v1"].layout, "v1", "trust/diff")
    p1, p2 = free_port(), free_port()
    sc.ok("install", "--name", "tr4", "--set", f"PORT={p1}", f"http:{ref}")
    before = state(sc, "tr4")
    r = sc.sc("update", "tr4", "--check", "--diff", "--set", f"PORT={p2}")
    assert r.code == 100, r.text
    assert f"value PORT: '{p1}' -> '{p2}'" in r.out
    assert "would change: config.json, unit" in r.out
    assert f"--- {CHECKOUTS}/tr4.0/config.json (installed)" in r.out
    assert any(line.startswith("-") and f"127.0.0.1:{p1}" in line for line in r.out.splitlines())
    assert any(line.startswith("+") and f"127.0.0.1:{p2}" in line for line in r.out.splitlines())
    assert "+++ /etc/systemd/system/tr4.service (update)" in r.out
    assert state(sc, "tr4") == before
    r = sc.sc("update", "tr4", "--check", "--set", f"PORT={p1}")     # the value it has
    assert r.code == 0 and "tr4: up to date" in r.out, r.text
    r = sc.sc("update", "tr4", "--diff")
    assert r.code == 2 and "--diff goes with --check" in r.err
    sc.ok("uninstall", "tr4")


def test_credentials_are_not_stored_and_asked_for_again(sc, auth_registry, layouts):
    ref = auth_registry.push(layouts["v1"].layout, "v1", "trust/sec")
    (user, password), = AUTH_USERS.items()
    r = sc.sc("install", "--name", "tr5", "--set", f"PORT={free_port()}", f"http:{ref}")
    assert r.code == 1 and "denied" in r.err
    sc.ok("install", "--name", "tr5", "--set", f"PORT={free_port()}", "--src-creds",
          f"{user}:{password}", f"http:{ref}")
    try:
        assert info(sc, "tr5")["source-credentials"] == "src-creds"
        found = sc.host.run("grep", "-rl", "--exclude-dir=rootfs", "--exclude-dir=.storage",
                            password, str(CHECKOUTS), "/etc/systemd/system", check=False)
        assert found.stdout == "", found.stdout
        r = sc.sc("update", "tr5")
        assert r.code == 1 and len(r.err.strip().splitlines()) == 1
        assert "denied" in r.err and "installed with --src-creds" in r.err, r.err
        r = sc.ok("update", "tr5", "--src-creds", f"{user}:{password}")
        assert "Latest version already installed." in r.out
    finally:
        sc.ok("uninstall", "tr5")


def test_credentials_from_the_auth_file_are_recorded_as_such(sc, auth_registry, layouts):
    ref = auth_registry.push(layouts["v1"].layout, "v1", "trust/authfile")
    (user, password), = AUTH_USERS.items()
    auth = "/root/trust-auth.json"
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    sc.path(auth).write_text(json.dumps({"auths": {auth_registry.host: {"auth": token}}}))
    env = {"REGISTRY_AUTH_FILE": auth}
    try:
        sc.ok("install", "--name", "tr6", "--set", f"PORT={free_port()}", f"http:{ref}", env=env)
        rec = info(sc, "tr6")
        assert rec["source-credentials"] == "auth-file" and password not in json.dumps(rec)
        r = sc.ok("update", "tr6", "--check", env=env)
        assert "tr6: up to date" in r.out
        r = sc.sc("update", "tr6", "--check")          # the auth file is gone: cannot ask
        assert r.code == 1 and "denied" in r.err
    finally:
        sc.sc("uninstall", "tr6")
        sc.path(auth).unlink()


def test_a_layout_source_is_asked_again_and_gone_is_an_error(sc, layouts):
    layout = "/srv/trust-layout"
    shutil.copytree(layouts["v1"].layout, sc.path(layout))
    try:
        sc.ok("install", "--name", "tr7", "--set", f"PORT={free_port()}", f"oci:{layout}:v1")
        rec = info(sc, "tr7")
        assert (rec["source"], rec["source-transport"], rec["source-tls-verify"]) == \
            (f"oci:{layout}:v1", "oci", None)
        r = sc.sc("update", "tr7", "--check")
        assert r.code == 0 and f"asked oci:{layout}:v1" in r.out, r.text
        shutil.rmtree(sc.path(layout))
        r = sc.sc("update", "tr7")
        assert r.code == 1 and len(r.err.strip().splitlines()) == 1
        assert f"{layout}: no such file or directory" in r.err and "--offline" in r.err, r.err
        assert "Latest version already installed." in sc.ok("update", "tr7", "--offline").out
    finally:
        sc.sc("uninstall", "tr7")
        shutil.rmtree(sc.path(layout), ignore_errors=True)
