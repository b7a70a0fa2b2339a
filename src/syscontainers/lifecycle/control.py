"""start / stop / status of an installed container's service (docs/operations.md, "Service state across
update, rollback, stop and uninstall")."""

from __future__ import annotations

from ..deploy import deployment as dl
from ..errors import ContainerNotFound
from ..lock import host_lock
from ..paths import Paths
from . import leftover
from .activation import Host
from .query import is_preinstalled
from .switch import reconcile


def _require(paths: Paths, name: str) -> str:
    dl.validate_name(name)
    if dl.current(paths, name) is None and not is_preinstalled(paths, name):
        raise ContainerNotFound(f"container {name} is not installed")
    return f"{name}.service"


def start(paths: Paths, name: str) -> None:
    unit = _require(paths, name)
    host = Host.for_paths(paths)
    with host_lock(paths):
        reconcile(host, name, lambda msg: None)   # a switch a crash interrupted
        # a container its stopped unit left behind would make runc refuse to start
        leftover.clear(host, name, dl.current(paths, name))
    host.systemd.start(unit)


def stop(paths: Paths, name: str) -> None:
    """Stop the unit; then no runtime container of NAME is left (leftover.py)."""
    unit = _require(paths, name)
    host = Host.for_paths(paths)
    host.systemd.stop(unit)
    with host_lock(paths):
        leftover.clear(host, name, dl.current(paths, name))


def status_text(paths: Paths, name: str) -> str:
    return Host.for_paths(paths).systemd.status_text(_require(paths, name))


def logs_command(paths: Paths, name: str) -> list[str]:
    _require(paths, name)
    return Host.for_paths(paths).systemd.journal_args(name)
