"""History on a real systemd test host (docs/operations.md "History", docs/formats.md "The
history file"): install → update → rollback → controlled update that rolls back → failed
update → uninstall, each a record with its from/to and result, each a journal entry with the
history MESSAGE_ID; the file outlives the container and is neither a container nor a leftover."""

from __future__ import annotations

import json
import stat
import time

import pytest

from syscontainers.lifecycle.history import MESSAGE_ID
from tests.fixtures.examples import example_spec
from tests.fixtures.images import build_oci_layout
from tests.integration.sc_host import CHECKOUTS, ScHost, free_port, http_get
from tests.integration.test_lifecycle import crashing_spec

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.registry]

NAME = "hist1"
SECRET = "hist-s3cr3t-token"


@pytest.fixture(scope="module")
def images(registry, tmp_path_factory):
    root = tmp_path_factory.mktemp("history-images")
    specs = {
        "v1": example_spec(index_html="history v1\n", required=["TOKEN"]),
        "v2": example_spec(index_html="history v2\n", required=["TOKEN"]),
        "crash": crashing_spec(),
        "needs-other": example_spec(index_html="history other\n", required=["TOKEN", "OTHER"]),
    }
    return {tag: registry.push(build_oci_layout(spec, root / tag, tag).layout, tag, "hist/web")
            for tag, spec in specs.items()}


def live_id(sc: ScHost) -> str:
    target = sc.host.run("readlink", str(CHECKOUTS / NAME)).stdout.strip()
    return json.loads(sc.path(f"{target}/info").read_text())["revision"]


def other_id(sc: ScHost) -> str:
    target = sc.host.run("readlink", str(CHECKOUTS / NAME)).stdout.strip()
    other = target[:-1] + ("1" if target.endswith("0") else "0")
    return json.loads(sc.path(f"{other}/info").read_text())["revision"]


def records(sc: ScHost) -> list[dict]:
    return json.loads(sc.ok("history", NAME, "--json").out)


def journal_entries(sc: ScHost, want: int) -> list[dict]:
    """The history entries of NAME in the test host's journal (journald takes the datagrams
    asynchronously: asked again until ``want`` are there, or a while has passed)."""
    deadline = time.monotonic() + 30
    while True:
        out = sc.host.run("journalctl", "--no-pager", "-o", "json", f"MESSAGE_ID={MESSAGE_ID}",
                          f"SYSCONTAINERS_CONTAINER={NAME}", check=False).stdout
        entries = [json.loads(line) for line in out.splitlines() if line.strip()]
        if len(entries) >= want or time.monotonic() > deadline:
            return entries
        time.sleep(0.3)


def test_every_verb_leaves_a_record_and_a_journal_entry(sc, images, testhost_units):
    testhost_units.append(f"{NAME}.service")
    p1, p2 = free_port(), free_port()
    sc.path("/root/hist-token").write_text(SECRET + "\n")
    try:
        sc.ok("install", "--name", NAME, "--set", f"PORT={p1}", "--set-secret",
              "TOKEN=@/root/hist-token", images["v1"])
        v1 = live_id(sc)
        sc.ok("start", NAME)
        assert http_get(p1) == "history v1\n"
        assert len(records(sc)) == 1
        sc.ok("update", NAME)                        # nothing newer: not a record
        assert len(records(sc)) == 1

        sc.ok("update", NAME, "--rebase", images["v2"], "--set", f"PORT={p2}")
        v2 = live_id(sc)
        sc.ok("rollback", NAME)
        r = sc.sc("update", NAME, "--rebase", images["crash"], "--controlled", "--timeout", "3")
        assert r.code != 0 and "rolled back" in r.err, r.text
        crash = other_id(sc)
        r = sc.sc("update", NAME, "--rebase", images["needs-other"])
        assert r.code != 0 and "OTHER" in r.err, r.text
        assert len(r.err.strip().splitlines()) == 1, r.err     # recording adds no line
        assert live_id(sc) == v1 and http_get(p1) == "history v1\n"
        sc.ok("uninstall", NAME)

        got = records(sc)                            # kept after uninstall
        assert [(x["verb"], x["result"]) for x in got] == [
            ("install", "ok"), ("update", "ok"), ("rollback", "ok"), ("update", "rolled-back"),
            ("update", "failed"), ("uninstall", "ok")]
        ids = [((x["from"] or {}).get("image_id"), (x["to"] or {}).get("image_id")) for x in got]
        assert ids == [(None, v1), (v1, v2), (v2, v1), (v1, crash), (v1, None), (v1, None)]
        assert got[0]["values"]["PORT"] == {"from": None, "to": str(p1)}
        assert got[0]["values"]["TOKEN"] == {"from": None, "to": "***"}
        assert got[1]["values"] == {"PORT": {"from": str(p1), "to": str(p2)}}
        assert got[1]["from"]["image"].endswith("hist/web:v1")
        assert got[1]["to"]["image"].endswith("hist/web:v2")
        assert got[2]["values"] == {"PORT": {"from": str(p2), "to": str(p1)}}
        assert "did not stay active" in got[3]["reason"] or "failed to start" in got[3]["reason"]
        assert "OTHER" in got[4]["reason"] and got[4]["values"] == {}     # nothing was built
        assert got[5]["values"] == {}
        assert all(x["container"] == NAME and x["time"][:2] == "20" for x in got)

        history_file = sc.path(CHECKOUTS / f".{NAME}.history")
        assert SECRET not in history_file.read_text()
        assert stat.S_IMODE(history_file.stat().st_mode) == 0o600

        entries = journal_entries(sc, len(got))
        assert [(e["SYSCONTAINERS_VERB"], e["SYSCONTAINERS_RESULT"]) for e in entries] == \
            [(x["verb"], x["result"]) for x in got]
        assert entries[3]["SYSCONTAINERS_TO_IMAGE_ID"] == crash
        assert entries[3]["PRIORITY"] == "4" and entries[0]["PRIORITY"] == "6"
        assert entries[4]["SYSCONTAINERS_REASON"] == got[4]["reason"]
        assert entries[0]["MESSAGE"].startswith(f"syscontainers: install of {NAME}: - -> ")
        assert json.loads(entries[1]["SYSCONTAINERS_RECORD"]) == got[1]
        assert not any(SECRET in json.dumps(e) for e in entries)

        table = sc.ok("history", NAME).out.splitlines()
        assert table[0].split() == ["TIME", "VERB", "FROM", "TO", "VALUES", "RESULT"]
        assert "rolled-back: update of hist1 failed" in table[4], table

        # not a container, not a leftover: list, prune and clean-up leave it alone
        assert NAME not in sc.listing() and f".{NAME}.history" not in sc.listing()
        sc.ok("images", "prune")
        assert history_file.exists() and sc.traces(NAME) == []

        # a new install of the name continues the history
        sc.ok("install", "--name", NAME, "--set", f"PORT={p1}", "--set-secret",
              "TOKEN=@/root/hist-token", images["v2"])
        assert [x["verb"] for x in records(sc)][-2:] == ["uninstall", "install"]
    finally:
        sc.sc("uninstall", "--force", NAME)


def test_a_failed_install_is_recorded_with_the_image_it_tried(sc, images):
    name = "hist2"
    sc.path("/root/hist-token").write_text(SECRET + "\n")
    try:
        r = sc.sc("install", "--name", name, "--set", "PORT=1", "--set-secret",
                  "TOKEN=@/root/hist-token", images["needs-other"])
        assert r.code != 0 and len(r.err.strip().splitlines()) == 1 and "OTHER" in r.err, r.err
        assert sc.traces(name) == [] and name not in sc.listing()     # undone
        [rec] = json.loads(sc.ok("history", name, "--json").out)
        assert (rec["verb"], rec["result"], rec["from"]) == ("install", "failed", None)
        assert rec["values"] == {}
        assert rec["to"]["image"].endswith("hist/web:needs-other")
        assert len(rec["to"]["image_id"]) == 64
        assert "OTHER" in rec["reason"]
    finally:
        sc.sc("uninstall", "--force", name)


def test_history_of_an_unknown_name_is_one_line(sc):
    r = sc.sc("history", "hist-never")
    assert r.code != 0 and r.err.strip() == \
        "error: container hist-never is not installed and has no history", r.err
