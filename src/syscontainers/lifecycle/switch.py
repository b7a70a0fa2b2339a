"""Switch a container from one deployment to the other (update, rollback) — SPEC 4.

Sequence: stop if it ran → remove the old tmpfiles → swap host files → install the target's
unit/tmpfiles copies → swap the NAME link (one rename) → daemon-reload → create tmpfiles →
start if it ran. Every step before the link swap is undone on failure; the link is the commit
point, and :func:`reconcile` repairs a unit/tmpfiles file a crash left out of step with it.
"""

from __future__ import annotations

from typing import Callable

from .. import faults
from ..deploy import deployment as dl
from ..deploy.hostfiles import install_host_files
from ..errors import ConfigError, SysContainersError
from ..paths import Paths
from ..service.systemd import Systemd
from . import build
from .files import read_or_none, unlink_quiet, write_atomic

Say = Callable[[str], None]


def unit_path(paths: Paths, name: str):
    return paths.units_dir / f"{name}.service"


def tmpfiles_path(paths: Paths, name: str):
    return paths.tmpfiles_dir / f"{name}.conf"


def _install_files(paths: Paths, systemd: Systemd, dep: dl.Deployment) -> None:
    name = dep.name
    unit = read_or_none(dep.unit_copy)
    if unit is None:
        unlink_quiet(unit_path(paths, name))
    else:
        write_atomic(unit_path(paths, name), unit)
    tmp = read_or_none(dep.tmpfiles_copy)
    if tmp is None:
        unlink_quiet(tmpfiles_path(paths, name))
    else:
        write_atomic(tmpfiles_path(paths, name), tmp)


def _remove_tmpfiles(paths: Paths, systemd: Systemd, name: str) -> None:
    path = tmpfiles_path(paths, name)
    if path.exists():
        systemd.tmpfiles("remove", str(path))


def switch(paths: Paths, src: dl.Deployment, dst: dl.Deployment, say: Say,
           start_after: bool | None = None) -> bool:
    """Make ``dst`` the live deployment. Returns whether the service was running before
    (it is started again when it was, or when ``start_after`` says so)."""
    systemd = Systemd(paths.user_mode)
    name = src.name
    unit = f"{name}.service"
    src_info, dst_info = src.read_info(), dst.read_info()
    if not dst.unit_copy.exists() and dst_info.has_container_service:
        raise ConfigError("Cannot find systemd service file for previous version")
    was_running = systemd.is_active(unit)
    if was_running:
        systemd.stop(unit)
    faults.point("switch-stopped")
    installed = None
    try:
        _remove_tmpfiles(paths, systemd, name)
        # one call swaps the sets: the source's unchanged files not in the target's go
        installed = install_host_files(build.host_plan(dst, dst_info),
                                       previous=src_info.installed_files_checksum)
        for path in installed.kept:
            say(f"warning: kept {path}: changed since it was installed")
        build.record_installed(dst, dst_info, installed.checksums)
        faults.point("switch-hostfiles")
        _install_files(paths, systemd, dst)
        faults.point("switch-unit")
        dl.switch_link(paths, name, dst)
        faults.point("switch-link")
    except BaseException:
        _restore(paths, systemd, src, src_info,
                 installed.checksums if installed else dst_info.installed_files_checksum,
                 was_running, say)
        raise
    systemd.daemon_reload()
    if tmpfiles_path(paths, name).exists():
        systemd.tmpfiles("create", str(tmpfiles_path(paths, name)))
    if dst_info.has_container_service:
        systemd.enable(unit)
    if start_after if start_after is not None else was_running:
        systemd.start(unit)
    return was_running


def _restore(paths: Paths, systemd: Systemd, src: dl.Deployment, src_info: dl.InstallInfo,
             dst_record: dict, was_running: bool, say: Say) -> None:
    """Best effort: put the source deployment's files back and restart it."""
    try:
        install_host_files(build.host_plan(src, src_info), previous=dst_record)
    except (SysContainersError, OSError) as e:
        say(f"warning: while restoring host files of {src.name}: {e}")
    try:
        _install_files(paths, systemd, src)
        dl.switch_link(paths, src.name, src)
        systemd.daemon_reload()
        if tmpfiles_path(paths, src.name).exists():
            systemd.tmpfiles("create", str(tmpfiles_path(paths, src.name)))
        if was_running:
            systemd.start(f"{src.name}.service")
    except (SysContainersError, OSError) as e:
        say(f"warning: while restoring {src.name}: {e}")


def reconcile(paths: Paths, name: str, say: Say) -> None:
    """After a crash between writing the unit and swapping the link, the unit file may belong
    to the other deployment: put back the copies of the live one."""
    cur = dl.current(paths, name)
    if cur is None or not cur.exists():
        return
    want_unit = read_or_none(cur.unit_copy)
    want_tmp = read_or_none(cur.tmpfiles_copy)
    if (read_or_none(unit_path(paths, name)) != want_unit
            or read_or_none(tmpfiles_path(paths, name)) != want_tmp):
        say(f"repairing the unit files of {name} after an interrupted switch")
        systemd = Systemd(paths.user_mode)
        _install_files(paths, systemd, cur)
        systemd.daemon_reload()
