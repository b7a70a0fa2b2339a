"""The history file and the journal entry (docs/formats.md "The history file",
docs/operations.md "History"): format, torn lines, trimming, masking, what is recorded."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import stat
import struct

import pytest

from syscontainers.deploy import deployment as dl
from syscontainers.deploy import historyfile as hf
from syscontainers.deploy.historyfile import HistoryRecord, Version
from syscontainers.errors import ContainerNotFound, UpdateFailed, UsageError
from syscontainers.lifecycle import history
from syscontainers.service import journal


def _record(n: int = 0, **kw) -> HistoryRecord:
    fields = dict(time="2026-11-29T08:00:00+01:00", container="web", verb="update", result="ok",
                  from_version=Version(image="r/web:1", image_id="a" * 64),
                  to_version=Version(image="r/web:2", image_id="b" * 64),
                  values={"PORT": (str(n), str(n + 1))})
    return HistoryRecord(**{**fields, **kw})


def test_records_round_trip_as_json_lines(tmp_path):
    path = tmp_path / ".web.history"
    hf.append(path, _record(1))
    hf.append(path, _record(2, result="rolled-back", reason="the new version did not stay active"))
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[1]) == {
        "time": "2026-11-29T08:00:00+01:00", "container": "web", "verb": "update",
        "result": "rolled-back", "from": {"image": "r/web:1", "image-id": "a" * 64},
        "to": {"image": "r/web:2", "image-id": "b" * 64},
        "values": {"PORT": {"from": "2", "to": "3"}},
        "reason": "the new version did not stay active"}
    assert hf.read(path) == [_record(1), _record(2, result="rolled-back",
                                                   reason="the new version did not stay active")]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_torn_line_is_skipped_and_the_next_record_starts_a_fresh_line(tmp_path):
    path = tmp_path / ".web.history"
    hf.append(path, _record(1))
    with open(path, "a") as f:
        f.write('{"time": "2026-11-29T08:01:00+01:00", "contai')     # a crash mid-write
    assert hf.read(path) == [_record(1)]
    hf.append(path, _record(2))
    assert hf.read(path) == [_record(1), _record(2)]
    assert path.read_text().endswith("\n")


def test_lines_that_are_no_record_are_skipped(tmp_path):
    path = tmp_path / ".web.history"
    path.write_text('[1, 2]\n{"time": 5}\n\xff\n' + json.dumps(_record(3).as_json()) + "\n")
    assert hf.read(path) == [_record(3)]


def test_no_file_reads_as_none(tmp_path):
    assert hf.read(tmp_path / ".web.history") is None


def test_the_file_is_trimmed_to_the_newest_records(tmp_path):
    path = tmp_path / ".web.history"
    size = len(json.dumps(_record(10).as_json(), separators=(",", ":"))) + 1
    for n in range(10, 30):
        hf.append(path, _record(n), max_bytes=10 * size)
    kept = hf.read(path)
    # each trim keeps what fits in half the bound; appends fill it again
    assert 5 <= len(kept) <= 10 and path.stat().st_size <= 10 * size
    assert [r.values["PORT"][0] for r in kept] == [str(n) for n in range(30 - len(kept), 30)]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [".web.history"]


def test_a_writer_waiting_while_the_file_was_trimmed_appends_to_the_new_file(tmp_path):
    path = tmp_path / ".web.history"
    hf.append(path, _record(1))
    stale = os.open(path, os.O_RDONLY)
    try:
        hf._trim(path, 1 << 20)           # replaces the file (a new inode)
        assert os.fstat(stale).st_ino != path.stat().st_ino
        hf.append(path, _record(2))
    finally:
        os.close(stale)
    assert hf.read(path) == [_record(1), _record(2)]


# --- the journal's native protocol ---------------------------------------------------------

def _decode(data: bytes) -> dict[str, str]:
    fields, i = {}, 0
    while i < len(data):
        end = data.index(b"\n", i)
        line = data[i:end]
        if b"=" in line:
            key, _, value = line.partition(b"=")
            i = end + 1
        else:
            key = line
            (size,) = struct.unpack("<Q", data[end + 1:end + 9])
            value = data[end + 9:end + 9 + size]
            assert data[end + 9 + size:end + 10 + size] == b"\n"
            i = end + 10 + size
        fields[key.decode()] = value.decode()
    return fields


def test_journal_fields_with_and_without_newlines():
    fields = {"MESSAGE": "two\nlines", "SYSCONTAINERS_VERB": "update", "EMPTY": ""}
    assert _decode(journal.encode(fields)) == fields
    assert journal.encode({"A": "b"}) == b"A=b\n"
    for bad in ("_TRUSTED", "lower", "A-B", ""):
        with pytest.raises(ValueError):
            journal.encode({bad: "x"})


@pytest.fixture
def journald(tmp_path):
    """A datagram socket standing in for journald's."""
    path = tmp_path / "journal.socket"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(5)
    yield path, sock
    sock.close()


def test_send_writes_one_datagram(journald):
    path, sock = journald
    assert journal.send({"MESSAGE": "hello", "MESSAGE_ID": history.MESSAGE_ID}, path)
    assert _decode(sock.recv(65536)) == {"MESSAGE": "hello", "MESSAGE_ID": history.MESSAGE_ID}


def test_an_entry_too_big_for_a_datagram_goes_in_a_sealed_memfd(journald):
    path, sock = journald
    big = "x" * (4 << 20)
    assert journal.send({"MESSAGE": big}, path)
    msg, fds, _flags, _addr = socket.recv_fds(sock, 16, 1)
    assert msg == b"" and len(fds) == 1
    seals = fcntl.fcntl(fds[0], fcntl.F_GET_SEALS)
    assert seals & fcntl.F_SEAL_WRITE and seals & fcntl.F_SEAL_SEAL    # journald insists
    with os.fdopen(fds[0], "rb") as f:
        f.seek(0)                     # journald maps it from the start
        assert _decode(f.read()) == {"MESSAGE": big}


def test_no_journald_is_not_an_error(tmp_path):
    assert journal.send({"MESSAGE": "x"}, tmp_path / "absent.socket") is False


# --- what a verb records -------------------------------------------------------------------

def _deploy(paths, name, index, image_id, values, secrets=(), live=True):
    dep = dl.deployment(paths, name, index)
    dep.path.mkdir()
    dep.info_path.write_text(dl.InstallInfo(image=f"r/{name}:{image_id[:2]}", revision=image_id,
                                            ostree_commit="c", created=1, values=values,
                                            secret_values=list(secrets)).to_json())
    if live:
        dl.switch_link(paths, name, dep)
    return dep


def _quiet(_msg):
    pass


def test_an_update_records_from_to_and_masked_values(paths):
    _deploy(paths, "web", 0, "a" * 64, {"PORT": "1", "TOKEN": "old-secret", "NAME": "web"},
            secrets=["TOKEN"])
    with history.recorded(paths, "web", "auto-update", _quiet):
        _deploy(paths, "web", 1, "b" * 64, {"PORT": "2", "TOKEN": "new-secret", "NAME": "web"},
                secrets=["TOKEN"])
    [rec] = history.history(paths, "web")
    assert (rec.verb, rec.result, rec.reason) == ("auto-update", "ok", None)
    assert rec.from_version == Version(image="r/web:aa", image_id="a" * 64)
    assert rec.to_version == Version(image="r/web:bb", image_id="b" * 64)
    assert rec.values == {"PORT": ("1", "2"), "TOKEN": ("***", "***")}
    assert "secret" not in hf.history_path(paths, "web").read_text()


def test_a_controlled_rollback_is_recorded_with_the_version_tried_and_the_masked_reason(paths):
    _deploy(paths, "web", 0, "a" * 64, {"PORT": "1", "TOKEN": "s3cr3t"}, secrets=["TOKEN"])
    with pytest.raises(UpdateFailed):
        with history.recorded(paths, "web", "update", _quiet):
            _deploy(paths, "web", 1, "b" * 64, {"PORT": "2", "TOKEN": "s3cr3t"}, secrets=["TOKEN"],
                    live=False)
            raise UpdateFailed("update of web failed: s3cr3t did not stay active\nmore")
    [rec] = history.history(paths, "web")
    assert rec.result == "rolled-back"
    assert rec.reason == "update of web failed: *** did not stay active"
    assert rec.from_version.image_id == "a" * 64 and rec.to_version.image_id == "b" * 64
    assert rec.values == {"PORT": ("1", "2")}


def test_an_install_that_failed_names_the_image_it_tried(paths):
    with pytest.raises(OSError):
        with history.recorded(paths, "web", "install", _quiet,
                              target=Version(image="r/web:1", image_id="c" * 64)):
            raise OSError(28, "No space left on device")
    [rec] = history.history(paths, "web")
    assert (rec.verb, rec.result, rec.from_version) == ("install", "failed", None)
    assert rec.to_version == Version(image="r/web:1", image_id="c" * 64)
    assert rec.reason == "OSError: [Errno 28] No space left on device" and rec.values == {}


def test_an_update_that_failed_before_building_names_no_version_and_no_values(paths):
    _deploy(paths, "web", 0, "a" * 64, {"PORT": "1"})
    with pytest.raises(OSError):
        with history.recorded(paths, "web", "update", _quiet):
            raise OSError(101, "Network is unreachable")
    [rec] = history.history(paths, "web")
    assert (rec.result, rec.to_version, rec.values) == ("failed", None, {})
    assert rec.from_version.image_id == "a" * 64


def test_nothing_changed_or_not_started_is_not_recorded(paths):
    _deploy(paths, "web", 0, "a" * 64, {"PORT": "1"})
    with history.recorded(paths, "web", "update", _quiet):
        pass                                           # "Latest version already installed."
    for error in (UsageError("--set X: no template uses it"), ContainerNotFound("no")):
        with pytest.raises(type(error)):
            with history.recorded(paths, "web", "update", _quiet):
                raise error
    assert history.history(paths, "web") == []        # installed, no history yet
    with history.recorded(paths, "../bad", "update", _quiet):
        pass
    assert not [p.name for p in paths.checkouts.iterdir() if p.name.endswith(".history")]


def test_uninstall_keeps_the_history_and_an_unknown_name_is_an_error(paths):
    dep = _deploy(paths, "web", 0, "a" * 64, {"PORT": "1"})
    with history.recorded(paths, "web", "uninstall", _quiet):
        dl.remove_link(paths, "web")
        dl.remove_tree(dep.path)
    [rec] = history.history(paths, "web")
    assert (rec.verb, rec.result, rec.to_version, rec.values) == ("uninstall", "ok", None, {})
    # not a container, not a leftover: list, prune and clean-up pass it by
    assert dl.installed_names(paths) == [] and dl.deployment_dirs(paths) == []
    assert dl.clean_partials(paths) == [] and hf.history_path(paths, "web").exists()
    with pytest.raises(ContainerNotFound, match="no history"):
        history.history(paths, "other")


def test_a_history_that_cannot_be_written_warns_after_a_successful_verb(paths):
    _deploy(paths, "web", 0, "a" * 64, {"PORT": "1"})
    hf.history_path(paths, "web").mkdir()             # something in the way
    said = []
    with history.recorded(paths, "web", "rollback", said.append):
        _deploy(paths, "web", 1, "b" * 64, {"PORT": "1"})
    assert len(said) == 1 and said[0].startswith("warning: web: the rollback was not recorded")
    said.clear()
    with pytest.raises(UpdateFailed):                  # a failed verb keeps its own error only
        with history.recorded(paths, "web", "update", said.append):
            raise UpdateFailed("rolled back")
    assert said == []


def test_describe_is_the_journal_message():
    rec = _record(1, result="failed", reason="cannot reach the registry")
    assert history.describe(rec) == (f"update of web: r/web:1 ({'a' * 12}) -> r/web:2 "
                                     f"({'b' * 12}): failed: cannot reach the registry")


def test_the_history_verb_prints_a_table_or_json(paths, capsys):
    from syscontainers.cli.__main__ import main

    hf.append(hf.history_path(paths, "web"), _record(1, result="failed", reason="no registry",
                                                    to_version=None))
    hf.append(hf.history_path(paths, "web"), _record(2, values={"LONG": (None, "x" * 80)}))
    assert main(["--checkout-path", str(paths.checkouts), "--repo", str(paths.repo),
                 "history", "web", "--json"]) == 0
    first, second = json.loads(capsys.readouterr().out)
    # the JSON schema's snake_case (docs/json.md); the file keeps kebab-case
    assert first == {**_record(1, result="failed", reason="no registry", to_version=None).as_json(),
                     "from": {"image": "r/web:1", "image_id": "a" * 64}, "to": None}
    assert second["to"] == {"image": "r/web:2", "image_id": "b" * 64}
    assert second["values"] == {"LONG": {"from": None, "to": "x" * 80}}
    assert main(["--checkout-path", str(paths.checkouts), "--repo", str(paths.repo),
                 "history", "web"]) == 0
    header, first, second = capsys.readouterr().out.splitlines()
    assert header.split() == ["TIME", "VERB", "FROM", "TO", "VALUES", "RESULT"]
    assert f"r/web:1 ({'a' * 12})" in first and first.endswith("failed: no registry")
    assert " - " in first and "PORT: '1' -> '2'" in first
    assert "LONG: - -> 'xxxx" in second and "...'" in second and "x" * 80 not in second
