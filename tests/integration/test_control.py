"""start / stop / status on a real systemd test host: the quick paths (a stat instead of a
query when nothing was interrupted and no container state is left) still complete an
interrupted update and report one container's state (docs/performance.md "start, stop,
status"; docs/operations.md "Service state across update, rollback, stop and uninstall")."""

from __future__ import annotations

import pytest

from tests.fixtures.examples import example_spec
from tests.fixtures.images import build_oci_layout
from tests.integration.sc_host import CHECKOUTS, free_port, http_get, port_closed

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.registry]


@pytest.fixture(scope="module")
def images(registry, tmp_path_factory):
    root = tmp_path_factory.mktemp("control-images")
    specs = {"v1": example_spec(index_html="ctl v1\n"), "v2": example_spec(index_html="ctl v2\n")}
    return {tag: registry.push(build_oci_layout(spec, root / tag, tag).layout, tag, "ctl/web")
            for tag, spec in specs.items()}


def test_start_completes_an_update_a_crash_interrupted(sc, images, testhost_units):
    name, port = "ctl1", free_port()
    testhost_units.append(f"{name}.service")
    sc.ok("install", "--name", name, "--set", f"PORT={port}", images["v1"])
    try:
        sc.ok("start", name)
        r = sc.sc("update", name, "--rebase", images["v2"],
                  env={"SYSCONTAINERS_CRASH_AT": "switch-link"})
        assert r.code in (-9, 137), r.text
        assert sc.exists(CHECKOUTS / f".{name}.switching")
        sc.ok("start", name)          # reconciles first: the link's deployment, marker gone
        assert http_get(port) == "ctl v2\n"
        assert not sc.exists(CHECKOUTS / f".{name}.switching")
    finally:
        sc.sc("uninstall", name)


def test_status_of_one_container_among_others(sc, images, testhost_units):
    names = ["ctl2", "ctl3"]
    port = free_port()
    testhost_units.extend(f"{n}.service" for n in names)
    sc.ok("install", "--name", "ctl2", "--set", f"PORT={port}", images["v1"])
    sc.ok("install", "--name", "ctl3", "--set", f"PORT={free_port()}", images["v2"])
    try:
        sc.ok("start", "ctl2")
        r = sc.sc("status", "ctl2")
        first, rest = r.out.split("\n", 1)
        assert r.code == 0 and first == f"ctl2: running (image {images['v1']}, " \
            f"{sc.listing()['ctl2']['image_id'][:12]}, auto-update off)"
        assert "ctl2.service" in rest and "Active: active (running)" in rest
        r = sc.sc("status", "ctl3")
        assert r.code == 3 and r.out.startswith("ctl3: inactive (image ")
        assert "Active: inactive (dead)" in r.out
        sc.ok("stop", "ctl2")
        assert port_closed(port)
        assert sc.host.run("runc", "state", "ctl2", check=False).returncode != 0
        missing = sc.sc("status", "nosuch9")
        # as `systemctl status` of an unknown unit (docs/json.md, "Exit codes")
        assert missing.code == 4 and missing.err.strip() == "error: container nosuch9 is not installed"
    finally:
        for n in names:
            sc.sc("uninstall", n)
