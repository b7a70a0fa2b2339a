"""The OCI runtime (runc, or crun): what it supports and its command lines (docs/templates.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from ..errors import RuntimeMissing, ServiceError
from ..proc import last_line, run, spawn_output

DEFAULT_RUNTIME = "/usr/sbin/runc"


@dataclass(frozen=True)
class Runtime:
    path: str
    supports_pid_file: bool
    supports_systemd_cgroup: bool


def find_runtime(requested: str | None) -> str:
    """Absolute path of the runtime; RuntimeMissing when it is not installed."""
    name = requested or DEFAULT_RUNTIME
    if os.path.isabs(name):
        path = name
    else:
        import shutil

        path = shutil.which(name)
    if not path or not os.access(path, os.X_OK):
        raise RuntimeMissing(f"the runtime {name} is not installed")
    return path


@lru_cache(maxsize=8)
def probe_runtime(path: str) -> Runtime:
    """Ask the runtime which flags it offers (two --help calls side by side: install and
    update wait for them; cached per process)."""
    run_help = spawn_output([path, "run", "--help"])
    try:
        top = run([path, "--help"], check=False).stdout
    finally:
        runhelp, _ = run_help.communicate()
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
    """Start/stop command lines (docs/templates.md).

    Detached mode (runc run -d --pid-file, delete on stop-post) when the unit template
    uses both $EXEC_STOPPOST and $PIDFILE, since systemd then tracks the container by PID, and
    for a foreground template the tool detaches (:func:`detachable_foreground`; its unit gets
    the lines that make systemd track the PID). Otherwise runc runs in the foreground as the
    service's main process.

    No ``--systemd-cgroup``: with it runc puts the container into a ``runc-NAME.scope`` of its
    own, so its output is not the service's in the journal and a stop that kills the service's
    cgroup leaves the container running. The container's cgroup is a child of the service's
    instead (config.json ``linux.cgroupsPath``, see :func:`service_cgroup_path` and
    docs/templates.md "Where the container runs").
    """
    quoted = f"'{name}'"  # names are validated: no quotes inside
    runtime_word, pidfile = exec_quote(runtime.path), exec_quote(pidfile)
    template = service_template or ""
    if runtime.supports_pid_file and _uses(template, "EXEC_STOPPOST") and _uses(template, "PIDFILE"):
        return ExecCommands(
            start=f"{runtime_word} run -d --pid-file {pidfile} {quoted}",
            stop="",
            startpre="",
            stoppost=f"{runtime_word} delete {quoted}",
        )
    if runtime.supports_pid_file and detachable_foreground(template):
        # runc would stay resident as the service's main process only to wait and forward
        # signals; detached, the container's init is the main process (the unit gets
        # Type=forking, PIDFile= and the delete: render.detach_foreground_unit)
        return ExecCommands(
            start=f"{runtime_word} run -d --pid-file {pidfile} {quoted}",
            stop=f"{runtime_word} kill {quoted}",
            startpre="",
            stoppost=f"{runtime_word} delete --force {quoted}",
        )
    return ExecCommands(
        start=f"{runtime_word} run {quoted}",
        stop=f"{runtime_word} kill {quoted}",
        startpre="",
        stoppost="",
    )


def _uses(template: str, var: str) -> bool:
    return f"${var}" in template or f"${{{var}}}" in template


# Service types whose main process is the ExecStart process itself (it is not waited for
# otherwise): the ones a foreground runc can be detached from.
_FOREGROUND_TYPES = ("simple", "exec")


def detachable_foreground(template: str) -> bool:
    """Whether an image's unit template runs the runtime in the foreground in a way the tool
    can turn into a detached run without changing what the unit means (docs/templates.md
    "Foreground templates run detached"): its ``[Service]`` has exactly one ``ExecStart=``,
    which is ``$EXEC_START`` alone, a ``Type=`` of simple or exec (or none), no ``PIDFile=``,
    and the template uses neither ``$EXEC_STOPPOST`` nor ``$PIDFILE`` (those are the
    detached templates'). ``Type=notify`` units are left as they are: runc then relays the
    container's READY=1 and stays the main process."""
    if _uses(template, "EXEC_STOPPOST") or _uses(template, "PIDFILE"):
        return False
    starts, types, pidfiles = [], [], 0
    for key, value in _service_settings(template):
        if key == "ExecStart":
            starts.append(value)
        elif key == "Type":
            types.append(value)
        elif key == "PIDFile":
            pidfiles += 1
    return (starts in (["$EXEC_START"], ["${EXEC_START}"]) and pidfiles == 0
            and all(t in _FOREGROUND_TYPES for t in types))


def _service_settings(unit: str):
    """(key, value) of every setting in the ``[Service]`` section(s) of a unit text."""
    section = ""
    for line in unit.splitlines():
        text = line.strip()
        if text.startswith("[") and text.endswith("]"):
            section = text
        elif section == "[Service]" and "=" in text and not text.startswith(("#", ";")):
            key, _, value = text.partition("=")
            yield key.strip(), value.strip()


def service_cgroup_path(name: str, unit_text: str) -> str:
    """The cgroup (v1 hierarchies and unified alike) a system unit's container goes into: a
    child ``container`` of the service's own cgroup, so systemd counts its processes as the
    service's (journal, stop, kill, resource limits). The slice comes from the unit's
    ``Slice=`` (default system.slice), expanded as systemd does (``a-b.slice`` is
    ``/a.slice/a-b.slice``). An absolute path: runc resolves a relative one against its own
    cgroup in the v1 hierarchies only, not in the unified one systemd tracks processes by."""
    slice_ = "system.slice"
    for line in unit_text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == "Slice" and value.strip().endswith(".slice"):
            slice_ = value.strip()
    parts = slice_[:-len(".slice")].split("-")
    chain = ["-".join(parts[:i + 1]) + ".slice" for i in range(len(parts))] \
        if slice_ != "-.slice" else []
    return "/" + "/".join([*chain, f"{name}.service", "container"])


def remove_container(runtime_path: str, name: str) -> bool:
    """Make sure the runtime has no container NAME (running or a stopped leftover): ``delete
    --force`` kills what still runs and drops its state and cgroups. Only for a container
    whose unit has stopped: a runtime killed by systemd (a stop timeout, a start that never
    got ready) leaves the container's processes or state behind, and the next start would
    fail with "container with given ID already exists" (docs/operations.md "Service state
    across update, rollback, stop and uninstall"). True when there was one."""
    if not _exists(runtime_path, name):
        return False
    res = run([runtime_path, "delete", "--force", name], check=False)
    if _exists(runtime_path, name):
        raise ServiceError(f"the container {name} is still there after `{runtime_path} delete "
                           f"--force {name}`: {last_line(res.stderr) or 'no reason given'}")
    return True


# Where a runtime run by root keeps its containers' state (its default --root; the tool never
# passes another).
_STATE_ROOTS = {"runc": "/run/runc", "crun": "/run/crun"}


def may_have_container(runtime_path: str, name: str, user_mode: bool) -> bool:
    """False only when the runtime surely has no container NAME: runc or crun run by root
    with no state directory for it (one stat instead of a ``state`` process and a systemd
    query: start and stop stay as fast as systemctl, docs/performance.md). User mode and
    other runtimes: True (the caller asks the runtime)."""
    root = _STATE_ROOTS.get(os.path.basename(runtime_path))
    if user_mode or root is None or os.geteuid() != 0:
        return True
    return os.path.lexists(os.path.join(root, name))


def _exists(runtime_path: str, name: str) -> bool:
    return run([runtime_path, "state", name], check=False).returncode == 0


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
