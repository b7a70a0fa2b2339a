"""start / stop / status of an installed container's service (docs/operations.md, "Service state across
update, rollback, stop and uninstall").

These run as often as ``systemctl`` and should cost little more (docs/performance.md "start,
stop, status"): the common case is a stat or two and one systemctl process; the modules of
the rare cases (a crash to reconcile, a leftover container) are imported only then.
"""

from __future__ import annotations

from ..deploy import deployment as dl
from ..errors import ContainerNotFound
from ..lock import host_lock
from ..paths import Paths
from ..service.systemd import Systemd
from . import leftover


def _require(paths: Paths, name: str) -> str:
    dl.validate_name(name)
    if dl.current(paths, name) is None and not _is_preinstalled(paths, name):
        raise ContainerNotFound(f"container {name} is not installed")
    return f"{name}.service"


def _is_preinstalled(paths: Paths, name: str) -> bool:
    from .query import is_preinstalled

    return is_preinstalled(paths, name)


def _interrupted(paths: Paths, name: str) -> bool:
    """An install or a switch a crash interrupted left its marker (switch.reconcile's)."""
    return dl.switching_marker(paths, name).exists() or dl.installing_marker(paths, name).exists()


def start(paths: Paths, name: str) -> None:
    unit = _require(paths, name)
    if _interrupted(paths, name) or _may_have_leftover(paths, name):
        from .activation import Host
        from .switch import reconcile

        host = Host.for_paths(paths)
        with host_lock(paths):
            reconcile(host, name, lambda msg: None)   # a switch a crash interrupted
            # a container its stopped unit left behind would make runc refuse to start
            leftover.clear(host, name, dl.current(paths, name))
    Systemd(paths.user_mode).start(unit)


def stop(paths: Paths, name: str) -> None:
    """Stop the unit; then no runtime container of NAME is left (leftover.py)."""
    unit = _require(paths, name)
    Systemd(paths.user_mode).stop(unit)
    clear_leftover(paths, name)


def clear_leftover(paths: Paths, name: str) -> None:
    """After a stop: remove a runtime container the unit left behind (leftover.py)."""
    if _may_have_leftover(paths, name):
        from .activation import Host

        with host_lock(paths):
            leftover.clear(Host.for_paths(paths), name, dl.current(paths, name))


def _may_have_leftover(paths: Paths, name: str) -> bool:
    from ..service.runtime import may_have_container

    runtime = leftover.runtime_path(paths, dl.current(paths, name))
    return runtime is not None and may_have_container(runtime, name, paths.user_mode)


def logs_command(paths: Paths, name: str) -> list[str]:
    _require(paths, name)
    return Systemd(paths.user_mode).journal_args(name)
