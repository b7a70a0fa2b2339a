"""Putting a deployment into service on the host and taking it out of service: the steps
every verb shares, each over an injected :class:`Host`, each pushing its undo onto one
:class:`UndoStack`.

Verbs are short sequences of these steps:

- install:   begin_install → put_host_files → install_units → link → activate → end_install
- update, rollback (switch.switch): stop → swap_host_files → install_units → link → activate
- reconcile (switch.reconcile): the steps after the link again, for the link's deployment
- uninstall, clean-up (remove.py): deactivate → remove_host_files → the link and the dirs

Transaction and undo rules (docs/operations.md, "Crashes and concurrency" and "Errors and
broken state"; docs/architecture.md, "Activation and undo"):

- A step that fails runs the undos pushed so far in reverse order, then the error is
  re-raised. An undo that fails itself is reported (one warning line through ``say``) and the
  next undo still runs.
- install: every step is undone, also those after the link (enable, daemon-reload, tmpfiles
  --create): the host is as before the verb. Its commit point is the end (end_install).
- update/rollback: the NAME link is the commit point. A failure before it puts the source
  deployment back in service as it was; after it nothing is undone: what follows (enable,
  daemon-reload, tmpfiles --create, the restart) only brings systemd in line with the link,
  and an error there leaves the marker, so the next verb finishes it forward.
- A crash (SIGKILL, power loss) runs no undo; for a crash the NAME link is the commit point
  of every verb, and the markers say what it interrupted. Before the link of an install:
  deployment dirs without a link, removed by the next install of NAME
  (remove.clean_incomplete), its uninstall or `images prune`. After it: the ``installing``
  marker, and for update/rollback the ``switching`` marker (it keeps "was running/enabled");
  switch.reconcile, run first by install (of an installed NAME), update, rollback and start,
  finishes the work forward and removes the marker.
- Uninstall and clean-up have no undo: every step tolerates "already done", so running the
  verb again after a failure or a crash finishes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .. import faults
from ..deploy import deployment as dl
from ..deploy import hostfiles
from ..deploy.rpmpackage import RpmTool
from ..errors import ServiceError, SysContainersError
from ..paths import Paths
from ..service.runtime import may_have_container, remove_container
from ..service.systemd import ServiceManager, Systemd
from . import build, leftover, syspackage
from ..fileops import read_or_none, remove_if_same, unlink_quiet, write_atomic

Say = Callable[[str], None]
Undo = Callable[[], None]


@dataclass(frozen=True)
class Host:
    """What lifecycle changes on the host: its paths, the service manager, the rpm tool and
    how a runtime container is removed. Built once per verb (:meth:`for_paths`); unit tests
    build one with fakes."""

    paths: Paths
    systemd: ServiceManager
    rpm: RpmTool = field(default_factory=RpmTool)
    # (runtime, name) -> whether a container was removed (leftover.py)
    remove_container: Callable[[str, str], bool] = remove_container
    # (runtime, name, user mode) -> False when surely no such container (a stat: leftover.py)
    may_have_container: Callable[[str, str, bool], bool] = may_have_container

    @classmethod
    def for_paths(cls, paths: Paths, rpm: RpmTool | None = None) -> "Host":
        return cls(paths, Systemd(paths.user_mode), rpm or RpmTool())

    @classmethod
    def of(cls, where: "Host | Paths", rpm: RpmTool | None = None) -> "Host":
        """Entry points called with Paths (the CLI, tests) and from verbs with their Host."""
        return where if isinstance(where, Host) else cls.for_paths(where, rpm)

    @property
    def user_mode(self) -> bool:
        return self.paths.user_mode


class UndoStack:
    """The undos of the steps done so far. Used as a context manager: leaving it by an
    exception runs them in reverse (failures reported through ``say``) and re-raises;
    leaving it normally, or :meth:`commit`, drops them (the work stays)."""

    def __init__(self, say: Say, context: str):
        self._say = say
        self._context = context     # "while undoing the install of NAME", for the warnings
        self._undos: list[Undo] = []

    def push(self, undo: Undo) -> None:
        self._undos.append(undo)

    def commit(self) -> None:
        self._undos.clear()

    def unwind(self) -> None:
        while self._undos:
            undo = self._undos.pop()
            try:
                undo()
            except (SysContainersError, OSError) as e:
                self._say(f"warning: {self._context}: {e}")

    def __enter__(self) -> "UndoStack":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.commit()
        else:
            self.unwind()
        return False


def _push(undo: UndoStack | None, step: Undo) -> None:
    if undo is not None:      # None: a step after the commit point (finished forward)
        undo.push(step)


def unit_of(name: str) -> str:
    return f"{name}.service"


# --- install ----------------------------------------------------------------------------

def begin_install(host: Host, dep: dl.Deployment, undo: UndoStack) -> None:
    """The ``installing`` marker says a crash after the link must finish the activation;
    undone, the marker and the built deployment go (the latter last)."""
    undo.push(lambda: dl.remove_tree(dep.path))
    marker = dl.installing_marker(host.paths, dep.name)
    marker.touch()
    undo.push(lambda: unlink_quiet(marker))


def end_install(host: Host, name: str) -> None:
    unlink_quiet(dl.installing_marker(host.paths, name))


def put_host_files(host: Host, built: build.Built, undo: UndoStack,
                   package: Callable[[], Undo] | None = None) -> None:
    """Install: the host files as copies, or through ``package`` (installs them with rpm -i
    and returns its undo, syspackage.install_host_package)."""
    if package is not None:
        undo.push(package())
    elif built.rendered.host_files:
        installed = hostfiles.install_host_files(build.host_plan(built.deployment, built.info))
        undo.push(lambda: hostfiles.remove_host_files(installed.checksums))
        build.record_installed(built.deployment, built.info, installed.checksums)


# --- update, rollback, reconcile -----------------------------------------------------------

def stop(host: Host, dep: dl.Deployment, was_running: bool) -> None:
    """Stop the unit (if it ran) and clear the runtime container a killed runtime left."""
    if was_running:
        host.systemd.stop(unit_of(dep.name))
    leftover.clear(host, dep.name, dep)


def restart_undo(host: Host, src: dl.Deployment, src_info: dl.InstallInfo, was_running: bool,
                 was_enabled: bool, finish: Callable[[], None]) -> Undo:
    """The last undo of a switch: ``src`` in service again as it was (enabled or not,
    started only if it ran), then the switch's marker goes."""
    def restart() -> None:
        activate(host, src.name, None, enable=src_info.has_container_service and was_enabled)
        if was_running:
            host.systemd.start(unit_of(src.name))
        finish()
    return restart


def remove_tmpfiles_entries(host: Host, name: str) -> None:
    """systemd-tmpfiles --remove for NAME's file (activate's --create makes them again)."""
    path = host.paths.tmpfiles_file(name)
    if path.exists():
        host.systemd.tmpfiles("remove", str(path))


def copy_or_upgrade(host: Host, dep: dl.Deployment, info: dl.InstallInfo,
                    previous: dict[str, str], say: Say) -> dict[str, str]:
    """``dep``'s host files in place of the other set: its package (rpm -U) when a package
    owns them, else copies (one call swaps the sets: ``previous``'s unchanged files not in
    ``dep``'s go). Returns the record of the copies now on the host."""
    if info.rpm_installed:
        syspackage.switch_package(dep, info, host.rpm, say)
        return {}
    installed = hostfiles.install_host_files(build.host_plan(dep, info), previous=previous)
    for path in installed.kept:
        say(f"warning: kept {path}: changed since it was installed")
    build.record_installed(dep, info, installed.checksums)
    return installed.checksums


def swap_host_files(host: Host, src: dl.Deployment, src_info: dl.InstallInfo,
                    dst: dl.Deployment, dst_info: dl.InstallInfo, undo: UndoStack,
                    say: Say) -> None:
    """Update/rollback: ``src``'s host files replaced by ``dst``'s. The undo, pushed first
    (a swap that failed half-way is undone too), puts ``src``'s back over what ``dst``'s
    swap recorded; when the swap itself failed, it undid its own writes and ``src``'s files
    are what is on the host, so they are restored over ``src``'s own record (over ``dst``'s,
    ``src``'s files would look like the operator's and be kept with a warning)."""
    done: list[dict[str, str]] = []
    undo.push(lambda: copy_or_upgrade(
        host, src, src_info, done[0] if done else src_info.installed_files_checksum, say))
    done.append(copy_or_upgrade(host, dst, dst_info, src_info.installed_files_checksum, say))


# --- steps of both -----------------------------------------------------------------------

def install_units(host: Host, name: str, unit: str | None, tmpfiles: str | None,
                  undo: UndoStack | None, *, restore: dl.Deployment | None = None,
                  crash_point: str | None = None) -> None:
    """NAME's unit and tmpfiles file on the host hold ``unit``/``tmpfiles`` (None: none).
    Undo: ``restore``'s copies back (update/rollback), else the files written go (install;
    a unit file only while it is still ours)."""
    paths = host.paths
    if restore is not None:
        _push(undo, lambda: install_units(host, name, read_or_none(restore.unit_copy),
                                          read_or_none(restore.tmpfiles_copy), None))
    unit_file, tmp = paths.unit_file(name), paths.tmpfiles_file(name)
    mine = undo if restore is None else None
    _put(unit_file, unit, mine, lambda: remove_if_same(unit_file, unit))
    _put(tmp, tmpfiles, mine, lambda: unlink_quiet(tmp))
    if crash_point:
        faults.point(crash_point)


def _put(path, text: str | None, undo: UndoStack | None, remove: Undo) -> None:
    if text is None:
        unlink_quiet(path)
        return
    if read_or_none(path) != text:   # an unchanged unit keeps its mtime: systemd sees no edit
        write_atomic(path, text)
    _push(undo, remove)


def install_units_of(host: Host, dep: dl.Deployment, undo: UndoStack | None, **kw) -> None:
    """install_units with the copies kept in the deployment (what update/rollback install)."""
    install_units(host, dep.name, read_or_none(dep.unit_copy), read_or_none(dep.tmpfiles_copy),
                  undo, **kw)


def link(host: Host, dep: dl.Deployment, undo: UndoStack | None, *,
         restore: dl.Deployment | None = None, crash_point: str | None = None) -> None:
    """The commit point: NAME names ``dep``. Undo: the link back to ``restore``, or none."""
    name = dep.name
    if restore is not None:
        _push(undo, lambda: dl.switch_link(host.paths, name, restore))
    dl.switch_link(host.paths, name, dep)
    if restore is None:
        _push(undo, lambda: dl.remove_link(host.paths, name))
    if crash_point:
        faults.point(crash_point)


def activate(host: Host, name: str, undo: UndoStack | None, *, enable: bool,
             reload: bool = True) -> None:
    """systemd learns the unit (and, ``enable``, its enablement); tmpfiles entries exist.
    ``enable`` False keeps a unit the operator disabled disabled (docs/operations.md
    "Service state across update, rollback, stop and uninstall")."""
    systemd, unit = host.systemd, unit_of(name)
    if enable:
        # without systemctl's own reload: the one daemon-reload below picks up the unit and
        # its enablement (two reloads made rollback miss its 0.5 s target under load)
        systemd.enable(unit, reload=False)
        _push(undo, lambda: systemd.disable_now(unit))
    if reload:
        systemd.daemon_reload()
        _push(undo, systemd.daemon_reload)
    tmpfiles = host.paths.tmpfiles_file(name)
    if tmpfiles.exists():
        systemd.tmpfiles("create", str(tmpfiles))
        _push(undo, lambda: systemd.tmpfiles("remove", str(tmpfiles)))


# --- uninstall, clean-up -----------------------------------------------------------------

ANY = object()   # deactivate: the file is ours whatever it holds


def deactivate(host: Host, name: str, dep: dl.Deployment | None, *,
               unit_copy: object = ANY, tmpfiles_copy: object = ANY) -> None:
    """Disable --now and remove NAME's unit (one daemon-reload, after the file is gone),
    its tmpfiles entries and file, then the runtime container the stopped unit may have
    left (leftover.py: an error there stops the verb before it says it is done; running it
    again retries). A copy (text) given: a file is removed only if it holds exactly that
    (ours; an operator's file stays); None: no copy, so the file is not ours."""
    systemd, unit = host.systemd, unit_of(name)
    unit_file, tmp = host.paths.unit_file(name), host.paths.tmpfiles_file(name)
    if _ours(unit_file, unit_copy):
        systemd.disable_now(unit, reload=False)   # its own reload would be a second one
        unlink_quiet(unit_file)
        try:
            systemd.daemon_reload()
        except ServiceError:
            pass
        systemd.reset_failed(unit)
    if _ours(tmp, tmpfiles_copy):
        try:
            systemd.tmpfiles("remove", str(tmp))
        finally:
            unlink_quiet(tmp)
    leftover.clear(host, name, dep)


def _ours(path, copy: object) -> bool:
    text = read_or_none(path)
    return text is not None and (copy is ANY or text == copy)


def remove_host_files(host: Host, info: dl.InstallInfo, say: Say) -> None:
    """The host files an info file records (an operator-changed one stays, with a warning),
    then the package that installed them, if any (rpm -e)."""
    for kept in hostfiles.remove_host_files(info.installed_files_checksum):
        say(f"warning: kept {kept}: changed since it was installed")
    syspackage.erase_recorded(info, host.rpm)
