"""Switch a container from one deployment to the other (update, rollback) — SPEC 4.

Sequence: write the intent marker → stop if it ran → remove the old tmpfiles entries → swap
host files → install the target's unit/tmpfiles copies → swap the NAME link (one rename) →
daemon-reload → create tmpfiles → enable; the caller then starts the service if it ran (plain,
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
import os
from pathlib import Path
from typing import Callable

from .. import faults
from ..deploy import deployment as dl
from ..deploy.hostfiles import install_host_files, is_unchanged
from ..deploy.rpmpackage import RpmTool
from ..errors import ConfigError, SysContainersError
from ..paths import Paths
from ..service.systemd import Systemd
from . import build, leftover, syspackage
from .files import read_or_none, unlink_quiet, write_atomic

Say = Callable[[str], None]


def _install_files(paths: Paths, dep: dl.Deployment) -> None:
    """The deployment's copies of its unit and tmpfiles file become the host's."""
    name = dep.name
    for copy, target in ((dep.unit_copy, paths.unit_file(name)),
                         (dep.tmpfiles_copy, paths.tmpfiles_file(name))):
        text = read_or_none(copy)
        if text is None:
            unlink_quiet(target)
        else:
            write_atomic(target, text)


def _remove_tmpfiles(paths: Paths, systemd: Systemd, name: str) -> None:
    path = paths.tmpfiles_file(name)
    if path.exists():
        systemd.tmpfiles("remove", str(path))


def _activate(paths: Paths, systemd: Systemd, dep: dl.Deployment, info: dl.InstallInfo,
              enable: bool = True) -> None:
    """After the link names ``dep``: systemd learns the unit, tmpfiles entries exist.
    ``enable`` False: the operator disabled the unit, and it stays so (docs/operations.md
    "Service state across update, rollback, stop and uninstall")."""
    if info.has_container_service and enable:
        # Enabled first without systemctl's own reload: the one reload below picks up the
        # unit and its enablement (two reloads made rollback miss its 0.5 s target under load).
        systemd.enable(f"{dep.name}.service", reload=False)
    systemd.daemon_reload()
    if paths.tmpfiles_file(dep.name).exists():
        systemd.tmpfiles("create", str(paths.tmpfiles_file(dep.name)))


def _put_host_files(dep: dl.Deployment, info: dl.InstallInfo, previous: dict[str, str],
                    rpm: RpmTool, say: Say) -> dict[str, str]:
    """``dep``'s host files in place of the other set: its package (rpm -U) when a package
    owns them, else copies (one call swaps the sets: ``previous``'s unchanged files not in
    ``dep``'s go). Returns the record of the copies now on the host."""
    if info.rpm_installed:
        syspackage.switch_package(dep, info, rpm, say)
        return {}
    installed = install_host_files(build.host_plan(dep, info), previous=previous)
    for path in installed.kept:
        say(f"warning: kept {path}: changed since it was installed")
    build.record_installed(dep, info, installed.checksums)
    return installed.checksums


def switch(paths: Paths, src: dl.Deployment, dst: dl.Deployment, say: Say,
           rpm: RpmTool | None = None) -> bool:
    """Make ``dst`` the live deployment, its service stopped. Returns whether the service was
    running before; starting it again is the caller's (plain, or verified and rolled back).
    ``rpm``: the host's rpm, for package-owned host files (tests: a throwaway root)."""
    rpm = rpm or RpmTool()
    systemd = Systemd(paths.user_mode)
    name = src.name
    unit = f"{name}.service"
    src_info, dst_info = src.read_info(), dst.read_info()
    if not dst.unit_copy.exists() and dst_info.has_container_service:
        raise ConfigError("Cannot find systemd service file for previous version")
    was_running = systemd.is_active(unit)
    was_enabled = systemd.is_enabled(unit)
    _write_marker(paths, name, was_running, was_enabled)
    if was_running:
        systemd.stop(unit)
    leftover.clear(paths, name, src)   # a container the stopped unit left (its runtime was killed)
    faults.point("switch-stopped")
    installed = None
    try:
        _remove_tmpfiles(paths, systemd, name)
        installed = _put_host_files(dst, dst_info, src_info.installed_files_checksum, rpm, say)
        faults.point("switch-hostfiles")
        _install_files(paths, dst)
        faults.point("switch-unit")
        dl.switch_link(paths, name, dst)
        faults.point("switch-link")
    except BaseException:
        # A failed host-file install undid its own writes: the source's files are still
        # there, so they, not the target's, are what the restore replaces.
        _restore(paths, systemd, src, src_info,
                 installed if installed is not None else src_info.installed_files_checksum,
                 (was_running, was_enabled), rpm, say)
        raise
    _activate(paths, systemd, dst, dst_info, enable=was_enabled)
    return was_running


def finish(paths: Paths, name: str) -> None:
    """The switch and the restart are done: drop the intent marker."""
    unlink_quiet(dl.switching_marker(paths, name))
    dl.fsync_dir(paths.checkouts)


def _write_marker(paths: Paths, name: str, was_running: bool, was_enabled: bool) -> None:
    marker = dl.switching_marker(paths, name)
    if marker.exists():   # an earlier interrupted switch: its "was running/enabled" win
        return
    tmp = marker.with_name(marker.name + ".tmp")
    tmp.write_text(json.dumps({"was-running": was_running, "was-enabled": was_enabled}))
    os.rename(tmp, marker)
    dl.fsync_dir(paths.checkouts)


def _restore(paths: Paths, systemd: Systemd, src: dl.Deployment, src_info: dl.InstallInfo,
             dst_record: dict, before: tuple[bool, bool], rpm: RpmTool, say: Say) -> None:
    """Best effort after a failed switch: the source deployment's files back, restarted."""
    try:
        _put_host_files(src, src_info, dst_record, rpm, say)
    except (SysContainersError, OSError) as e:
        say(f"warning: while restoring host files of {src.name}: {e}")
    try:
        _install_files(paths, src)
        dl.switch_link(paths, src.name, src)
        _activate(paths, systemd, src, src_info, enable=before[1])
        if before[0]:
            systemd.start(f"{src.name}.service")
        finish(paths, src.name)
    except (SysContainersError, OSError) as e:
        say(f"warning: while restoring {src.name}: {e}")


def _on_disk_record(records: list[dict[str, str]]) -> dict[str, str]:
    """Which deployment's version of each host file is on disk after an interrupted switch:
    per path, the first record whose checksum the file still has (else the first one), so
    files of either deployment count as ours and an operator's edit still as theirs."""
    merged: dict[str, str] = {}
    for path in dict.fromkeys(p for rec in records for p in rec):
        candidates = [rec[path] for rec in records if path in rec]
        merged[path] = next((c for c in candidates if is_unchanged(Path(path), c)), candidates[0])
    return merged


def reconcile(paths: Paths, name: str, say: Say, rpm: RpmTool | None = None) -> None:
    """Complete a switch a crash interrupted: the host is made to match the deployment the
    NAME link points at, and the service runs again if it ran before the switch."""
    cur = dl.current(paths, name)
    marker = dl.switching_marker(paths, name)
    if cur is None or not cur.exists():
        return
    if dl.installing_marker(paths, name).exists():
        # the link was made (the install's commit point): finish what follows it
        say(f"completing the interrupted install of {name}")
        _activate(paths, Systemd(paths.user_mode), cur, cur.read_info())
        unlink_quiet(dl.installing_marker(paths, name))
    if not marker.exists():
        return
    try:
        state = json.loads(marker.read_text())
    except (OSError, ValueError):
        state = {}
    was_running = bool(state.get("was-running"))
    was_enabled = bool(state.get("was-enabled", True))   # markers of older versions: enabled
    say(f"completing an interrupted update/rollback of {name}")
    systemd = Systemd(paths.user_mode)
    info = cur.read_info()
    other = dl.other(paths, cur)
    records = [info.installed_files_checksum]
    if other.exists():
        records.append(other.read_info().installed_files_checksum)
    _put_host_files(cur, info, _on_disk_record(records), rpm or RpmTool(), say)
    _install_files(paths, cur)
    _activate(paths, systemd, cur, info, enable=was_enabled)
    if was_running:
        systemd.start(f"{name}.service")
    finish(paths, name)
