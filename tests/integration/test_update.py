"""update, rollback, controlled update, crash consistency on a real systemd test host (docs/operations.md, "What each verb does to the host")."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.images import build_oci_layout
from tests.integration.sc_host import CHECKOUTS, ScHost, free_port, http_get, port_closed
from tests.integration.test_lifecycle import crashing_spec
from tests.fixtures.examples import example_spec

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.registry]


@pytest.fixture(scope="module")
def images(registry, tmp_path_factory):
    root = tmp_path_factory.mktemp("update-images")
    specs = {
        "v1": example_spec(index_html="hello v1\n", hostfs={"/etc/upd/app.conf": "v1 $PORT\n"}),
        "v2": example_spec(index_html="hello v2\n", hostfs={"/etc/upd/app.conf": "v2 $PORT\n"}),
        "crash": crashing_spec(),
        "needs-token": example_spec(index_html="token\n", required=["TOKEN"]),
    }
    return {tag: registry.push(build_oci_layout(spec, root / tag, tag).layout, tag, "upd/web")
            for tag, spec in specs.items()}



def link(sc: ScHost, name: str) -> str:
    return sc.host.run("readlink", str(CHECKOUTS / name)).stdout.strip()


def test_update_rollback_rollback(sc, images, testhost_units):
    port = free_port()
    testhost_units.append("upd1.service")
    sc.ok("install", "--name", "upd1", "--set", f"PORT={port}", images["v1"])
    sc.ok("start", "upd1")
    assert http_get(port) == "hello v1\n"
    uuid = json.loads(sc.path(CHECKOUTS / "upd1.0/info").read_text())["values"]["UUID"]

    r = sc.ok("update", "upd1", "--rebase", images["v2"])
    assert "updated upd1" in r.out
    assert link(sc, "upd1") == str(CHECKOUTS / "upd1.1")
    assert http_get(port) == "hello v2\n" and sc.status("upd1") == "running"
    info = json.loads(sc.path(CHECKOUTS / "upd1.1/info").read_text())
    assert info["values"]["UUID"] == uuid and info["values"]["PORT"] == str(port)
    assert sc.path("/etc/upd/app.conf").read_text() == "v2 $PORT\n"

    sc.ok("rollback", "upd1")
    assert link(sc, "upd1") == str(CHECKOUTS / "upd1.0")
    assert http_get(port) == "hello v1\n"
    assert sc.path("/etc/upd/app.conf").read_text() == "v1 $PORT\n"
    assert sc.path("/etc/systemd/system/upd1.service").read_text() == \
        sc.path(CHECKOUTS / "upd1.0/upd1.service").read_text()

    sc.ok("rollback", "upd1")
    assert http_get(port) == "hello v2\n"
    sc.ok("uninstall", "upd1")
    assert sc.traces("upd1") == [] and not sc.path("/etc/upd").exists()


def test_update_set_moves_port_and_noop_update(sc, images, testhost_units):
    p1, p2 = free_port(), free_port()
    testhost_units.append("upd2.service")
    sc.ok("install", "--name", "upd2", "--set", f"PORT={p1}", images["v1"])
    sc.ok("start", "upd2")
    http_get(p1)
    r = sc.ok("update", "upd2")
    assert "Latest version already installed." in r.out
    assert link(sc, "upd2") == str(CHECKOUTS / "upd2.0") and not sc.exists(CHECKOUTS / "upd2.1")

    sc.ok("update", "upd2", "--set", f"PORT={p2}")
    assert link(sc, "upd2") == str(CHECKOUTS / "upd2.1")
    assert http_get(p2) == "hello v1\n" and port_closed(p1)
    sc.ok("uninstall", "upd2")


def test_update_of_a_stopped_container_leaves_it_stopped(sc, images):
    port = free_port()
    sc.ok("install", "--name", "upd3", "--set", f"PORT={port}", images["v1"])
    sc.ok("update", "upd3", "--rebase", images["v2"])
    assert sc.status("upd3") == "inactive" and port_closed(port)
    sc.ok("uninstall", "upd3")


def test_failed_render_leaves_the_running_version(sc, images, testhost_units):
    port = free_port()
    testhost_units.append("upd4.service")
    sc.ok("install", "--name", "upd4", "--set", f"PORT={port}", images["v1"])
    sc.ok("start", "upd4")
    r = sc.sc("update", "upd4", "--rebase", images["needs-token"])
    assert r.code != 0 and "TOKEN" in r.err
    assert link(sc, "upd4") == str(CHECKOUTS / "upd4.0") and not sc.exists(CHECKOUTS / "upd4.1")
    assert http_get(port) == "hello v1\n"
    sc.ok("uninstall", "upd4")


def test_controlled_update_rolls_back_a_service_that_dies(sc, images, testhost_units):
    port = free_port()
    testhost_units.append("upd5.service")
    sc.ok("install", "--name", "upd5", "--set", f"PORT={port}", images["v1"])
    sc.ok("start", "upd5")
    http_get(port)
    r = sc.sc("update", "upd5", "--rebase", images["crash"], "--controlled", "--timeout", "3")
    assert r.code != 0 and "rolled back" in r.err, r.text
    assert link(sc, "upd5") == str(CHECKOUTS / "upd5.0")
    assert http_get(port) == "hello v1\n" and sc.status("upd5") == "running"
    sc.ok("uninstall", "upd5")


def test_rollback_errors(sc, images):
    sc.ok("install", "--name", "upd6", "--set", f"PORT={free_port()}", images["v1"])
    r = sc.sc("rollback", "upd6")
    assert r.code == 1 and r.err.strip() == \
        f"error: Cannot find a previous deployment to rollback located at {CHECKOUTS}/upd6.1"
    r = sc.sc("rollback", "nosuch")
    assert r.code == 1 and "not installed" in r.err
    sc.ok("uninstall", "upd6")


def test_update_all_summary(sc, images):
    sc.ok("install", "--name", "upd7", "--set", f"PORT={free_port()}", images["v1"])
    rows = json.loads(sc.ok("update", "--all", "--json").out)
    row = next(r for r in rows if r["container"] == "upd7")
    assert row["result"] == "unchanged" and row["before"] == row["after"]
    sc.ok("uninstall", "upd7")


CRASH_POINTS = ["build-checkout", "build-synced", "switch-stopped", "switch-hostfiles",
                "switch-unit", "switch-link"]


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_kill_9_during_update_leaves_a_consistent_container(sc, images, point, testhost_units):
    name = f"crash-{point}"
    port = free_port()
    testhost_units.append(f"{name}.service")
    sc.ok("install", "--name", name, "--set", f"PORT={port}", images["v1"])
    sc.ok("start", name)
    r = sc.sc("update", name, "--rebase", images["v2"], env={"SYSCONTAINERS_CRASH_AT": point})
    assert r.code == -9 or r.code == 137, r.text
    live = link(sc, name)
    assert live in (str(CHECKOUTS / f"{name}.0"), str(CHECKOUTS / f"{name}.1"))
    assert sc.exists(live + "/info")
    # the next run completes or cleans up: list works, and an update reaches v2 and leaves
    # the service running, as it was before the crash
    assert name in sc.listing()
    sc.ok("update", name, "--rebase", images["v2"])
    assert sc.status(name) == "running"
    assert http_get(port) == "hello v2\n"
    assert sc.path(f"/etc/systemd/system/{name}.service").read_text() == \
        sc.path(f"{link(sc, name)}/{name}.service").read_text()
    assert not sc.dot_leftovers(name)
    sc.ok("uninstall", name)
    assert sc.traces(name) == []


@pytest.mark.parametrize("point", ["build-checkout", "build-synced", "install-unit", "install-link"])
def test_kill_9_during_install_then_install_again(sc, images, point):
    name = f"icrash-{point}"
    port = free_port()
    args = ("install", "--name", name, "--set", f"PORT={port}", images["v1"])
    r = sc.sc(*args, env={"SYSCONTAINERS_CRASH_AT": point})
    assert r.code in (-9, 137), r.text
    sc.ok(*args)                     # completes the interrupted install, or cleans up and redoes it
    assert sc.host.run("systemctl", "is-enabled", f"{name}.service", check=False).stdout.strip() == "enabled"
    assert sc.path("/etc/upd/app.conf").read_text() == "v1 $PORT\n"
    sc.ok("start", name)
    assert http_get(port) == "hello v1\n"
    sc.ok("uninstall", name)
    assert sc.traces(name) == [] and not sc.path("/etc/upd").exists()


def test_kill_9_during_rollback_is_completed_by_the_next_verb(sc, images):
    name, port = "rcrash", free_port()
    sc.ok("install", "--name", name, "--set", f"PORT={port}", images["v1"])
    sc.ok("start", name)
    sc.ok("update", name, "--rebase", images["v2"])
    r = sc.sc("rollback", name, env={"SYSCONTAINERS_CRASH_AT": "switch-unit"})
    assert r.code in (-9, 137)
    sc.ok("start", name)             # reconciles: host matches the link (still v2), running
    assert http_get(port) == "hello v2\n"
    sc.ok("rollback", name)
    assert http_get(port) == "hello v1\n"
    sc.ok("uninstall", name)
    assert sc.traces(name) == []


def test_update_display_changes_nothing(sc, images):
    port = free_port()
    sc.ok("install", "--name", "disp2", "--set", f"PORT={port}", images["v1"])
    r = sc.ok("update", "disp2", "--rebase", images["v2"], "--set", "PORT=1", "--display")
    assert "would update disp2" in r.out and f"PORT: '{port}' -> '1'" in r.out, r.out
    assert link(sc, "disp2") == str(CHECKOUTS / "disp2.0") and not sc.exists(CHECKOUTS / "disp2.1")
    assert json.loads(sc.path(CHECKOUTS / "disp2.0/info").read_text())["values"]["PORT"] == str(port)
    sc.ok("uninstall", "disp2")
