"""auto-update on the systemd test host with a real registry: the policy (flag, image label,
list/status), registry and local policies, a new version that does not stay up (rolled back),
an unreachable registry (unchecked), dependency order, --dry-run, --stage then the switch, and
the timer units triggered inside the test host (docs/operations.md "Unattended updates
(auto-update)").

auto-update acts on every container with a policy: each test installs its own and removes
them, so no two tests' containers are there at once.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest

from tests.fixtures.examples import SERVICE_TEMPLATE, example_spec
from tests.fixtures.images import build_oci_layout
from tests.fixtures.registry import Registry
from tests.integration.sc_host import CHECKOUTS, SC, ScHost, free_port, http_get
from tests.integration.test_lifecycle import crashing_spec

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.registry]

OWN = {"org.example.test": "auto-update"}    # content no other test's images have


def after_spec(text: str):
    """The example image whose unit has ``After=$AFTER`` (default: nothing)."""
    spec = example_spec(index_html=text, labels=OWN)
    unit = SERVICE_TEMPLATE.replace("[Unit]\n", "[Unit]\nAfter=$AFTER\n")
    manifest = {"version": "1.0", "defaultValues": {"PORT": "8080", "AFTER": ""}}
    return replace(spec, exports={**spec.exports, "service.template": unit,
                                  "manifest.json": json.dumps(manifest)})


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    root = tmp_path_factory.mktemp("auto-update-images")
    crash = crashing_spec()
    specs = {
        "v1": example_spec(index_html="auto v1\n", labels=OWN),
        "v2": example_spec(index_html="auto v2\n", labels=OWN),
        "v3": example_spec(index_html="auto v3\n", labels=OWN),
        "bad": replace(crash, labels={**crash.labels, **OWN}),
        "labelled": example_spec(index_html="labelled\n",
                                 labels={**OWN, "io.containers.autoupdate": "registry"}),
        "after1": after_spec("after v1\n"),
        "after2": after_spec("after v2\n"),
    }
    return {tag: build_oci_layout(spec, root / tag, tag) for tag, spec in specs.items()}


def push(registry, layouts, tag: str, repo: str) -> str:
    """Push layout ``tag`` as ``repo:cur`` (the tag the containers follow moves)."""
    return registry.push(layouts[tag].layout, tag, repo, dest_tag="cur")


def info(sc: ScHost, name: str) -> dict:
    return json.loads(sc.path(CHECKOUTS / name / "info").read_text())


def link(sc: ScHost, name: str) -> str:
    return sc.host.run("readlink", str(CHECKOUTS / name)).stdout.strip()


def rows(r) -> dict:
    return {row["container"]: row for row in json.loads(r.out)}


def state(sc: ScHost) -> tuple:
    """What --dry-run must leave as it was: the deployments and the store."""
    listing = sc.host.run("ls", "-A", str(CHECKOUTS)).stdout
    return listing, sc.ok("images", "list", "--all", "--json").out


def test_policy_from_the_flag_and_the_label_shown_by_list_and_status(sc, registry, layouts):
    ref = push(registry, layouts, "v1", "aud/pol")
    labelled = registry.push(layouts["labelled"].layout, "labelled", "aud/label")
    sc.ok("install", "--name", "aup1", "--auto-update=local", "--set", f"PORT={free_port()}", ref)
    sc.ok("install", "--name", "aup2", "--set", f"PORT={free_port()}", labelled)
    sc.ok("install", "--name", "aup3", "--set", f"PORT={free_port()}", ref)
    try:
        assert info(sc, "aup1.0")["auto-update"] == "local"
        assert info(sc, "aup2.0")["auto-update"] == "registry"     # the label
        assert info(sc, "aup3.0")["auto-update"] == "off"
        listing = sc.listing()
        assert [listing[n]["auto_update"] for n in ("aup1", "aup2", "aup3")] == \
            ["local", "registry", "off"]
        assert "AUTO-UPDATE" in sc.ok("list").out
        assert "auto-update registry" in sc.sc("status", "aup2").out

        r = sc.ok("update", "aup3", "--auto-update=registry")     # nothing else changes
        assert "auto-update of aup3 is registry (stored" in r.out, r.text
        assert link(sc, "aup3") == str(CHECKOUTS / "aup3.0") and not sc.exists(CHECKOUTS / "aup3.1")
        assert info(sc, "aup3.0")["auto-update"] == "registry"
        r = sc.ok("update", "aup2", "--auto-update=off")
        assert sc.listing()["aup2"]["auto_update"] == "off"

        r = sc.sc("install", "--name", "aup4", "--auto-update=sometimes", ref)
        assert r.code == 2 and "--auto-update" in r.err and not sc.exists(CHECKOUTS / "aup4")
    finally:
        for name in ("aup1", "aup2", "aup3"):
            sc.sc("uninstall", "--force", name)


def test_registry_policy_updates_then_rolls_back_a_version_that_does_not_stay_up(
        sc, registry, layouts, testhost_units):
    port = free_port()
    testhost_units.append("aur1.service")
    ref = push(registry, layouts, "v1", "aud/reg")
    sc.ok("install", "--name", "aur1", "--auto-update=registry", "--set", f"PORT={port}", ref)
    try:
        sc.ok("start", "aur1")
        assert http_get(port) == "auto v1\n"
        r = sc.sc("auto-update", "--dry-run", "--json")
        assert r.code == 0 and rows(r)["aur1"]["result"] == "unchanged", r.text

        push(registry, layouts, "v2", "aud/reg")
        before, mark = state(sc), registry.mark()
        r = sc.sc("auto-update", "--dry-run", "--json")
        row = rows(r)["aur1"]
        assert r.code == 100 and row["result"] == "would-update", r.text
        assert (row["from"], row["to"], row["policy"]) == \
            (layouts["v1"].id, layouts["v2"].id, "registry")
        assert state(sc) == before and registry.blob_gets(mark) == []     # nothing pulled
        r = sc.sc("auto-update", "--dry-run")
        assert r.code == 100 and "would-update" in r.out

        r = sc.sc("auto-update", "--json")
        row = rows(r)["aur1"]
        assert r.code == 0 and row["result"] == "updated", r.text
        assert (row["from"], row["to"]) == (layouts["v1"].id, layouts["v2"].id)
        assert http_get(port) == "auto v2\n" and link(sc, "aur1") == str(CHECKOUTS / "aur1.1")
        assert info(sc, "aur1.1")["auto-update"] == "registry"     # the policy stays
        r = sc.sc("auto-update")
        assert r.code == 0 and "unchanged" in r.out, r.text

        push(registry, layouts, "bad", "aud/reg")     # starts, then does not stay up
        r = sc.sc("auto-update", "--json", "--timeout", "3")
        row = rows(r)["aur1"]
        assert r.code == 1 and row["result"] == "rolled-back", r.text
        assert "rolled back" in row["reason"] and row["to"] == layouts["v2"].id
        assert link(sc, "aur1") == str(CHECKOUTS / "aur1.1")
        assert http_get(port) == "auto v2\n" and sc.wait_status("aur1", "running") == "running"
    finally:
        sc.sc("uninstall", "--force", "aur1")


def test_an_unreachable_registry_is_unchecked(sc, layouts, tmp_path):
    reg = Registry(tmp_path / "aud-down").start()
    try:
        ref = reg.push(layouts["v1"].layout, "v1", "aud/down")
        sc.ok("install", "--name", "aud1", "--auto-update=registry", "--set",
              f"PORT={free_port()}", f"http:{ref}")
    finally:
        reg.stop()
    try:
        for args in (("auto-update", "--json"), ("auto-update", "--dry-run", "--json")):
            r = sc.sc(*args)
            row = rows(r)["aud1"]
            assert r.code == 1 and row["result"] == "unchecked", r.text
            assert f"cannot reach registry {reg.host}" in row["reason"]
        assert link(sc, "aud1") == str(CHECKOUTS / "aud1.0") and not sc.exists(CHECKOUTS / "aud1.1")
        r = sc.sc("auto-update")
        assert r.code == 1 and "unchecked: cannot check aud1" in r.out, r.text
    finally:
        sc.sc("uninstall", "--force", "aud1")


def test_local_policy_uses_only_what_the_store_holds(sc, registry, layouts):
    ref = push(registry, layouts, "v1", "aud/local")
    sc.ok("install", "--name", "aul1", "--auto-update=local", "--set", f"PORT={free_port()}", ref)
    try:
        push(registry, layouts, "v2", "aud/local")
        mark = registry.mark()
        r = sc.sc("auto-update", "--json")
        assert r.code == 0 and rows(r)["aul1"]["result"] == "unchanged", r.text
        assert [q for q in registry.requests()[mark:] if "aud/local" in q.path] == []  # not asked
        sc.ok("pull", "--update", ref)      # a newer image stored under its name
        r = sc.sc("auto-update", "--dry-run", "--json")
        assert r.code == 100 and rows(r)["aul1"]["result"] == "would-update", r.text
        r = sc.sc("auto-update", "--json")
        row = rows(r)["aul1"]
        assert r.code == 0 and row["result"] == "updated" and row["to"] == layouts["v2"].id, r.text
    finally:
        sc.sc("uninstall", "--force", "aul1")


def test_containers_update_in_dependency_order(sc, registry, layouts):
    """aux-a comes after aux-z (its unit says After=aux-z.service): aux-z first."""
    ref_z = push(registry, layouts, "after1", "aud/dep-z")
    ref_a = push(registry, layouts, "after1", "aud/dep-a")
    sc.ok("install", "--name", "aux-z", "--auto-update=registry", "--set", f"PORT={free_port()}", ref_z)
    sc.ok("install", "--name", "aux-a", "--auto-update=registry", "--set", f"PORT={free_port()}",
          "--set", "AFTER=aux-z.service", ref_a)
    try:
        assert "After=aux-z.service" in sc.path("/etc/systemd/system/aux-a.service").read_text()
        push(registry, layouts, "after2", "aud/dep-z")
        push(registry, layouts, "after2", "aud/dep-a")
        r = sc.sc("auto-update", "--json")
        ours = [row for row in json.loads(r.out) if row["container"].startswith("aux-")]
        assert r.code == 0, r.text
        assert [(row["container"], row["result"]) for row in ours] == \
            [("aux-z", "updated"), ("aux-a", "updated")]
        assert r.err == "" or "cycle" not in r.err
    finally:
        for name in ("aux-a", "aux-z"):
            sc.sc("uninstall", "--force", name)


def test_stage_then_switch_keeps_the_rollback_version(sc, registry, layouts, testhost_units):
    port = free_port()
    testhost_units.append("aus1.service")
    ref = push(registry, layouts, "v1", "aud/stage")
    sc.ok("install", "--name", "aus1", "--auto-update=registry", "--set", f"PORT={port}", ref)
    try:
        sc.ok("start", "aus1")
        push(registry, layouts, "v2", "aud/stage")
        sc.ok("auto-update")                       # aus1.1 = v2, aus1.0 = v1 (the rollback)
        push(registry, layouts, "v3", "aud/stage")
        r = sc.sc("auto-update", "--stage", "--json")
        row = rows(r)["aus1"]
        assert r.code == 0 and (row["result"], row["to"]) == ("staged", layouts["v3"].id), r.text
        staged = CHECKOUTS / ".aus1.0.staged"
        assert sc.exists(staged / "rootfs/srv/index.html") and sc.exists(staged / "staged")
        # nothing switched: v2 runs, v1 is still the rollback version
        assert link(sc, "aus1") == str(CHECKOUTS / "aus1.1") and http_get(port) == "auto v2\n"
        assert info(sc, "aus1.0")["revision"] == layouts["v1"].id
        r = sc.sc("auto-update", "--stage", "--json")
        assert rows(r)["aus1"]["result"] == "staged" and "staged already" in r.err + r.out

        r = sc.sc("auto-update", "--json")
        row = rows(r)["aus1"]
        assert r.code == 0 and row["result"] == "updated", r.text
        assert "using the staged deployment of aus1" in r.err + r.out
        assert http_get(port) == "auto v3\n" and not sc.exists(staged)
        assert not sc.exists(CHECKOUTS / "aus1.0/staged")
        assert info(sc, "aus1.0")["revision"] == layouts["v3"].id
        sc.ok("rollback", "aus1")                  # the version before the staged switch
        assert http_get(port) == "auto v2\n"
    finally:
        sc.sc("uninstall", "--force", "aus1")
    assert not sc.exists(CHECKOUTS / ".aus1.0.staged") and not sc.exists(CHECKOUTS / ".aus1.1.staged")


def test_a_stale_staged_update_is_built_again(sc, registry, layouts):
    ref = push(registry, layouts, "v1", "aud/stale")
    sc.ok("install", "--name", "aus2", "--auto-update=registry", "--set", f"PORT={free_port()}", ref)
    try:
        push(registry, layouts, "v2", "aud/stale")
        assert rows(sc.ok("auto-update", "--stage", "--json"))["aus2"]["result"] == "staged"
        assert sc.exists(CHECKOUTS / ".aus2.1.staged")
        p2 = free_port()
        r = sc.ok("update", "aus2", "--set", f"PORT={p2}")      # other values than staged
        assert "staged update of aus2 is stale" in r.text, r.text
        assert info(sc, "aus2.1")["values"]["PORT"] == str(p2)
        assert info(sc, "aus2.1")["revision"] == layouts["v2"].id
        assert not sc.exists(CHECKOUTS / ".aus2.1.staged")
    finally:
        sc.sc("uninstall", "--force", "aus2")


TIMER = "syscontainers-auto-update"


def show(sc: ScHost, unit: str, *props: str) -> dict:
    out = sc.host.run("systemctl", "show", unit, *(f"--property={p}" for p in props)).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def test_timer_installed_triggered_and_removed(sc, registry, layouts, testhost_units):
    testhost_units += [f"{TIMER}.service", f"{TIMER}.timer"]
    port = free_port()
    ref = push(registry, layouts, "v1", "aud/timer")
    sc.ok("install", "--name", "aut1", "--auto-update=registry", "--set", f"PORT={port}", ref)
    try:
        r = sc.ok("auto-update", "--install-timer", "--on-calendar", "*-*-* 04:30:00")
        assert f"enabled {TIMER}.timer" in r.out
        service = sc.path(f"/etc/systemd/system/{TIMER}.service").read_text()
        assert f'ExecStart="{SC}" "--system" "auto-update"' in service, service
        timer = sc.path(f"/etc/systemd/system/{TIMER}.timer").read_text()
        assert "RandomizedDelaySec=30min" in timer and "Persistent=true" in timer
        props = show(sc, f"{TIMER}.timer", "TimersCalendar", "ActiveState", "UnitFileState",
                     "RandomizedDelayUSec", "Persistent")
        assert "OnCalendar=*-*-* 04:30:00" in props["TimersCalendar"], props
        assert (props["ActiveState"], props["UnitFileState"], props["Persistent"]) == \
            ("active", "enabled", "yes")
        assert props["RandomizedDelayUSec"] == "30min"

        push(registry, layouts, "v2", "aud/timer")
        sc.host.run("systemctl", "start", f"{TIMER}.service")       # what the timer starts
        assert info(sc, "aut1.1")["revision"] == layouts["v2"].id
        assert show(sc, f"{TIMER}.service", "Result")["Result"] == "success"

        # a calendar that comes round in seconds: the timer itself fires
        sc.ok("auto-update", "--install-timer", "--on-calendar", "*:*:0/5",
              "--randomized-delay", "0")
        push(registry, layouts, "v3", "aud/timer")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
                sc.exists(CHECKOUTS / "aut1.0/info")
                and info(sc, "aut1.0")["revision"] == layouts["v3"].id):
            time.sleep(1)
        assert info(sc, "aut1.0")["revision"] == layouts["v3"].id

        r = sc.sc("auto-update", "--install-timer", "--on-calendar", "not a time")
        assert r.code == 2 and "--on-calendar" in r.err
        sc.ok("auto-update", "--remove-timer")
        assert not sc.exists(f"/etc/systemd/system/{TIMER}.timer")
        assert not sc.exists(f"/etc/systemd/system/{TIMER}.service")
        assert show(sc, f"{TIMER}.timer", "LoadState")["LoadState"] == "not-found"
        assert "no auto-update timer is installed" in sc.ok("auto-update", "--remove-timer").out
    finally:
        sc.sc("auto-update", "--remove-timer")
        sc.sc("uninstall", "--force", "aut1")


def test_stage_timer_and_a_unit_file_that_is_not_ours(sc):
    sc.ok("auto-update", "--install-timer", "--stage-calendar", "Mon 02:00",
          "--on-calendar", "Mon 04:00", "--randomized-delay", "10min")
    try:
        stage = sc.path(f"/etc/systemd/system/{TIMER}-stage.service").read_text()
        assert '"auto-update" "--stage"' in stage
        props = show(sc, f"{TIMER}-stage.timer", "TimersCalendar", "ActiveState")
        assert "OnCalendar=Mon *-*-* 02:00:00" in props["TimersCalendar"] and \
            props["ActiveState"] == "active", props
        sc.ok("auto-update", "--install-timer")          # again without: the stage pair goes
        assert not sc.exists(f"/etc/systemd/system/{TIMER}-stage.timer")
        sc.ok("auto-update", "--remove-timer")
        foreign = sc.path(f"/etc/systemd/system/{TIMER}.timer")
        foreign.write_text("[Timer]\nOnCalendar=hourly\n")
        try:
            r = sc.sc("auto-update", "--install-timer")
            assert r.code == 2 and "not written by syscontainers" in r.err, r.text
            assert foreign.read_text() == "[Timer]\nOnCalendar=hourly\n"
            assert not sc.exists(f"/etc/systemd/system/{TIMER}.service")
            r = sc.sc("auto-update", "--remove-timer")
            assert r.code == 2 and foreign.exists()
        finally:
            foreign.unlink()
    finally:
        sc.sc("auto-update", "--remove-timer")
