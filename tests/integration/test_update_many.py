"""update --check --all and update --all over many containers on the real systemd test host
(docs/operations.md, "Updates: what is checked, --check, --offline, exit codes"): the sources
are asked first, each one once and several at a time, then every container gets its row, in
name order; one source that cannot be asked is that container's row, never the end of the
others; nothing unchanged reloads systemd."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from tests.fixtures.images import ImageSpec, build_oci_layout
from tests.fixtures.registry import Registry
from tests.integration.sc_host import ScHost

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.registry]

# a: three containers of one image (asked once), b: one, c: its tag moves (an update), d: on a
# second registry that is stopped before the checks (cannot be asked)
CONTAINERS = {"mnya1": "a", "mnya2": "a", "mnya3": "a", "mnyb1": "b", "mnyc1": "c", "mnyd1": "d"}


def _manifest_asks(registry: Registry, since: int, repo: str) -> int:
    return sum(1 for r in registry.requests()[since:]
               if re.match(rf"/v2/{re.escape(repo)}/manifests/", r.path))


def _reloads(sc: ScHost) -> int:
    """How many daemon-reloads systemd has logged since boot."""
    sc.host.run("journalctl", "--sync", check=False)
    out = sc.host.run("journalctl", "-b", "_PID=1", "-o", "cat", "--no-pager").stdout
    return sum(1 for line in out.splitlines() if line.startswith("Reloading"))


@pytest.fixture
def many(sc, registry, tmp_path):
    """The six containers in a checkout path of their own (update --all sees only them)."""
    tag = uuid.uuid4().hex[:8]
    other = Registry(tmp_path / "other").start()
    refs = {}
    for key in "abc":
        layout = build_oci_layout(ImageSpec(labels={"many": f"{key}-{tag}"}), tmp_path / key, "1")
        refs[key] = registry.push(layout.layout, "1", f"many-{tag}/{key}")
    layout = build_oci_layout(ImageSpec(labels={"many": f"d-{tag}"}), tmp_path / "d", "1")
    refs["d"] = other.push(layout.layout, "1", f"many-{tag}/d")
    cp = f"/var/lib/sc-many-{tag}"
    try:
        for name, key in CONTAINERS.items():
            ref = f"http:{refs[key]}" if key == "d" else refs[key]
            sc.ok("--checkout-path", cp, "install", "--name", name, ref)
        moved = build_oci_layout(ImageSpec(labels={"many": f"c2-{tag}"}), tmp_path / "c2", "1")
        registry.push(moved.layout, "1", f"many-{tag}/c")
        other.stop()
        yield cp, tag
    finally:
        other.stop()
        for name in CONTAINERS:
            sc.sc("--checkout-path", cp, "uninstall", "--force", name)
        sc.host.run("rm", "-rf", cp)


def test_check_all_asks_each_source_once_and_reports_every_container(sc, registry, many):
    cp, tag = many
    since = registry.mark()
    r = sc.sc("--checkout-path", cp, "update", "--check", "--all", "--json")
    assert r.code == 1, r.text                  # one container could not be checked: that wins
    rows = json.loads(r.out)
    assert [row["container"] for row in rows] == sorted(CONTAINERS)
    by = {row["container"]: row for row in rows}
    assert [by[n]["update_available"] for n in ("mnya1", "mnya2", "mnya3", "mnyb1")] == [False] * 4
    assert by["mnyc1"]["update_available"] is True
    assert by["mnyc1"]["available"] != by["mnyc1"]["current"]
    assert by["mnyd1"]["update_available"] is None
    assert by["mnyd1"]["unchecked"].startswith("cannot check mnyd1 for updates: ")
    # the image of three containers was asked as often as the image of one: once
    asked_a = _manifest_asks(registry, since, f"many-{tag}/a")
    assert asked_a >= 1 and asked_a == _manifest_asks(registry, since, f"many-{tag}/b")

    text = sc.sc("--checkout-path", cp, "update", "--check", "--all")
    assert text.code == 1
    heads = [line.split(":")[0] for line in text.out.splitlines() if not line.startswith(" ")]
    assert heads == sorted(CONTAINERS)


def test_update_all_updates_the_changed_one_and_reloads_nothing_when_nothing_changed(
        sc, registry, many):
    cp, tag = many
    since = registry.mark()
    r = sc.sc("--checkout-path", cp, "update", "--all", "--json")
    assert r.code == 1, r.text
    rows = json.loads(r.out)
    assert [row["container"] for row in rows] == sorted(CONTAINERS)
    results = {row["container"]: row["result"] for row in rows}
    assert results == {"mnya1": "unchanged", "mnya2": "unchanged", "mnya3": "unchanged",
                       "mnyb1": "unchanged", "mnyc1": "updated", "mnyd1": "unchecked"}
    assert "cannot check mnyd1 for updates: " in rows[-1]["reason"]
    asked_a = _manifest_asks(registry, since, f"many-{tag}/a")
    assert asked_a >= 1 and asked_a == _manifest_asks(registry, since, f"many-{tag}/b")

    reloads = _reloads(sc)
    again = sc.sc("--checkout-path", cp, "update", "--all", "--json")
    assert {row["container"]: row["result"] for row in json.loads(again.out)} == {
        **results, "mnyc1": "unchanged"}
    assert _reloads(sc) == reloads              # nothing changed: no daemon-reload
