"""Errors and broken state (docs/operations.md): guarded JSON, config types, --set bytes, info
file types, the NAME link slot, broken list rows, and the CLI's one-line errors."""

from __future__ import annotations

import json
import os

import pytest

from syscontainers import safejson
from syscontainers.cli.__main__ import main, os_error_line
from syscontainers.deploy import deployment as dl
from syscontainers.deploy import ocispec
from syscontainers.deploy.exports import parse_manifest
from syscontainers.deploy.values import parse_set
from syscontainers.errors import BadImage, ConfigError, ContainerExists, UsageError
from syscontainers.images.layers import DiskBudget
from syscontainers.lifecycle import query
from syscontainers.lifecycle.shadowing import SYSTEM_TMPFILES_DIRS, tmpfiles_dirs


# ---------------------------------------------------------------------------- JSON guard

@pytest.mark.parametrize("text, words", [
    ("[" * 100_000 + "]" * 100_000, "too deeply nested"),
    ("[" * 150 + "]" * 150, "too deeply nested (more than 100 levels)"),
    ('{"x": ' + "9" * 5000 + "}", "digits"),
    ('{"x": "\\udc80"}', "not valid Unicode"),
    ('{"\\ud800": 1}', "not valid Unicode"),
    ("{nope", "line 1 column 2"),
])
def test_hostile_json_is_one_config_error(text, words):
    with pytest.raises(ConfigError) as e:
        safejson.loads(text, "f.json")
    assert str(e.value).startswith("invalid JSON in f.json: ") and words in str(e.value)
    assert "\n" not in str(e.value)


def test_json_guard_keeps_good_input_and_the_error_class():
    assert safejson.loads('{"a": [1, "b", {"c": null}]}', "x") == {"a": [1, "b", {"c": None}]}
    with pytest.raises(BadImage):
        safejson.loads("[" * 5000, "m", BadImage)


def test_config_json_and_manifest_json_use_the_guard():
    with pytest.raises(ConfigError, match="config.json of image x.*too deeply nested"):
        ocispec.parse_config('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}",
                             "config.json of image x")
    with pytest.raises(ConfigError, match="config.json of image x.*digits"):
        ocispec.parse_config('{"a": ' + "1" * 5000 + "}", "config.json of image x")
    with pytest.raises(ConfigError, match="Invalid manifest.json file in image i: .*Unicode"):
        parse_manifest('{"defaultValues": {"A": "\\udc80"}}', "i")


# ---------------------------------------------------------------------------- config types

def _cfg(**process) -> dict:
    return {"root": {"path": "rootfs", "readonly": True},
            "process": {"args": ["/bin/sh"], **process},
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}]}


@pytest.mark.parametrize("cfg, field", [
    (_cfg(args=5), "process.args must be a list of strings"),
    (_cfg(args=[1, 2]), "process.args must be a list of strings"),
    (_cfg(env=["A=1", 7]), "process.env must be a list of strings"),
    (_cfg(cwd=3), "process.cwd must be a string"),
    ({**_cfg(), "process": "x"}, "process must be an object"),
    ({**_cfg(), "mounts": [{"destination": 1}]}, "mounts[0].destination must be a string"),
    ({**_cfg(), "mounts": [{"destination": "/a", "options": "ro"}]},
     "mounts[0].options must be a list of strings"),
    ({**_cfg(), "linux": {"namespaces": [{"type": 1}]}}, "linux.namespaces[0].type must be"),
    ({**_cfg(), "hostname": []}, "hostname must be a string"),
])
def test_config_of_the_wrong_types_is_refused_naming_the_field(cfg, field):
    with pytest.raises(ConfigError) as e:
        ocispec.validate_config(cfg, remote=False, what="config.json of image i")
    assert str(e.value).startswith("Invalid config.json of image i: ") and field in str(e.value)


def test_well_typed_config_passes():
    ocispec.validate_config(_cfg(env=["A=1"], cwd="/"), remote=False)


# ---------------------------------------------------------------------------- --set, info file

def test_set_value_with_bytes_that_are_not_utf8():
    arg = os.fsdecode(b"PORT=80\xff")          # how sys.argv carries such bytes
    with pytest.raises(UsageError, match="not valid UTF-8"):
        parse_set([arg])


@pytest.mark.parametrize("raw, key", [({"values": 5}, "values"), ({"created": "x"}, "created"),
                                      ({"image": ["a"]}, "image"),
                                      ({"has-container-service": "yes"}, "has-container-service")])
def test_info_file_of_the_wrong_types_is_a_config_error(raw, key):
    with pytest.raises(ConfigError, match=f"invalid info file w: {key} has the wrong type"):
        dl.InstallInfo.from_json(json.dumps(raw), "w")


# ---------------------------------------------------------------------------- CHECKOUTS/NAME

def test_link_problem_for_what_is_not_our_working_link(paths):
    co = paths.checkouts
    assert dl.link_problem(paths, "none") is None
    (co / "f").write_text("keep")
    (co / "d").mkdir()
    (co / "l").symlink_to("/srv")
    (co / "g").symlink_to(co / "g.0")
    (co / "ok.1").mkdir()
    (co / "ok").symlink_to(co / "ok.1")
    assert "is a file syscontainers did not make" in dl.link_problem(paths, "f")
    assert "is a directory syscontainers did not make" in dl.link_problem(paths, "d")
    assert "is a link to /srv" in dl.link_problem(paths, "l")
    assert "g.0, which is missing" in dl.link_problem(paths, "g")
    assert dl.link_problem(paths, "ok") is None


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_switch_link_never_replaces_a_file_or_directory(paths, kind):
    target = paths.checkouts / "n"
    if kind == "file":
        target.write_text("the operator's\n")
    else:
        target.mkdir()
    (paths.checkouts / "n.0").mkdir()
    with pytest.raises(ContainerExists, match="not a link syscontainers made"):
        dl.switch_link(paths, "n", dl.deployment(paths, "n", 0))
    assert (target.read_text() == "the operator's\n") if kind == "file" else target.is_dir()
    assert [e.name for e in paths.checkouts.iterdir() if e.name.startswith(".n.")] == []


def test_broken_containers_are_rows_with_a_reason(paths):
    co = paths.checkouts
    for name, info, config in (("good", {"image": "a", "revision": "r"}, {"process": {"args": ["x"]}}),
                               ("args", {"image": "a", "revision": "r"}, {"process": {"args": 5}}),
                               ("info", None, None)):
        (co / f"{name}.0").mkdir()
        (co / name).symlink_to(co / f"{name}.0")
        if info is not None:
            (co / f"{name}.0/info").write_text(json.dumps(info))
            (co / f"{name}.0/config.json").write_text(json.dumps(config))
        else:
            (co / f"{name}.0/info").write_bytes(b"\xff\xfe")
    (co / "gone").symlink_to(co / "gone.0")
    rows = {r.name: r for r in query.containers(paths)}
    assert rows["good"].reason is None and rows["good"].command == ["x"]
    assert rows["args"].status == "broken" and "process.args" in rows["args"].reason
    assert rows["info"].status == "broken" and "not UTF-8" in rows["info"].reason
    assert rows["gone"].status == "broken" and "is missing" in rows["gone"].reason
    assert "reason" in rows["good"].as_json()


# ---------------------------------------------------------------------------- CLI top level

def test_os_error_line_names_path_and_errno():
    e = OSError(30, "Read-only file system", "/etc/systemd/system/x.service")
    assert os_error_line(e) == "/etc/systemd/system/x.service: Read-only file system (EROFS)"
    assert "(ENOSPC)" in os_error_line(OSError(28, "No space left on device", "/x"))
    assert "right user" in os_error_line(PermissionError(13, "Permission denied", "/x"))


def test_cli_turns_an_os_error_into_one_line_and_debug_shows_the_stack(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    args = ["--checkout-path", str(blocker / "sub"), "pull", "oci:/nonexistent:x"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert "Not a directory (ENOTDIR)" in err
    assert main(["--log-level", "debug", *args]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("error: ")


def test_cli_turns_a_bug_into_one_line(monkeypatch, capsys):
    from syscontainers.lifecycle import query as q

    def boom(paths, **kwargs):
        raise TypeError("'int' object is not iterable")

    monkeypatch.setattr(q, "containers", boom)
    assert main(["--checkout-path", "/nonexistent-sc", "list"]) == 70
    err = capsys.readouterr().err
    assert err == ("error: internal error: TypeError: 'int' object is not iterable "
                   "(run with --log-level debug for the stack)\n")


# ---------------------------------------------------------------------------- the rest

def test_tmpfiles_dirs_for_system_and_user():
    assert "/usr/lib/tmpfiles.d" in SYSTEM_TMPFILES_DIRS and "/etc/tmpfiles.d" in SYSTEM_TMPFILES_DIRS
    dirs = tmpfiles_dirs(True, {"HOME": "/home/u", "XDG_RUNTIME_DIR": "/run/user/5"})
    assert dirs[:3] == ["/home/u/.config/user-tmpfiles.d", "/run/user/5/user-tmpfiles.d",
                        "/home/u/.local/share/user-tmpfiles.d"]
    assert "/usr/share/user-tmpfiles.d" in dirs


def test_disk_budget_explains_free_space_and_reserve():
    budget = DiskBudget(free=200 << 20, reserve=256 << 20)
    assert budget.limit == 0
    assert "200 MiB free and keeps a reserve of 256 MiB" in budget.explain()


@pytest.mark.parametrize("text, why", [
    # brackets inside strings do not count as nesting; the real nesting still does
    ('{"s": "' + "[" * 300 + '", "a": ' + "[" * 101 + "]" * 101 + "}", "too deeply nested"),
    # more than MAX_DEPTH brackets in all, none nested too deep: fine
    ("[" + ", ".join(["[[1]]"] * 80) + "]", None),
    # a quote escaped inside a string does not end it
    ('{"k\\"[[[[": ' + "[" * 99 + "]" * 99 + "}", None),
    # a lone surrogate escape, also as bytes
    ('["ok", "\\udc80"]', "not valid Unicode"),
    (b'["\\ud800"]', "not valid Unicode"),
    # a pair of surrogate escapes is one character: fine
    ('"\\ud83d\\ude00"', None),
    # a raw surrogate in bytes (json.loads decodes bytes with surrogatepass)
    ('["\ud800"]'.encode("utf-8", "surrogatepass"), "not valid Unicode"),
])
def test_safejson_fast_path_finds_what_the_full_walk_finds(text, why):
    """loads walks the parsed value only when the text may hold a problem
    (docs/performance.md, "Where the time goes"): every problem is still found."""
    if why is None:
        safejson.loads(text, "x")
    else:
        with pytest.raises(ConfigError, match=why):
            safejson.loads(text, "x")
