"""Switch a container from one deployment to the other (update, rollback): docs/operations.md,
"What each verb does to the host"; the steps are activation.py's.

Sequence: write the intent marker → stop if it ran → remove the old tmpfiles entries → swap
host files → install the target's unit/tmpfiles copies → swap the NAME link (one rename) →
enable (if it was) → daemon-reload → create tmpfiles; the caller then starts the service if it ran (plain,
or verified with automatic rollback) and calls :func:`finish`.

Every step before the link swap is undone on failure. Against crashes (kill -9, power loss),
the intent marker ``.NAME.switching`` records whether the service ran and was enabled
(``{"was-running": .., "was-enabled": ..}``); the next verb that touches NAME calls :func:`reconcile`, which makes the host match
whatever deployment the link names (the link is the commit point): host files, unit and
tmpfiles files, daemon-reload, enabled again if it was, and started again if it ran.

Host files owned by a package (``--system-package=yes``): instead of swapping copies, the
deployment's kept package is installed with ``rpm -U`` (syspackage.switch_package) — the
target's on the way there, the source's on the way back or to reconcile.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from .. import faults
from ..deploy import deployment as dl
from ..deploy.hostfiles import is_unchanged
from ..errors import ConfigError
from ..paths import Paths
from ..proc import side_by_side
from . import activation as act
from .activation import Host
from ..fileops import read_or_none, unlink_quiet, write_atomic

Say = Callable[[str], None]


def switch(host: Host, src: dl.Deployment, dst: dl.Deployment, say: Say) -> bool:
    """Make ``dst`` the live deployment, its service stopped. Returns whether the service was
    running before; starting it again is the caller's (plain, or verified and rolled back).
    A failure before the link puts ``src`` back in service as it was (activation.py)."""
    name = src.name
    src_info, dst_info = src.read_info(), dst.read_info()
    if not dst.unit_copy.exists() and dst_info.has_container_service:
        raise ConfigError("Cannot find systemd service file for previous version")
    # the unit on the host already what dst's says: systemd may keep the one it has loaded
    same_unit = _holds(host.paths.unit_file(name), read_or_none(dst.unit_copy))
    was_running, was_enabled = side_by_side(lambda: host.systemd.is_active(act.unit_of(name)),
                                            lambda: host.systemd.is_enabled(act.unit_of(name)))
    _write_marker(host.paths, name, was_running, was_enabled)
    act.stop(host, src, was_running)
    faults.point("switch-stopped")
    with act.UndoStack(say, f"while restoring {name}") as undo:
        undo.push(act.restart_undo(host, src, src_info, was_running, was_enabled,
                                   lambda: finish(host.paths, name)))
        act.remove_tmpfiles_entries(host, name)
        act.swap_host_files(host, src, src_info, dst, dst_info, undo, say)
        faults.point("switch-hostfiles")
        act.install_units_of(host, dst, undo, restore=src, crash_point="switch-unit")
        act.link(host, dst, undo, restore=src, crash_point="switch-link")
    # after the commit point: finished forward (here, or by reconcile after a crash). An
    # unchanged unit that systemd has loaded as it is on disk needs neither the daemon-reload
    # (a third of an update) nor the enable (its links are there): docs/operations.md,
    # "When update reloads systemd"
    kept = same_unit and not host.systemd.needs_reload(act.unit_of(name))
    act.activate(host, name, None, enable=dst_info.has_container_service and was_enabled
                 and not kept, reload=not kept)
    return was_running


def _holds(path: Path, text: str | None) -> bool:
    return text is not None and read_or_none(path) == text


def finish(paths: Paths, name: str) -> None:
    """The switch and the restart are done: drop the intent marker."""
    unlink_quiet(dl.switching_marker(paths, name))
    dl.fsync_dir(paths.checkouts)


def _write_marker(paths: Paths, name: str, was_running: bool, was_enabled: bool) -> None:
    marker = dl.switching_marker(paths, name)
    if marker.exists():   # an earlier interrupted switch: its "was running/enabled" win
        return
    # durable before the stop: reconcile after a crash needs what it says
    write_atomic(marker, json.dumps({"was-running": was_running, "was-enabled": was_enabled}))
    dl.fsync_dir(paths.checkouts)


def _on_disk_record(records: list[dict[str, str]]) -> dict[str, str]:
    """Which deployment's version of each host file is on disk after an interrupted switch:
    per path, the first record whose checksum the file still has (else the first one), so
    files of either deployment count as ours and an operator's edit still as theirs."""
    merged: dict[str, str] = {}
    for path in dict.fromkeys(p for rec in records for p in rec):
        candidates = [rec[path] for rec in records if path in rec]
        merged[path] = next((c for c in candidates if is_unchanged(Path(path), c)), candidates[0])
    return merged


def reconcile(host: Host | Paths, name: str, say: Say, rpm=None) -> None:
    """Complete a switch a crash interrupted: the host is made to match the deployment the
    NAME link points at, and the service runs again if it ran before the switch. ``host``:
    the verb's (Paths: the real host, ``rpm`` its rpm tool)."""
    host = Host.of(host, rpm)
    paths = host.paths
    cur = dl.current(paths, name)
    if cur is None or not cur.exists():
        return
    if dl.installing_marker(paths, name).exists():
        # the link was made (the install's commit point): finish what follows it
        say(f"completing the interrupted install of {name}")
        act.activate(host, name, None, enable=cur.read_info().has_container_service)
        act.end_install(host, name)
    marker = dl.switching_marker(paths, name)
    if not marker.exists():
        return
    try:
        state = json.loads(marker.read_text())
    except (OSError, ValueError):
        state = {}
    was_running = bool(state.get("was-running"))
    was_enabled = bool(state.get("was-enabled", True))   # markers of older versions: enabled
    say(f"completing an interrupted update/rollback of {name}")
    info = cur.read_info()
    other = dl.other(paths, cur)
    records = [info.installed_files_checksum]
    if other.exists():
        records.append(other.read_info().installed_files_checksum)
    act.copy_or_upgrade(host, cur, info, _on_disk_record(records), say)
    act.install_units_of(host, cur, None)
    act.activate(host, name, None, enable=info.has_container_service and was_enabled)
    if was_running:
        host.systemd.start(act.unit_of(name))
    finish(paths, name)
