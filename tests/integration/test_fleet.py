"""The Ansible collection (ansible/) against three real systemd test hosts and a real registry
on 127.0.0.1 (docs/fleet.md): install on all -> idempotent re-run (also with
atomic_container's options) -> check mode shows the pending update with a diff and changes
nothing -> a rolling update (serial 1, max_fail_percentage 0) where host 2's new version fails
its health check: host 2 is rolled back, the play stops, host 3 is untouched -> removal.

The steps share one fleet (module scope) and run in order; each asserts on the json
callback's report and on the hosts themselves (``syscontainers list --json`` inside, HTTP from
the test process).
"""

from __future__ import annotations

import json

import pytest

from tests.fleet.fleet import Fleet, results, task_results
from tests.fleet.images import MIGRATION_MARKER, REPO, push_web, web_layouts
from tests.integration.sc_host import SC, free_port, http_get

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.registry]

NAME = "fleet-web"
TOKEN = "tok-5b0d93e1c7"   # a secret no file of ours contains by chance: grepped for below


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, registry):
    work = tmp_path_factory.mktemp("fleet")
    layouts = web_layouts(work)
    refs = push_web(registry, layouts)
    f = Fleet(work / "hosts").start()
    try:
        f.trust_registry(registry.host)
        f.refs, f.layouts, f.registry = refs, layouts, registry
        f.ports = {name: free_port() for name in f.names}
        f.inv = f.inventory(
            hostvars={name: {"web_port": port} for name, port in f.ports.items()},
            groupvars={"web_name": NAME, "web_image": refs["1.0"], "web_new_image": refs["2.0"],
                       "web_token": TOKEN, "web_settle": 4})
        yield f
    finally:
        f.stop()


def listing(fleet: Fleet, host: str) -> dict[str, dict]:
    out = fleet.hosts[host].run(SC, "list", "--json").stdout
    return {row["name"]: row for row in json.loads(out)}


def run(fleet: Fleet, playbook: str, *args: str, rc: int = 0) -> dict:
    cp = fleet.playbook(playbook, fleet.inv, *args)
    assert cp.returncode == rc, f"exit {cp.returncode}:\n{cp.stdout[-4000:]}\n{cp.stderr[-3000:]}"
    assert TOKEN not in cp.stdout + cp.stderr   # no_log: the secret is never shown
    return results(cp)


def test_1_install_on_all_hosts(fleet):
    report = run(fleet, "install.yml")
    web = task_results(report, "Web runs from its image, with its port and token")
    assert {h: r["changed"] for h, r in web.items()} == {h: True for h in fleet.names}
    assert all(r["actions"] == ["install", "start"] for r in web.values()), web
    # atomic_container's options (mode, backend, values as K=V) mean the same state
    atomic = task_results(report, "The same state, written with atomic_container's options")
    assert {h: r["changed"] for h, r in atomic.items()} == {h: False for h in fleet.names}
    facts = task_results(report, "What runs on the host")
    for host, port in fleet.ports.items():
        assert http_get(port) == "web 1.0\n"
        row = facts[host]["ansible_facts"]["syscontainers"]["containers"][NAME]
        assert row["status"] == "running" and row["image"] == fleet.refs["1.0"], row
        # the secret reached the service's config (masked in every output), never a result
        assert TOKEN in fleet.hosts[host].path(f"/var/lib/containers/atomic/{NAME}.0/config.json").read_text()


def test_2_second_run_changes_nothing(fleet):
    report = run(fleet, "install.yml")
    assert {h: s["changed"] for h, s in report["stats"].items()} == {h: 0 for h in fleet.names}
    web = task_results(report, "Web runs from its image, with its port and token")
    assert all(r["actions"] == [] for r in web.values()), web


def test_3_check_mode_shows_the_pending_update_with_a_diff(fleet):
    report = run(fleet, "check.yml")
    staged = task_results(report, "The new image is in every host's store")
    assert all(r["changed"] and r["image"]["names"] == [fleet.refs["2.0"]] for r in staged.values())
    would = task_results(report, "What the update would change (nothing is changed)")
    for host in fleet.names:
        r = would[host]
        assert r["changed"] is True and r["actions"] == ["update"], r
        assert r["check"]["update_available"] is True and r["check"]["available_image"] == fleet.refs["2.0"]
        diff = r["diff"]["prepared"]
        assert "config.json (installed)" in diff and "needs-migration" in diff, diff
        assert TOKEN not in diff
        # nothing changed: still 1.0, running
        row = listing(fleet, host)[NAME]
        assert row["image"] == fleet.refs["1.0"] and row["status"] == "running", row
        assert http_get(fleet.ports[host]) == "web 1.0\n"


def test_4_rolling_update_stops_at_the_host_that_fails_and_rolls_it_back(fleet):
    first, second, third = fleet.names
    # host 2 holds state 2.0 cannot read: its new version runs but fails its health check
    fleet.hosts[second].path(f"/var/lib/{NAME}/{MIGRATION_MARKER}").write_text("1.x\n")
    report = run(fleet, "rolling-update.yml", rc=2)
    update = task_results(report, "Update to the new image (rolled back automatically when it is not healthy)")
    assert set(update) == {first, second}, "the play must stop before the third host"
    assert update[first]["changed"] is True and not update[first].get("failed")
    failed = update[second]
    assert failed["failed"] is True
    assert failed["msg"].startswith(
        f"syscontainers update failed: update of {NAME} failed: the new version failed its "
        f"health check (exec "), failed
    assert "cannot read the state of 1.x" in failed["msg"], failed
    assert failed["msg"].endswith("rolled back to the previous version"), failed
    health = task_results(report, "Health check, the service answers on its port")
    assert set(health) == {first} and health[first]["content"] == "web 2.0\n"
    assert report["stats"][second]["failures"] == 1 and third not in report["stats"]
    # the hosts themselves: 2.0 on the first, 1.0 (rolled back, running) on the second,
    # the third untouched
    assert http_get(fleet.ports[first]) == "web 2.0\n"
    for host in (second, third):
        row = listing(fleet, host)[NAME]
        assert row["image"] == fleet.refs["1.0"] and row["status"] == "running", row
        assert http_get(fleet.ports[host]) == "web 1.0\n"
    assert failed["container"]["image"] == fleet.refs["1.0"]
    assert not fleet.hosts[third].run("test", "-e", f"/var/lib/containers/atomic/{NAME}.1",
                                      check=False).returncode == 0


# ---------------------------------------------------------------------------- one host, each state
SOLO = "fleet-solo"
CONTAINER = "syscontainers.syscontainers.syscontainers_container"
IMAGE = "syscontainers.syscontainers.syscontainers_image"


def solo(fleet: Fleet, *tasks: dict) -> list[dict]:
    """Run container-module tasks on fleet1, in one play; each task is (args, keywords)."""
    plays = [{CONTAINER: {"name": SOLO, **args}, **kw} for args, kw in tasks]
    return [r["fleet1"] for r in fleet.tasks("fleet1", plays, fleet.inv)]


CHECK = {"check_mode": True}


def test_6_each_state_on_one_host(fleet):
    host = fleet.hosts["fleet1"]
    port, port2 = free_port(), free_port()
    moving = fleet.registry.push(fleet.layouts["1.0"], "1.0", REPO, dest_tag="moving")
    values, secret = {"PORT": str(port)}, {"TOKEN": TOKEN}
    missing = f"{fleet.registry.host}/fleet/none:1"
    try:
        r = solo(fleet,
                 # check mode of an install: the plan (install --display), nothing done
                 ({"image": moving, "state": "started", "values": values,
                   "secret_values": secret}, {**CHECK, "diff": True}),
                 # with the image in the store (1.0: the rollback target here): rendered files
                 ({"image": fleet.refs["1.0"], "values": values, "secret_values": secret},
                  {**CHECK, "diff": True}),
                 ({"image": missing, "values": values}, {}),          # a failure: one msg
                 # installed and not started; started; started again; stopped; started
                 ({"image": moving, "state": "stopped", "values": values,
                   "secret_values": secret}, {}),
                 ({"state": "started"}, {}), ({"state": "started"}, {}),
                 ({"state": "stopped"}, {}), ({"state": "started"}, {}),
                 # a changed value: check mode shows it, then an update from the stored image
                 ({"values": {"PORT": str(port2)}}, CHECK), ({"values": {"PORT": str(port2)}}, {}))
        assert r[0]["changed"] and r[0]["actions"] == ["install", "start"], r[0]
        assert r[0]["diff"]["after"] == f"would pull {moving}, then install it as {SOLO}\n"
        after = r[1]["diff"]["after"]
        assert f"would install {SOLO} from {fleet.refs['1.0']}" in after, r[1]
        assert f"systemd unit: /etc/systemd/system/{SOLO}.service" in after and TOKEN not in after
        assert r[2]["failed"] and r[2]["msg"].startswith("syscontainers install failed: ") and \
            "\n" not in r[2]["msg"] and "fleet/none" in r[2]["msg"], r[2]
        assert r[3]["actions"] == ["install"] and r[3]["container"]["status"] == "inactive", r[3]
        assert r[4]["actions"] == ["start"] and r[4]["container"]["status"] == "running", r[4]
        assert r[5]["changed"] is False
        assert r[6]["actions"] == ["stop"] and r[6]["container"]["status"] == "inactive", r[6]
        assert r[7]["actions"] == ["start"]
        assert r[8]["changed"] and r[8]["check"]["values"] == {"PORT": [str(port), str(port2)]}
        # the update after the check saw the old port still installed: check mode changed nothing
        assert r[9]["actions"] == ["update"] and r[9]["check"]["values"] == r[8]["check"]["values"]
        assert http_get(port2) == "web 1.0\n"

        # latest: the tag moved to 2.0
        fleet.registry.push(fleet.layouts["2.0"], "2.0", REPO, dest_tag="moving")
        before = listing(fleet, "fleet1")[SOLO]["image_id"]
        r = solo(fleet, ({"state": "latest"}, CHECK), ({"state": "latest"}, {}),
                 ({"state": "latest"}, {}))
        assert r[0]["changed"] and r[0]["check"]["update_available"] is True, r[0]
        assert r[1]["actions"] == ["update"] and r[1]["check"]["current"] == before, r[1]
        assert r[1]["container"]["image_id"] != before
        assert r[2]["changed"] is False
        assert http_get(port2) == "web 2.0\n"
        # the auto-update policy alone: stored without an update, then nothing to do
        r = solo(fleet, ({"auto_update": "registry"}, CHECK), ({"auto_update": "registry"}, {}),
                 ({"auto_update": "registry"}, {}))
        assert r[0]["changed"] and r[0]["container"]["auto_update"] == "off", r[0]
        assert r[1]["actions"] == ["configure"] and r[1]["container"]["auto_update"] == "registry"
        assert r[2]["changed"] is False
        # rolled_back (atomic_container's "rollback"); absent, twice
        r = solo(fleet, ({"state": "rollback"}, {}), ({"state": "absent"}, {}),
                 ({"state": "absent"}, {}))
        assert r[0]["actions"] == ["rollback"] and r[0]["container"]["image_id"] == before, r[0]
        assert r[1]["actions"] == ["uninstall"] and r[2]["changed"] is False
        assert SOLO not in listing(fleet, "fleet1")
    finally:
        host.run(SC, "uninstall", "--force", SOLO, check=False)


def test_7_image_module(fleet):
    """On the third host (still on 1.0, 2.0 staged by check.yml): absent deletes 2.0 once;
    present pulls it once (check mode first); the image of an installed container is refused
    with one msg."""
    new = fleet.refs["2.0"]
    tasks = [({"name": new, "state": "absent"}, {}), ({"name": new, "state": "absent"}, {}),
             ({"name": new, "state": "present"}, CHECK), ({"name": new, "state": "present"}, {}),
             ({"name": new, "state": "present"}, {}), ({"name": new, "state": "latest"}, {}),
             ({"name": fleet.refs["1.0"], "state": "absent"}, {})]
    r = [t["fleet3"] for t in fleet.tasks(
        "fleet3", [{IMAGE: args, **kw} for args, kw in tasks], fleet.inv)]
    assert [t["changed"] for t in r[:6]] == [True, False, True, True, False, False], r
    assert r[3]["image"]["names"] == [new]
    assert r[6]["failed"] and r[6]["msg"].startswith("syscontainers images delete failed: "), r[6]


def test_8_no_secret_in_any_hosts_journal(fleet):
    """Modules log their invocation to the managed host's journal: no_log masks the secret."""
    for name, host in fleet.hosts.items():
        journal = host.run("journalctl", "--no-pager", "-o", "cat").stdout
        assert "syscontainers_container" in journal or "Invoked with" in journal, name
        assert TOKEN not in journal, name


def test_9_remove_from_all_hosts(fleet):
    report = run(fleet, "remove.yml")
    assert {h: s["changed"] for h, s in report["stats"].items()} == {h: 1 for h in fleet.names}
    for host in fleet.names:
        assert NAME not in listing(fleet, host)
    again = run(fleet, "remove.yml")
    assert {h: s["changed"] for h, s in again["stats"].items()} == {h: 0 for h in fleet.names}
