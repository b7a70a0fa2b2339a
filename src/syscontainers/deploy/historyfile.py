"""The history file of a container: ``CHECKOUTS/.NAME.history`` (docs/formats.md, "The history
file"), one JSON object per line, oldest first.

Beside the deployments, yet no deployment: the leading dot keeps atomic from listing it (it
skips dot entries) and from deleting it (its uninstall removes the link and ``NAME.0``/
``NAME.1``, its prune only dot-less ``*.0``/``*.1`` dirs), and its name matches none of the
leftover patterns ``deployment.clean_partials`` removes. Uninstall keeps it: the history of a
removed container is still wanted, and a new install of the same name continues it.

Appends are one ``write(2)`` with O_APPEND, then fsync, under a flock of the file itself (not
the host lock: the verbs record after releasing theirs, and a second flock of that lock in the
same process would wait for itself). A crash may tear the last line: readers skip a line that
is not a JSON object, and the next append starts on a fresh line. The file is 0600 (values,
even masked, say how a container is configured), and bounded: past ``MAX_BYTES`` the newest
records that fit in half of it are kept (rewritten by temporary name + rename).
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..fileops import fsync_dir, write_atomic
from ..paths import Paths

MAX_BYTES = 1 << 20          # ~2000 records of a typical size
FILE_MODE = 0o600
RESULTS = ("ok", "failed", "rolled-back")


def history_path(paths: Paths, name: str) -> Path:
    return paths.checkouts / f".{name}.history"


@dataclass(frozen=True, kw_only=True)
class Version:
    """An image a container ran (or was to run): the name it came from and its ID."""

    image: str
    image_id: str

    def as_json(self) -> dict:
        return {"image": self.image, "image-id": self.image_id}

    @classmethod
    def from_json(cls, raw) -> "Version | None":
        if not isinstance(raw, dict):
            return None
        return cls(image=str(raw.get("image", "")), image_id=str(raw.get("image-id", "")))


@dataclass(frozen=True, kw_only=True)
class HistoryRecord:
    """One verb run on a container. ``values``: NAME → (before, after), secrets as ``***``;
    None on one side: the value did not exist there."""

    time: str                    # ISO 8601 with the local offset
    container: str
    verb: str                    # install, update, rollback, auto-update, uninstall ...
    result: str                  # one of RESULTS
    from_version: Version | None
    to_version: Version | None
    values: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    reason: str | None = None

    def as_json(self) -> dict:
        return {"time": self.time, "container": self.container, "verb": self.verb,
                "result": self.result,
                "from": self.from_version.as_json() if self.from_version else None,
                "to": self.to_version.as_json() if self.to_version else None,
                "values": {k: {"from": old, "to": new} for k, (old, new) in self.values.items()},
                "reason": self.reason}

    def as_data(self) -> dict:
        """The record as `history --json` and the journal give it (docs/json.md: snake_case
        keys); the file keeps the info file's kebab-case (docs/formats.md)."""
        def version(v):
            return {"image": v.image, "image_id": v.image_id} if v else None
        return {**self.as_json(), "from": version(self.from_version), "to": version(self.to_version)}

    @classmethod
    def from_json(cls, raw) -> "HistoryRecord | None":
        """None for anything that is not a record (a hand-edited or torn line)."""
        if not isinstance(raw, dict) or not all(isinstance(raw.get(k), str)
                                                for k in ("time", "container", "verb", "result")):
            return None
        values = raw.get("values") if isinstance(raw.get("values"), dict) else {}
        reason = raw.get("reason")
        return cls(time=raw["time"], container=raw["container"], verb=raw["verb"],
                   result=raw["result"], from_version=Version.from_json(raw.get("from")),
                   to_version=Version.from_json(raw.get("to")),
                   values={str(k): (_text(v, "from"), _text(v, "to")) for k, v in values.items()},
                   reason=reason if isinstance(reason, str) else None)


def _text(change, side: str) -> str | None:
    value = change.get(side) if isinstance(change, dict) else None
    return None if value is None else str(value)


def append(path: Path, record: HistoryRecord, max_bytes: int = MAX_BYTES) -> None:
    """Add ``record`` durably; trim the file when it outgrows ``max_bytes``."""
    line = (json.dumps(record.as_json(), separators=(",", ":")) + "\n").encode()
    fd, created = _open_locked(path)
    try:
        os.fchmod(fd, FILE_MODE)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line        # after a torn line: ours starts on its own line
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
        if created:
            fsync_dir(path.parent)
        if size + len(line) > max_bytes:
            _trim(path, max_bytes // 2)
    finally:
        os.close(fd)      # releases the flock


def _open_locked(path: Path) -> tuple[int, bool]:
    """The file opened for appending and flocked. A trim replaces the file while another
    writer may wait for the lock on the old one: that writer opens again."""
    while True:
        existed = path.exists()
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW,
                     FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            st = os.fstat(fd)
            try:
                now = os.stat(path, follow_symlinks=False)
            except FileNotFoundError:
                now = None
        except BaseException:
            os.close(fd)
            raise
        if now is not None and (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
            return fd, not existed
        os.close(fd)


def _trim(path: Path, keep_bytes: int) -> None:
    """Keep the newest whole records that fit in ``keep_bytes`` (at least the newest one);
    lines that are no record go too. Caller holds the file's flock."""
    kept: list[str] = []
    total = 0
    for line in reversed(path.read_bytes().decode("utf-8", "replace").splitlines()):
        if _parse(line) is None:
            continue
        if kept and total + len(line) + 1 > keep_bytes:
            break
        kept.append(line)
        total += len(line) + 1
    write_atomic(path, "".join(f"{line}\n" for line in reversed(kept)), mode=FILE_MODE,
                 sync_dir=True)


def _parse(line: str) -> HistoryRecord | None:
    try:
        return HistoryRecord.from_json(json.loads(line))
    except ValueError:
        return None


def read(path: Path) -> list[HistoryRecord] | None:
    """The records, oldest first; None when there is no history file. Lines that are not
    a record (torn by a crash) are skipped."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    records = (_parse(line) for line in data.decode("utf-8", "replace").splitlines())
    return [r for r in records if r is not None]
