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
    runtime_word, pidfile = exec_quote(runtime.path), exec_quote(pidfile)
    template = service_template or ""
    uses = lambda var: f"${var}" in template or f"${{{var}}}" in template  # noqa: E731
    if runtime.supports_pid_file and uses("EXEC_STOPPOST") and uses("PIDFILE"):
        return ExecCommands(
            start=f"{runtime_word}{cgroup} run -d --pid-file {pidfile} {quoted}",
            stop="",
            startpre="",
            stoppost=f"{runtime_word} delete {quoted}",
        )
    return ExecCommands(
        start=f"{runtime_word}{cgroup} run {quoted}",
        stop=f"{runtime_word}{cgroup} kill {quoted}",
        startpre="",
        stoppost="",
    )


# Characters after which systemd would split, unquote or unescape a word of a command line.
_EXEC_SPECIAL = frozenset(' \t"\'\\;')


def exec_quote(word: str) -> str:
    """One word of a systemd Exec line (systemd.service(5) "Command lines", see
    docs/templates.md "Quoting on Exec lines"): ``%`` becomes ``%%`` (specifiers) and ``$``
    becomes ``$$`` (environment expansion) always; a word with blanks, quotes, backslashes
    or ``;`` is put in double quotes with ``\\`` and ``\\"`` escaped. Plain words are left
    as they are, so the usual lines read as atomic wrote them."""
    word = word.replace("%", "%%").replace("$", "$$")
    if word and not any(c in _EXEC_SPECIAL for c in word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
