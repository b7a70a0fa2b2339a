"""The OCI runtime (runc, or crun): what it supports and its command lines (SPEC 3)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from functools import lru_cache

from ..errors import RuntimeMissing
from ..proc import run

DEFAULT_RUNTIME = "/usr/sbin/runc"


@dataclass(frozen=True)
class Runtime:
    path: str
    supports_pid_file: bool
    supports_systemd_cgroup: bool


def find_runtime(requested: str | None) -> str:
    """Absolute path of the runtime; RuntimeMissing when it is not installed."""
    name = requested or DEFAULT_RUNTIME
    path = name if os.path.isabs(name) else shutil.which(name)
    if not path or not os.access(path, os.X_OK):
        raise RuntimeMissing(f"the runtime {name} is not installed")
    return path


@lru_cache(maxsize=8)
def probe_runtime(path: str) -> Runtime:
    """Ask the runtime which flags it offers (two --help calls, cached per process)."""
    top = run([path, "--help"], check=False).stdout
    runhelp = run([path, "run", "--help"], check=False).stdout
    return Runtime(path, "--pid-file" in runhelp, "--systemd-cgroup" in top)


@dataclass(frozen=True)
class ExecCommands:
    start: str
    stop: str
    startpre: str
    stoppost: str

    def as_values(self) -> dict[str, str]:
        return {"EXEC_START": self.start, "EXEC_STOP": self.stop,
                "EXEC_STARTPRE": self.startpre, "EXEC_STOPPOST": self.stoppost}


def exec_commands(runtime: Runtime, name: str, pidfile: str, user_mode: bool,
                  service_template: str | None) -> ExecCommands:
    """Start/stop command lines (SPEC 3).

    Detached mode (runc run -d --pid-file, delete on stop-post) only when the unit template
    uses both $EXEC_STOPPOST and $PIDFILE, since systemd then tracks the container by PID;
    otherwise runc runs in the foreground as the service's main process.
    """
    cgroup = " --systemd-cgroup" if (not user_mode and runtime.supports_systemd_cgroup) else ""
    quoted = f"'{name}'"  # names are validated: no quotes inside
    template = service_template or ""
    uses = lambda var: f"${var}" in template or f"${{{var}}}" in template  # noqa: E731
    if runtime.supports_pid_file and uses("EXEC_STOPPOST") and uses("PIDFILE"):
        return ExecCommands(
            start=f"{runtime.path}{cgroup} run -d --pid-file {pidfile} {quoted}",
            stop="",
            startpre="",
            stoppost=f"{runtime.path} delete {quoted}",
        )
    return ExecCommands(
        start=f"{runtime.path}{cgroup} run {quoted}",
        stop=f"{runtime.path}{cgroup} kill {quoted}",
        startpre="",
        stoppost="",
    )
