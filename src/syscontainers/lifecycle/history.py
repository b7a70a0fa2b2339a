"""History: every install, update, rollback, auto-update and uninstall of a container leaves a
record in its history file (deploy/historyfile.py) and an entry in the journal with
:data:`MESSAGE_ID` (docs/operations.md, "History").

A verb records through one call, :func:`recorded`, a context manager around its work: it
reads the container's state before and after, and the exception, if any, that left the verb.
What is recorded (docs/operations.md, "History"):

- success that changed the container: result ``ok``; an attempt that changed nothing (update
  with nothing newer, install of a present container) is not recorded;
- a controlled update that rolled itself back (UpdateFailed): ``rolled-back`` and the reason;
- any other failure: ``failed`` and the reason (the verb undid its work, so ``from`` still
  runs; ``to`` is the version that was tried when it is known);
- a bad command line (UsageError), an unknown container, a busy lock: nothing (the verb did
  not start).

Recording never fails the verb: if the file or the journal cannot be written, a successful
verb warns once; a failed one stays with its own error line.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterator

from ..deploy import deployment as dl
from ..deploy import historyfile as hf
from ..deploy.historyfile import HistoryRecord, Version
from ..deploy.values import FORCED_VARIABLES, OS_VARIABLES, mask_text, mask_values
from ..errors import ContainerNotFound, LockBusy, SysContainersError, UpdateFailed, UsageError
from ..paths import Paths
from ..service import journal

Say = Callable[[str], None]

# The journal's MESSAGE_ID of every history entry (generated once for this project; never
# change it: operators filter on it). `journalctl MESSAGE_ID=490edf3c1e2045e28a3714a42c0ac11a`
MESSAGE_ID = "490edf3c1e2045e28a3714a42c0ac11a"
_NOT_STARTED = (UsageError, ContainerNotFound, LockBusy)


def history(paths: Paths, name: str) -> list[HistoryRecord]:
    """The records of container ``name``, oldest first; also of a container uninstalled
    since (its history stays). ContainerNotFound when it has neither history nor link."""
    dl.validate_name(name)
    path = hf.history_path(paths, name)
    try:
        records = hf.read(path)
    except PermissionError:
        raise ContainerNotFound(f"cannot read {path}: the history is private to the user who "
                                "installed the container (root for system containers)") from None
    if records is None:
        if dl.current(paths, name) is None:
            raise ContainerNotFound(f"container {name} is not installed and has no history")
        return []     # installed before history was kept (or by atomic)
    return records


@dataclass(frozen=True)
class _State:
    """What a record compares: the live deployment's image, values and grants."""

    index: int
    version: Version
    values: dict[str, str]
    secret_names: frozenset[str]
    allowed: tuple[str, ...] | None


@dataclass(frozen=True)
class _Snapshot:
    live: _State | None
    other: tuple[int, _State] | None     # the other deployment (its inode: rebuilt or not)


def _state(dep: dl.Deployment) -> _State | None:
    try:
        info = dep.read_info()
    except SysContainersError:
        return None
    return _State(dep.index, Version(image=info.image, image_id=info.revision),
                  {k: str(v) for k, v in info.values.items()}, frozenset(info.secret_values),
                  tuple(info.allowed_privileges) if info.allowed_privileges is not None else None)


def _snapshot(paths: Paths, name: str) -> _Snapshot:
    cur = dl.current(paths, name)
    live = _state(cur) if cur is not None and cur.exists() else None
    other = None
    if cur is not None:
        dep = dl.other(paths, cur)
        state = _state(dep) if dep.exists() else None
        if state is not None:
            other = (dep.path.stat().st_ino, state)
    return _Snapshot(live, other)


def _before(paths: Paths, name: str) -> _Snapshot | None:
    """The state before the verb; None when there is nothing to record against (an invalid
    name: the verb refuses it; a checkouts dir that cannot be read: the verb will say so)."""
    try:
        dl.validate_name(name)
        return _snapshot(paths, name)
    except (UsageError, OSError):
        return None


@contextmanager
def recorded(paths: Paths, name: str, verb: str, say: Say,
             target: Version | None = None, always: bool = False) -> Iterator[None]:
    """Record what the enclosed work did to container ``name`` (see the module docstring).
    ``target``: the version the verb means to deploy when the caller knows it (install).
    ``always``: a record even when the version and values stay (verify --repair)."""
    before = _before(paths, name)
    if before is None:
        yield               # the verb refuses the name itself; nothing to record
        return
    try:
        yield
    except _NOT_STARTED:
        raise
    except UpdateFailed as e:
        _record(paths, name, verb, before, "rolled-back", _reason(e), target, say, quiet=True)
        raise
    except (Exception, KeyboardInterrupt) as e:
        _record(paths, name, verb, before, "failed", _reason(e), target, say, quiet=True)
        raise
    _record(paths, name, verb, before, "ok", None, target, say, quiet=False, always=always)


def _reason(e: BaseException) -> str:
    if isinstance(e, KeyboardInterrupt):
        return "interrupted"
    text = str(e).strip()
    line = text.splitlines()[0] if text else ""
    return line if isinstance(e, SysContainersError) else f"{type(e).__name__}: {line}".rstrip(": ")


def _record(paths: Paths, name: str, verb: str, before: _Snapshot, result: str,
            reason: str | None, target: Version | None, say: Say, quiet: bool,
            always: bool = False) -> None:
    try:
        after = _snapshot(paths, name)
        if result == "ok" and after == before and not always:
            return        # nothing changed: not a record
        record = _make_record(name, verb, before, after, result, reason, target)
        hf.append(hf.history_path(paths, name), record)
        _journal(record)
    except (OSError, SysContainersError, ValueError) as e:
        if not quiet:
            say(f"warning: {name}: the {verb} was not recorded in its history: {e}")


def _make_record(name: str, verb: str, before: _Snapshot, after: _Snapshot, result: str,
                 reason: str | None, target: Version | None) -> HistoryRecord:
    old = before.live
    new = after.live if result == "ok" else _tried(before, after)
    secrets = frozenset().union(*(s.secret_names for s in (old, new) if s is not None))
    if reason is not None:
        for state in (old, new):
            if state is not None:
                reason = mask_text(reason, state.values, secrets)
    # no values without a version after: uninstall, or a failure before anything was built
    changes = _changes(old.values if old else None, new.values, secrets) if new else {}
    to_version = new.version if new is not None else (None if result == "ok" else target)
    return HistoryRecord(time=datetime.now().astimezone().isoformat(timespec="seconds"),
                         container=name, verb=verb, result=result,
                         from_version=old.version if old else None, to_version=to_version,
                         values=changes, reason=reason)


def _tried(before: _Snapshot, after: _Snapshot) -> _State | None:
    """After a failure: the version that was tried when the verb left it on disk — the live
    one if the failure came after the switch, else a freshly built other deployment (a
    controlled update keeps the version it rolled back from)."""
    if after.live is not None and after.live != before.live:
        return after.live
    if after.other is not None and after.other != before.other:
        return after.other[1]
    return None


def _changes(old: dict[str, str] | None, new: dict[str, str],
             secrets: frozenset[str]) -> dict[str, tuple[str | None, str | None]]:
    """Values that differ (forced ones are derived, not configured; a first install lists
    what the image and --set configured, not the OS values)."""
    skip = set(FORCED_VARIABLES) | (set(OS_VARIABLES) if old is None else set())
    old = old or {}
    shown_old, shown_new = mask_values(old, secrets), mask_values(new, secrets)
    return {k: (shown_old.get(k), shown_new.get(k))
            for k in sorted(set(old) | set(new))
            if k not in skip and old.get(k) != new.get(k)}


def describe(record: HistoryRecord) -> str:
    """One line for people (the journal's MESSAGE)."""
    def version(v: Version | None) -> str:
        return f"{v.image} ({v.image_id[:12]})" if v else "-"
    text = (f"{record.verb} of {record.container}: {version(record.from_version)} -> "
            f"{version(record.to_version)}: {record.result}")
    return f"{text}: {record.reason}" if record.reason else text


def _journal(record: HistoryRecord) -> None:
    fields = {"MESSAGE_ID": MESSAGE_ID, "MESSAGE": f"syscontainers: {describe(record)}",
              "PRIORITY": "6" if record.result == "ok" else "4",
              "SYSLOG_IDENTIFIER": "syscontainers",
              "SYSCONTAINERS_CONTAINER": record.container, "SYSCONTAINERS_VERB": record.verb,
              "SYSCONTAINERS_RESULT": record.result,
              "SYSCONTAINERS_RECORD": json.dumps(record.as_data())}
    for prefix, v in (("FROM", record.from_version), ("TO", record.to_version)):
        if v is not None:
            fields[f"SYSCONTAINERS_{prefix}_IMAGE"] = v.image
            fields[f"SYSCONTAINERS_{prefix}_IMAGE_ID"] = v.image_id
    if record.reason:
        fields["SYSCONTAINERS_REASON"] = record.reason
    journal.send(fields)
