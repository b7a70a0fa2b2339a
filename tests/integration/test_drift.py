"""Drift, repair and pinning on the systemd test host (docs/operations.md, "Drift: verify and
repair", "Pinning"): hand edits of a unit, a config.json, a host file and a rootfs file are
each reported; --repair restores all but the admin-edited host file (--force takes that too);
a pinned container survives update --all."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.examples import example_spec
from tests.fixtures.images import build_oci_layout
from tests.integration.sc_host import CHECKOUTS, free_port, http_get

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.registry]

OWN = {"org.example.test": "drift"}
HOST_FILE = "/etc/drift-example/app.conf"


@pytest.fixture(scope="module")
def images(registry, tmp_path_factory):
    root = tmp_path_factory.mktemp("drift-images")
    refs = {}
    for tag, text in (("v1", "hello drift v1\n"), ("v2", "hello drift v2\n")):
        spec = example_spec(index_html=text, labels=OWN, hostfs={HOST_FILE: "port=$PORT\n"})
        refs[tag] = registry.push(build_oci_layout(spec, root / tag, tag).layout, tag, "drift/web")
    return refs


def verify(sc, name: str, *args: str):
    r = sc.sc("verify", name, "--json", *args)
    return r.code, json.loads(r.out)


def lines(report) -> set[str]:
    return {f"{d['kind']} {d['path']}: {d['state']}" for d in report["differences"]}


def test_hand_edits_are_reported_and_repaired(sc, images):
    port = free_port()
    sc.ok("install", "--name", "drift1", "--set", f"PORT={port}", images["v1"])
    try:
        sc.ok("start", "drift1")
        assert verify(sc, "drift1") == (0, {"name": "drift1", "drifted": False, "differences": [],
                                            "notes": [], "repaired": [], "kept": []})
        unit = "/etc/systemd/system/drift1.service"
        config = CHECKOUTS / "drift1.0/config.json"
        sc.host.run("sh", "-c", f"echo '# edited' >> {unit}")
        cfg = json.loads(sc.path(config).read_text())
        cfg["process"]["env"].append("EDITED=1")
        sc.path(config).write_text(json.dumps(cfg))
        sc.host.run("sh", "-c", f"echo 'edited by the admin' >> {HOST_FILE}")
        sc.host.run("sh", "-c", f"echo tampered > {CHECKOUTS}/drift1.0/rootfs/etc/example-version")
        assert "drifted" in sc.ok("list").out

        code, report = verify(sc, "drift1")
        assert code == 1
        assert lines(report) == {f"unit {unit}: modified", f"config {config}: modified",
                                 f"host-file {HOST_FILE}: admin-edited",
                                 "rootfs /etc/example-version: modified"}, report
        r = sc.sc("verify", "drift1", "--diff")
        assert "+# edited" in r.out and '"EDITED=1"' in r.out, r.out

        r = sc.sc("verify", "drift1", "--repair")
        assert r.code == 1, r.text                       # the admin edit was kept
        assert f"{HOST_FILE} was edited on the host; kept" in r.err
        code, report = verify(sc, "drift1")
        assert lines(report) == {f"host-file {HOST_FILE}: admin-edited"}, report
        assert "# edited" not in sc.path(unit).read_text()
        assert sc.host.run("cat", f"{CHECKOUTS}/drift1/rootfs/etc/example-version").stdout == "1\n"
        assert http_get(port) == "hello drift v1\n"

        sc.ok("verify", "drift1", "--repair", "--force")
        assert sc.host.run("cat", HOST_FILE).stdout == "port=$PORT\n"   # as the image has it
        assert verify(sc, "drift1")[0] == 0
        # each repair is in the history: the files (twice), the rootfs (a redeploy)
        records = json.loads(sc.ok("history", "drift1", "--json").out)
        assert [(r["verb"], r["result"]) for r in records if r["verb"] == "repair"] == \
            [("repair", "ok")] * 3, records
    finally:
        sc.sc("uninstall", "drift1")


def test_a_missing_unit_is_drift_and_verify_all_covers_every_container(sc, images):
    sc.ok("install", "--name", "drift2", "--set", f"PORT={free_port()}", images["v1"])
    try:
        sc.host.run("rm", "/etc/systemd/system/drift2.service")
        r = sc.sc("verify", "--all", "--json")
        assert r.code == 1
        report = next(x for x in json.loads(r.out) if x["name"] == "drift2")
        assert lines(report) == {"unit /etc/systemd/system/drift2.service: missing"}
        sc.ok("verify", "drift2", "--repair")
        assert sc.exists("/etc/systemd/system/drift2.service")
        assert verify(sc, "drift2")[0] == 0
    finally:
        sc.sc("uninstall", "drift2")


def test_a_pinned_container_survives_update_all(sc, images):
    sc.ok("install", "--name", "drift3", "--set", f"PORT={free_port()}", images["v1"])
    try:
        sc.ok("pin", "drift3", "--reason", "certified build")
        row = sc.listing()["drift3"]
        assert row["pinned"] is True and "pinned" in sc.ok("list").out
        v1_id = row["image_id"]
        r = sc.sc("update", "--all", "--json")
        rows = {x["container"]: x for x in json.loads(r.out)}
        assert rows["drift3"]["result"] == "pinned" and rows["drift3"]["reason"] == "certified build"
        r = sc.sc("update", "drift3", "--rebase", images["v2"])
        assert r.code == 2 and r.err == ("error: drift3 is pinned (certified build): "
                                         "`syscontainers unpin drift3` first, or update --force\n")
        assert sc.listing()["drift3"]["image_id"] == v1_id
        sc.ok("update", "drift3", "--rebase", images["v2"], "--force")
        assert sc.listing()["drift3"]["pinned"] is True          # carried across the update
        sc.ok("unpin", "drift3")
        assert sc.listing()["drift3"]["pinned"] is False
    finally:
        sc.sc("uninstall", "drift3")
