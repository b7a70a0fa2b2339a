"""No runtime container outlives its unit (docs/operations.md "Service state across update,
rollback, stop and uninstall").

systemd stops a unit by signalling its cgroup and, after TimeoutStopSec, killing it. A runtime
that is killed that way (runc ignores SIGTERM until a Type=notify container is ready) leaves
its state behind, and a container outside the unit's cgroup (units rendered before containers
ran in the service's cgroup: runc --systemd-cgroup put them in a runc-NAME.scope) even keeps
running. The next start then fails with "container with given ID already exists". So every
verb that stops a unit, and a start, makes sure no container of that name is left.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..deploy import deployment as dl
from ..errors import ConfigError, RuntimeMissing
from ..paths import Paths
from ..service.runtime import find_runtime

if TYPE_CHECKING:     # activation.py imports this module
    from .activation import Host

# Unit states in which the container, if any, is a leftover (nothing of the unit runs).
_STOPPED = ("inactive", "failed", "no service")


def runtime_path(paths: Paths, dep: dl.Deployment | None) -> str | None:
    """The runtime a deployment's unit runs (its info file's, else the configured one)."""
    recorded = None
    if dep is not None:
        try:
            recorded = dep.read_info().runtime
        except ConfigError:
            pass
    try:
        return find_runtime(recorded or paths.config.runtime)
    except RuntimeMissing:
        return None


def clear(host: "Host", name: str, dep: dl.Deployment | None) -> bool:
    """Remove the runtime container NAME when its unit has stopped (``runc delete --force``);
    a unit still running (or starting) keeps its container. True when one was removed.
    No container state on disk (the usual case): no systemd query, no runtime process."""
    runtime = runtime_path(host.paths, dep)
    if runtime is None or not host.may_have_container(runtime, name, host.user_mode):
        return False
    state = host.systemd.statuses([f"{name}.service"]).get(f"{name}.service")
    if state is not None and state.status not in _STOPPED:
        return False
    return host.remove_container(runtime, name)

