"""Issue 11's done-when in one run on the systemd test host: a signed container with a health
check and --auto-update=registry under a signed-only policy; the auto-update timer fires by
itself. A signed v2 -> updated, healthy, in the history; a signed v3 whose service starts but
fails its health check -> rolled back to v2, healthy, the history says why; an unsigned v4 ->
refused by the policy, nothing of it imported, v2 still serving (docs/operations.md,
"Unattended updates (auto-update)", "Health checks", "Signatures and the trust policy",
"History")."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest

from tests.fixtures.examples import example_spec
from tests.fixtures.images import build_oci_layout
from tests.fixtures.signing import Keyring, Lookaside, push, signed_only_policy, write_registries_d
from tests.integration.sc_host import free_port, http_get

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.registry]

TIMER = "syscontainers-auto-update"
NAME = "unattended1"
FAST = {"interval": 1, "timeout": 2, "retries": 3}


def spec(text: str, check_path: str):
    base = example_spec(index_html=text, labels={"org.example.test": "unattended"})
    manifest = {"version": "1.0", "defaultValues": {"PORT": "8080"},
                "healthCheck": {"http": f"http://127.0.0.1:$PORT{check_path}", **FAST}}
    return replace(base, exports={**base.exports, "manifest.json": json.dumps(manifest)})


@pytest.fixture
def trust(sc, registry, tmp_path):
    """A key, a lookaside server, and inside the test host a signed-only policy for the test
    registry plus a config naming the registries.d; the host's manager environment carries
    that config to the timer's service (removed afterwards)."""
    ring = Keyring(tmp_path / "gnupg")
    key = ring.new_key("Unattended Signer <unattended@example.test>")
    lookaside = Lookaside(tmp_path / "lookaside").start()
    regd = write_registries_d(tmp_path / "registries.d", registry.host, lookaside)
    inside = "/root/unattended-trust"
    sc.host.run("mkdir", "-p", f"{inside}/registries.d")
    sc.path(f"{inside}/registries.d/test-signatures.yaml").write_text(
        (regd / "test-signatures.yaml").read_text())
    ring.export(key, sc.path(f"{inside}/key.gpg"))
    signed_only_policy(sc.path(f"{inside}/policy.json"), registry.host, f"{inside}/key.gpg")
    sc.path(f"{inside}/config.toml").write_text(f'registries_d = "{inside}/registries.d"\n')
    env = {"SYSCONTAINERS_CONFIG": f"{inside}/config.toml"}
    sc.host.run("systemctl", "set-environment", f"SYSCONTAINERS_CONFIG={inside}/config.toml")
    try:
        yield ring, key, regd, f"{inside}/policy.json", env
    finally:
        sc.host.run("systemctl", "unset-environment", "SYSCONTAINERS_CONFIG", check=False)
        lookaside.stop()
        ring.close()
        sc.host.run("rm", "-rf", inside)


def history(sc) -> list[dict]:
    return json.loads(sc.ok("history", NAME, "--json").out)


def wait_for(what, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what.__doc__}")


def test_the_timer_updates_rolls_back_and_refuses_unattended(sc, registry, trust, tmp_path,
                                                          testhost_units):
    ring, key, regd, policy, env = trust
    testhost_units += [f"{NAME}.service", f"{TIMER}.service"]
    layouts = {tag: build_oci_layout(spec(f"unattended {tag}\n", "/" if tag != "v3" else "/healthz"),
                                     tmp_path / tag, tag) for tag in ("v1", "v2", "v3", "v4")}
    ref = f"{registry.host}/unattended/web:stable"
    push(layouts["v1"].layout, "v1", ref, regd, ring, key)
    port = free_port()
    sc.ok("install", "--name", NAME, "--set", f"PORT={port}", "--auto-update=registry",
          "--signature-policy", policy, ref, env=env)
    try:
        sc.ok("start", NAME)
        assert http_get(port) == "unattended v1\n"
        sc.ok("auto-update", "--install-timer", "--on-calendar", "*:*:0/5", "--randomized-delay", "0")

        push(layouts["v2"].layout, "v2", ref, regd, ring, key)

        def updated_to_v2():
            """the timer's auto-update of v2"""
            return [r for r in history(sc) if (r["verb"], r["result"]) == ("auto-update", "ok")]
        [rec] = wait_for(updated_to_v2)
        assert (rec["from"]["image_id"], rec["to"]["image_id"]) == (layouts["v1"].id, layouts["v2"].id)
        assert http_get(port) == "unattended v2\n"
        assert sc.listing()[NAME]["health"] == "healthy"

        push(layouts["v3"].layout, "v3", ref, regd, ring, key)

        def rolled_back():
            """the timer's rollback of v3"""
            return [r for r in history(sc) if r["result"] == "rolled-back"]
        rec = wait_for(rolled_back)[0]
        assert rec["verb"] == "auto-update" and rec["to"]["image_id"] == layouts["v3"].id
        assert "failed its health check" in rec["reason"] and "404" in rec["reason"]
        assert http_get(port) == "unattended v2\n"
        assert sc.listing()[NAME]["health"] == "healthy"
        assert sc.listing()[NAME]["image_id"] == layouts["v2"].id

        push(layouts["v4"].layout, "v4", ref, regd)               # not signed

        def refused():
            """the policy's refusal of the unsigned v4"""
            return [r for r in history(sc) if r["result"] == "failed"
                    and "rejected by the trust policy" in (r["reason"] or "")]
        rec = wait_for(refused)[0]
        assert rec["verb"] == "auto-update" and "it is not signed" in rec["reason"]
        images = sc.ok("images", "list", "--json").out
        assert layouts["v4"].id not in images
        assert http_get(port) == "unattended v2\n" and sc.status(NAME) == "running"
    finally:
        sc.sc("auto-update", "--remove-timer")
        sc.sc("uninstall", NAME)
