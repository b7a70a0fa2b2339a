"""Private deployments, --set-secret, and the privilege review (--allow) on a real systemd
test host (docs/operations.md "File modes and secrets", "Trust model and privileges")."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from syscontainers.deploy import capabilities
from tests.fixtures.examples import config_template, example_spec
from tests.fixtures.images import build_oci_layout
from tests.integration.sc_host import CHECKOUTS, SC, free_port, http_get, port_closed

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.registry]

SECRET = "s3cr3t-T0ken"
NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")


def with_config(spec, edit):
    cfg = json.loads(config_template(["TOKEN"] if "TOKEN" in spec.exports["config.json.template"] else ()))
    edit(cfg)
    return replace(spec, exports={**spec.exports, "config.json.template": json.dumps(cfg)})


def _secret_in_args(cfg):
    cfg["process"]["args"].append("token=$TOKEN")   # $0 of sh -c: shown by `list` as the command


def host_lacks_a_capability() -> str:
    """A capability the kernel knows but this host's bounding set lacks (the test machines'
    root lacks CAP_SYS_RESOURCE: docs/testing.md)."""
    last = int(open("/proc/sys/kernel/cap_last_cap").read())
    lacking = [c for c in capabilities.CAPABILITY_NAMES[:last + 1]
               if c not in capabilities.bounding_set()]
    assert lacking, "this machine's bounding set is complete; the test needs one it lacks"
    return lacking[0]


@pytest.fixture(scope="module")
def images(registry, tmp_path_factory):
    root = tmp_path_factory.mktemp("secret-images")
    lacking = host_lacks_a_capability()
    specs = {
        "secret": with_config(example_spec(required=["TOKEN"]), _secret_in_args),
        "plain": example_spec(index_html="plain\n"),
        "hooks": with_config(example_spec(), lambda c: c.update(
            hooks={"prestart": [{"path": "/bin/true"}]})),
        "nons": with_config(example_spec(), lambda c: c["linux"].update(namespaces=[])),
        "lackcap": with_config(example_spec(), lambda c: c["process"]["capabilities"].update(
            effective=["CAP_KILL", lacking])),
        "nobind": with_config(example_spec(), lambda c: c["mounts"].append(
            {"destination": "/x", "type": "bind", "source": "/srv/never-created",
             "options": ["rbind", "ro"]})),
        "unit": example_spec(hostfs={"/etc/systemd/system/sneaky.service": "[Service]\nExecStart=/bin/true\n"}),
    }
    return {tag: registry.push(build_oci_layout(spec, root / tag, tag).layout, tag, f"priv/{tag}")
            for tag, spec in specs.items()}


def mode(sc, path) -> int:
    return int(sc.host.run("stat", "-c", "%a", str(path)).stdout.strip(), 8)


def test_a_secret_is_private_never_printed_and_runs(sc, images, testhost_units):
    port = free_port()
    testhost_units.append("sec1.service")
    sc.host.run("sh", "-c", f"umask 022; printf '%s\\n' '{SECRET}' > /root/token")
    try:
        sc.ok("pull", images["secret"])
        shown = sc.ok("install", "--display", "--name", "sec1", "--set", f"PORT={port}",
                      "--set-secret", "TOKEN=@/root/token", images["secret"])
        assert SECRET not in shown.text and "token=***" in shown.out
        r = sc.ok("install", "--name", "sec1", "--set", f"PORT={port}",
                  "--set-secret", "TOKEN=@/root/token", images["secret"])
        assert SECRET not in r.text
        dep = CHECKOUTS / "sec1.0"
        assert mode(sc, dep) == 0o700
        for f in ("info", "config.json", "sec1.service", "tmpfiles-sec1.conf"):
            assert mode(sc, dep / f) == 0o600, f
        assert mode(sc, dep / "rootfs") == 0o755                  # as the image has it
        info = json.loads(sc.path(dep / "info").read_text())
        assert info["secret-values"] == ["TOKEN"] and info["values"]["TOKEN"] == SECRET
        assert SECRET in sc.path(dep / "config.json").read_text()  # the runtime needs it
        # another user cannot read it
        assert sc.host.run(*NOBODY, "cat", str(dep / "info"), check=False).returncode != 0
        # runc runs a bundle whose dir is 0700 (as root)
        sc.ok("start", "sec1")
        assert http_get(port) == "hello from syscontainers\n"
        listing = sc.ok("list").out + sc.ok("list", "--json").out
        assert SECRET not in listing and "token=***" in listing
        # update --display keeps the secret hidden, also when it changes (stdin this time)
        upd = sc.host.run(SC, "update", "--display", "sec1", "--set-secret", "TOKEN",
                          input="another-secret\n", check=False)
        assert upd.returncode == 0, upd.stderr
        assert "another-secret" not in upd.stdout + upd.stderr and SECRET not in upd.stdout
        assert "TOKEN: '***' -> '***'" in upd.stdout
        # an update carries the secrecy forward
        sc.ok("update", "sec1", "--set", "PORT=%d" % port, "--set", "EXTRA=1", "--force")
        info = json.loads(sc.path(CHECKOUTS / "sec1.1/info").read_text())
        assert info["secret-values"] == ["TOKEN"] and SECRET not in sc.ok("list").out
        sc.ok("uninstall", "sec1")
        assert port_closed(port) and sc.traces("sec1") == []
    finally:
        sc.sc("uninstall", "--force", "sec1")
        sc.host.run("rm", "-f", "/root/token")


def test_another_user_listing_roots_store_gets_one_clear_line(sc, images):
    sc.ok("install", "--name", "sec2", "--set", f"PORT={free_port()}", images["plain"])
    try:
        r = sc.host.run(*NOBODY, "env", "HOME=/tmp", SC, "--user", "--checkout-path", str(CHECKOUTS),
                        "list", check=False)
        assert r.returncode != 0 and "private to the user" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    finally:
        sc.ok("uninstall", "sec2")


def test_deployments_made_before_are_tightened_on_update_and_rollback(sc, images):
    port = free_port()
    sc.ok("install", "--name", "old1", "--set", f"PORT={port}", images["plain"])
    try:
        dep = CHECKOUTS / "old1.0"
        # as an older version (or atomic) left it: 0755 dir, 0644 files, no new info keys
        sc.host.run("chmod", "755", str(dep))
        sc.host.run("chmod", "644", str(dep / "info"), str(dep / "config.json"))
        info = json.loads(sc.path(dep / "info").read_text())
        del info["secret-values"], info["allowed-privileges"]
        sc.path(dep / "info").write_text(json.dumps(info))
        sc.ok("update", "old1", "--set", "EXTRA=1", "--force")
        assert mode(sc, dep) == 0o700 and mode(sc, dep / "info") == 0o600
        assert mode(sc, dep / "config.json") == 0o600
        assert mode(sc, CHECKOUTS / "old1.1") == 0o700
        sc.host.run("chmod", "755", str(CHECKOUTS / "old1.1"))
        sc.ok("rollback", "old1")
        assert mode(sc, CHECKOUTS / "old1.1") == 0o700
    finally:
        sc.ok("uninstall", "old1")


@pytest.mark.parametrize("tag, allow, words", [
    ("hooks", "hooks", ["hooks", "/bin/true"]),
    ("nons", "host-namespaces", ["host-namespaces", "pid and mount"]),
    ("unit", "units", ["units", "/etc/systemd/system/sneaky.service"]),
])
def test_a_dangerous_privilege_needs_allow(sc, images, tag, allow, words):
    name = f"priv-{tag}"
    r = sc.sc("install", "--name", name, images[tag])
    assert r.code != 0 and len(r.err.strip().splitlines()) == 1, r.err
    assert f"--allow={allow}" in r.err and all(w in r.err for w in words)
    assert sc.traces(name) == [] and not sc.exists("/etc/systemd/system/sneaky.service")
    shown = sc.ok("install", "--display", "--name", name, images[tag])
    assert f"would be refused without --allow={allow}" in shown.out
    try:
        r = sc.ok("install", "--name", name, "--allow", allow, images[tag])
        assert f"privilege {allow}:" in r.out
        info = json.loads(sc.path(CHECKOUTS / f"{name}.0/info").read_text())
        assert info["allowed-privileges"] == [allow]
    finally:
        sc.sc("uninstall", "--force", name)
    assert sc.traces(name) == []


def test_an_update_asking_for_more_than_allowed_is_refused(sc, images):
    sc.ok("install", "--name", "more1", "--set", f"PORT={free_port()}", images["plain"])
    try:
        r = sc.sc("update", "more1", "--rebase", images["nons"])
        assert r.code != 0 and "--allow=host-namespaces" in r.err, r.err
        assert sc.host.run("readlink", str(CHECKOUTS / "more1")).stdout.strip() == str(CHECKOUTS / "more1.0")
        assert not sc.exists(CHECKOUTS / "more1.1")
        sc.ok("update", "more1", "--rebase", images["nons"], "--allow", "host-namespaces")
        info = json.loads(sc.path(CHECKOUTS / "more1.1/info").read_text())
        assert info["allowed-privileges"] == ["host-namespaces"]
        sc.ok("update", "more1", "--set", "EXTRA=2", "--force")     # allowed once: kept with the container
    finally:
        sc.ok("uninstall", "more1")


@pytest.mark.parametrize("tag, words", [
    ("lackcap", ["cannot grant", "bounding set"]),
    ("nobind", ["cannot grant", "/srv/never-created"]),
])
def test_what_the_host_cannot_grant_is_one_line_before_installing(sc, images, tag, words):
    name = f"cant-{tag}"
    r = sc.sc("install", "--name", name, images[tag])
    assert r.code != 0 and len(r.err.strip().splitlines()) == 1, r.err
    assert all(w in r.err for w in words), r.err
    assert sc.traces(name) == []


def test_update_check_shows_the_privileges_the_update_would_ask_for(sc, registry, tmp_path):
    """docs/operations.md "Privileges in update --check": v2 asks for hooks; the check names
    it and the --allow update would need; a v3 not pulled yet: privileges not known."""
    hooks = with_config(example_spec(), lambda c: c.update(hooks={"prestart": [{"path": "/bin/true"}]}))
    # an image no other test pulls (the same content would be stored under the same ID)
    nons = with_config(example_spec(index_html="chk v3\n"), lambda c: c["linux"].update(namespaces=[]))
    push = lambda spec, d: registry.push(build_oci_layout(spec, tmp_path / d, "v").layout, "v", "priv/chk")
    ref = push(example_spec(index_html="v1\n"), "v1")
    sc.ok("install", "--name", "chk1", "--set", f"PORT={free_port()}", ref)
    try:
        push(hooks, "v2")
        sc.ok("pull", "--update", ref)
        r = sc.sc("update", "chk1", "--check")
        assert r.code == 100, r.text
        assert "  privilege hooks: " in r.out and "/bin/true" in r.out, r.out
        assert "needs --allow=hooks" in r.out, r.out
        j = json.loads(sc.sc("update", "chk1", "--check", "--json").out)
        assert {"name": "hooks", "dangerous": True} | {"detail": j["privileges"][0]["detail"]} \
            in j["privileges"] and j["needs_allow"] == ["hooks"] and j["host_cannot_grant"] == []
        granted = json.loads(sc.sc("update", "chk1", "--check", "--json", "--allow", "hooks").out)
        assert granted["needs_allow"] == [] and granted["update_available"] is True
        assert sc.host.run("readlink", str(CHECKOUTS / "chk1")).stdout.strip() == str(CHECKOUTS / "chk1.0")
        push(nons, "v3")                     # not pulled: its layers are not here
        j = json.loads(sc.sc("update", "chk1", "--check", "--json").out)
        assert j["files"] is None and j["privileges"] is None and j["needs_allow"] is None
        assert "privileges: not known" in sc.sc("update", "chk1", "--check").out
    finally:
        sc.ok("uninstall", "chk1")


def test_update_allow_alone_stores_the_allowance_without_redeploying(sc, images):
    """docs/operations.md "Granting without an update"."""
    sc.ok("install", "--name", "grant1", "--set", f"PORT={free_port()}", images["plain"])
    try:
        info_path = CHECKOUTS / "grant1.0/info"
        shown = sc.ok("update", "grant1", "--display", "--allow", "hooks")
        assert "would allow hooks for grant1" in shown.out
        assert json.loads(sc.path(info_path).read_text())["allowed-privileges"] == []
        r = sc.ok("update", "grant1", "--allow", "hooks")
        assert "allowed hooks for grant1" in r.out and "Latest version" not in r.out, r.out
        assert json.loads(sc.path(info_path).read_text())["allowed-privileges"] == ["hooks"]
        assert mode(sc, info_path) == 0o600 and not sc.exists(CHECKOUTS / "grant1.1")
        again = sc.ok("update", "grant1", "--allow", "hooks")
        assert "Latest version already installed." in again.out
        sc.ok("update", "grant1", "--rebase", images["hooks"])     # granted before: not refused
        info = json.loads(sc.path(CHECKOUTS / "grant1.1/info").read_text())
        assert info["allowed-privileges"] == ["hooks"]
    finally:
        sc.ok("uninstall", "grant1")
