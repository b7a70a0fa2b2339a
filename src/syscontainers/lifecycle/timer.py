"""The systemd timer that runs ``auto-update`` (docs/operations.md "Unattended updates
(auto-update)"): ``auto-update --install-timer`` / ``--remove-timer``.

Writes ``syscontainers-auto-update.service`` (oneshot: the running syscontainers, by its
absolute path, so a venv install works) and ``.timer`` (OnCalendar, RandomizedDelaySec so a
fleet does not ask the registry at once, Persistent=true so a run missed while the host was
off happens at the next boot) into the unit dir of the mode, then ``enable --now`` the timer.
With a stage calendar, a second pair ``syscontainers-auto-update-stage.*`` runs
``auto-update --stage`` at that time, and the main timer only switches what was staged (and
updates what was not) at its own time: a maintenance window. A unit file of that name that
we did not write is never overwritten or removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import CommandError, UsageError
from ..fileops import unlink_quiet, write_atomic
from ..lock import host_lock
from ..paths import Paths
from ..proc import run
from ..service.systemd import Systemd

MAIN = "syscontainers-auto-update"
STAGE = "syscontainers-auto-update-stage"
OURS = "# Written by `syscontainers auto-update --install-timer`; `--remove-timer` removes it."
Say = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class TimerRequest:
    command: tuple[str, ...]            # how to run this syscontainers (absolute), mode flags included
    on_calendar: str = "daily"          # when auto-update runs (with a stage timer: the switch)
    stage_calendar: str | None = None   # when auto-update --stage runs (None: no stage timer)
    randomized_delay: str = "30min"     # RandomizedDelaySec of both timers


@dataclass(frozen=True)
class TimerReport:
    written: list[str]       # unit files written
    removed: list[str]       # unit files removed
    timers: list[str]        # the timers enabled (or, for remove, disabled)


def install_timer(paths: Paths, req: TimerRequest, say: Say) -> TimerReport:
    _check_value("--on-calendar", req.on_calendar, "calendar")
    if req.stage_calendar is not None:
        _check_value("--stage-calendar", req.stage_calendar, "calendar")
    _check_value("--randomized-delay", req.randomized_delay, "timespan")
    systemd = Systemd(paths.user_mode)
    pairs = [(MAIN, (), req.on_calendar, "Update the containers that have an auto-update policy")]
    if req.stage_calendar is not None:
        pairs.append((STAGE, ("--stage",), req.stage_calendar,
                      "Pull and stage the updates of containers that have an auto-update policy"))
    with host_lock(paths):
        for unit, _args, _cal, _what in pairs:
            for path in _files(paths, unit):
                _refuse_foreign(path)
        if req.stage_calendar is None:
            _refuse_foreign_all(paths, STAGE)
        files = {}
        for unit, args, calendar, what in pairs:
            files[paths.units_dir / f"{unit}.service"] = _service(paths, req.command + ("auto-update",) + args, what)
            files[paths.units_dir / f"{unit}.timer"] = _timer(calendar, req.randomized_delay, what)
        removed = [] if req.stage_calendar is not None else _remove_pair(paths, systemd, STAGE)
        written = []
        try:
            for path, text in files.items():
                paths.units_dir.mkdir(parents=True, exist_ok=True)
                write_atomic(path, text, mode=0o644, sync_dir=True)
                written.append(path)
            systemd.daemon_reload()
            for unit, *_ in pairs:
                systemd.systemctl("enable", "--now", f"{unit}.timer")
        except BaseException:
            for path in written:       # nothing half-done: no timer without its service
                unlink_quiet(path)
            systemd.systemctl("daemon-reload", check=False)
            raise
    return TimerReport([str(p) for p in written], removed, [f"{u}.timer" for u, *_ in pairs])


def remove_timer(paths: Paths, say: Say) -> TimerReport:
    systemd = Systemd(paths.user_mode)
    with host_lock(paths):
        for unit in (MAIN, STAGE):
            _refuse_foreign_all(paths, unit)
        gone = {unit: _remove_pair(paths, systemd, unit) for unit in (MAIN, STAGE)}
    removed = gone[MAIN] + gone[STAGE]
    if not removed:
        say("no auto-update timer is installed")
    return TimerReport([], removed, [f"{unit}.timer" for unit, files in gone.items() if files])


def _remove_pair(paths: Paths, systemd: Systemd, unit: str) -> list[str]:
    present = [p for p in _files(paths, unit) if p.exists()]
    if not present:
        return []
    systemd.systemctl("disable", "--now", f"{unit}.timer", check=False)
    for path in present:
        unlink_quiet(path)
    systemd.systemctl("daemon-reload", check=False)
    return [str(p) for p in present]


def _files(paths: Paths, unit: str) -> list[Path]:
    return [paths.units_dir / f"{unit}.service", paths.units_dir / f"{unit}.timer"]


def _refuse_foreign_all(paths: Paths, unit: str) -> None:
    for path in _files(paths, unit):
        _refuse_foreign(path)


def _refuse_foreign(path: Path) -> None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return
    except (OSError, UnicodeDecodeError):
        text = ""
    if not text.startswith(OURS):
        raise UsageError(f"{path} exists and was not written by syscontainers; move it away "
                         "(it is never overwritten or removed)")


def _check_value(flag: str, value: str, kind: str) -> None:
    """systemd's own parser decides (``systemd-analyze calendar|timespan``), before anything
    is written; a newline would break the unit file."""
    if not value or "\n" in value or "\r" in value:
        raise UsageError(f"{flag}: give one line")
    try:
        run(["systemd-analyze", kind, value], what=f"systemd-analyze {kind}")
    except CommandError as e:
        raise UsageError(f"{flag} {value!r} is not a valid systemd {kind} ({e})") from None


def _service(paths: Paths, command: tuple[str, ...], what: str) -> str:
    network = "" if paths.user_mode else "Wants=network-online.target\nAfter=network-online.target\n"
    return (f"{OURS}\n[Unit]\nDescription={what} (syscontainers)\n{network}\n"
            f"[Service]\nType=oneshot\nExecStart={' '.join(map(_quote, command))}\n")


def _timer(calendar: str, delay: str, what: str) -> str:
    # AccuracySec=1s: the timer fires at its time plus the random delay, not up to a minute later
    return (f"{OURS}\n[Unit]\nDescription={what} (syscontainers timer)\n\n"
            f"[Timer]\nOnCalendar={calendar}\nRandomizedDelaySec={delay}\nAccuracySec=1s\n"
            "Persistent=true\n\n[Install]\nWantedBy=timers.target\n")


def _quote(arg: str) -> str:
    """One ExecStart argument: double-quoted, with systemd's specifiers (%) and variables
    ($) kept literal."""
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"'
