"""The JSON of every reading verb against docs/json.md's table, on the systemd test host: each
key the page promises is there (schema version 1; more keys are allowed), times are ISO 8601,
--format json is --json and a template reads the same data; status of an unknown container
exits 4."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pytest

from tests.fixtures.examples import example_spec
from tests.fixtures.images import build_oci_layout
from tests.integration.sc_host import free_port

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.registry]

DOC = Path(__file__).resolve().parents[2] / "docs" / "json.md"


def _words(body: str) -> list[str]:
    """The top-level keys of the inside of a `{a, b{...} or null, c[], d?}` shape: the first
    word of each comma-separated entry (nested groups and what follows them skipped)."""
    out, depth, cur, after_group = [], 0, "", False
    for ch in body:
        if ch in "{[":
            if depth == 0 and cur.strip():
                out.append(cur.strip())
            cur, depth = "", depth + 1
        elif ch in "}]":
            if depth == 0:
                break
            depth -= 1
            after_group = depth == 0
        elif depth == 0 and ch == ",":
            if cur.strip() and not after_group:
                out.append(cur.strip())
            cur, after_group = "", False
        elif depth == 0 and not after_group:
            cur += ch
    if cur.strip() and not after_group:
        out.append(cur.strip())
    words = [w.split(" ")[0] for w in out if w and not w.startswith("...")]
    return [w for w in words if not w.endswith("?")]      # KEY?: only when it applies


def promised() -> dict[str, set[str]]:
    """verb (the first backticked text of a row) -> the keys its first shape promises."""
    out = {}
    for line in DOC.read_text().replace("\\|", "¦").splitlines():
        m = re.match(r"\| `([^`]+)`[^|]*\| (.*) \|$", line)
        if m and "{" in m.group(2):
            out[m.group(1).replace("¦", "|")] = set(_words(m.group(2)[m.group(2).index("{") + 1:]))
    return out


@pytest.fixture(scope="module")
def installed(sc, registry, tmp_path_factory):
    layout = build_oci_layout(example_spec(labels={"org.example.test": "json-schema"}),
                              tmp_path_factory.mktemp("json") / "l", "v1").layout
    ref = registry.push(layout, "v1", "json/web")
    sc.ok("install", "--name", "json1", "--set", f"PORT={free_port()}", ref)
    try:
        yield ref
    finally:
        sc.sc("uninstall", "json1")


def first(data):
    return data[0] if isinstance(data, list) else data


def iso(text: str) -> bool:
    return datetime.fromisoformat(text).utcoffset() is not None


def test_every_documented_verb_prints_the_keys_it_promises(sc, installed):
    keys = promised()
    runs = {
        "list": ("list", "--json"), "inspect NAME": ("inspect", "json1"),
        "images list": ("images", "list", "--json"),
        "images inspect IMAGE": ("images", "inspect", "--json", installed),
        "images info IMAGE": ("images", "info", "--json", installed),
        "update NAME": ("update", "json1", "--offline", "--json"),
        "update --all": ("update", "--all", "--offline", "--json"),
        "update --check [NAME|--all]": ("update", "json1", "--check", "--json"),
        "history NAME": ("history", "json1", "--json"),
        "verify NAME|--all": ("verify", "json1", "--json"),
        "info": ("info", "--json"),
        "auto-update": ("auto-update", "--dry-run", "--json"),
        "images prune [--dry-run]": ("images", "prune", "--dry-run", "--json"),
    }
    assert set(runs) <= set(keys), set(runs) - set(keys)
    for verb, args in runs.items():
        r = sc.sc(*args)
        assert r.code in (0, 100), (verb, r.text)
        data = json.loads(r.out)
        if verb == "auto-update" and data == []:
            continue       # no container has a policy here: the array is the schema
        obj = next((x for x in data if x.get("name", x.get("container")) == "json1"), first(data)) \
            if isinstance(data, list) else data
        missing = keys[verb] - set(obj)
        assert not missing, f"{verb}: {missing} missing from {sorted(obj)}"
    rows = json.loads(sc.ok("list", "--json").out)
    row = next(r for r in rows if r["name"] == "json1")
    assert iso(row["created"])
    r = sc.sc("status", "json1", "--json")          # the list row, plus the health check
    status = json.loads(r.out)
    assert r.code == 3 and set(row) <= set(status) and "health_check" in status, status
    assert iso(json.loads(sc.ok("inspect", "json1").out)["active"]["created"])
    info = json.loads(sc.ok("images", "info", "--json", installed).out)
    assert "(set by the OS)" not in json.dumps(info) and "PIDFILE" in info["set_by_os"]


def test_format_json_is_json_and_a_template_reads_the_same_data(sc, installed):
    assert json.loads(sc.ok("list", "--format", "json").out) == json.loads(sc.ok("list", "--json").out)
    out = sc.ok("list", "--format", "{{.name}} {{.status}}").out.splitlines()
    assert "json1 inactive" in out
    out = sc.ok("inspect", "json1", "--format", "{{.source.transport}} {{.Active.Index}}").out
    assert out == "docker 0\n"
    r = sc.sc("list", "--format", "{{.nmae}}")
    assert r.code == 2 and "no field 'nmae'" in r.err


def test_status_of_an_unknown_container_exits_4_and_a_stopped_one_3(sc, installed):
    r = sc.sc("status", "json-nothing")
    assert r.code == 4 and r.err == "error: container json-nothing is not installed\n"
    assert sc.sc("status", "json1").code == 3
