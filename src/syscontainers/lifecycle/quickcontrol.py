"""start and stop in the plain case, with only ``os`` and C modules imported (docs/performance.md
"start, stop, status").

The modules of the full path (control.py: dataclasses, pathlib, re, subprocess through paths,
deployment and systemd) cost several times what the work costs. The plain case is root, system
mode, no config file, a container this tool installed (its link names ``NAME.0``/``NAME.1``)
whose runtime is runc or crun with no state left, and for start no interrupted install or
switch: then a start or a stop is a readlink, a few stats, the info file and one systemctl.
Anything else — or anything this module is not sure about — makes it return False before it
has done anything, and the caller takes the full path (control.py), which handles every case
and words every error. The one error of its own is systemctl's failure, worded as
``Systemd.systemctl`` words it.

``status``: its ``systemctl status`` process is started here, before the modules of the status
line load (:func:`early_status_text`); the line is the full path's (cli/containers.py).

The command's front (src/front/front.c) starts these systemctl processes before Python itself
loads, after the same checks; :func:`adopt` takes them over.

Plain arguments instead of a request dataclass: importing ``dataclasses`` alone costs more than
a start does (the point of this module).
"""

from __future__ import annotations

import os

from ..errors import ServiceError

# Copies of values whose modules are too heavy to import here; tests/unit/test_quick_paths.py
# pins each to its original.
SYSTEM_CHECKOUTS = "/var/lib/containers/atomic"                # paths.SYSTEM_CHECKOUTS
SYSTEM_CONFIG_FILE = "/etc/containers/syscontainers.toml"      # paths.SYSTEM_CONFIG_FILE
DEFAULT_RUNTIME = "/usr/sbin/runc"                             # service.runtime.DEFAULT_RUNTIME
STATE_ROOTS = {"runc": "/run/runc", "crun": "/run/crun"}       # service.runtime._STATE_ROOTS
NAME_MAX = 200                                                 # deploy.deployment.NAME_MAX
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.@-")


def plain_name(name: str) -> bool:
    """True when deployment.validate_name accepts NAME (a subset is enough: False sends the
    line to the full path, which says what is wrong)."""
    return 0 < len(name) <= NAME_MAX and set(name) <= _NAME_CHARS and \
        name[0] not in ".-@" and ".." not in name


def _checkouts(checkout_flag: str | None, user_flag: bool) -> str | None:
    """The checkouts directory of the plain case; None: not the plain case (user mode, not
    root, or a config file, which may move the checkouts or name another runtime)."""
    if user_flag or os.geteuid() != 0:
        return None
    try:
        os.stat(os.environ.get("SYSCONTAINERS_CONFIG") or SYSTEM_CONFIG_FILE)
        return None
    except FileNotFoundError:
        pass
    except OSError:
        return None
    return checkout_flag or os.environ.get("ATOMIC_OSTREE_CHECKOUT_PATH") or SYSTEM_CHECKOUTS


def _deployment(checkouts: str, name: str) -> str | None:
    """The deployment dir the NAME link points at (deployment.current), None without one."""
    try:
        target = os.readlink(os.path.join(checkouts, name))
    except OSError:
        return None
    base, dot, index = os.path.basename(target.rstrip("/")).rpartition(".")
    if base != name or index not in ("0", "1"):
        return None
    return os.path.join(checkouts, f"{name}.{index}")


def _state_dir(deployment: str, name: str) -> str | None:
    """Where runc/crun keeps the state of container NAME (a stat tells whether one is left);
    None when the info file does not name a plain runc or crun (leftover.runtime_path and
    runtime.may_have_container then decide, on the full path)."""
    try:
        with open(os.path.join(deployment, "info"), "rb") as f:
            runtime = json_object(f.read()).get("runtime")
    except (OSError, ValueError, AttributeError, RecursionError, StopIteration):
        return None
    runtime = runtime or DEFAULT_RUNTIME
    if not isinstance(runtime, str) or not os.path.isabs(runtime) or \
            not os.access(runtime, os.X_OK):
        return None
    root = STATE_ROOTS.get(os.path.basename(runtime))
    return None if root is None else os.path.join(root, name)


class _ScanContext:
    """What the C scanner reads of a JSONDecoder: the settings of ``json.loads(text)``."""
    strict = True
    object_hook = object_pairs_hook = None
    parse_float, parse_int, parse_constant = float, int, float   # float("NaN"), ("-Infinity")


def json_object(data: bytes):
    """``json.loads(data)`` through the C scanner of the standard library's json when it is
    there: json's Python half imports re (and enum), which cost more than the rest of a plain
    start (docs/performance.md). Invalid JSON: ValueError or StopIteration."""
    text = data.decode("utf-8")
    try:
        from _json import make_scanner
    except ImportError:          # a Python without the C accelerator
        import json

        return json.loads(text)
    start = len(text) - len(text.lstrip(" \t\n\r"))      # json.loads skips it too
    obj, end = make_scanner(_ScanContext)(text, start)
    if text[end:].strip(" \t\n\r"):
        raise ValueError("extra data after the JSON value")
    return obj


def _plain(name: str, checkout_flag: str | None, user_flag: bool) -> tuple[str, str] | None:
    """The checkouts dir and NAME's deployment in the plain case; None: not the plain case."""
    checkouts = _checkouts(checkout_flag, user_flag)
    if checkouts is None or not plain_name(name):
        return None
    deployment = _deployment(checkouts, name)
    return None if deployment is None else (checkouts, deployment)


def start_is_plain(name: str, checkout_flag: str | None, user_flag: bool) -> bool:
    """Whether ``systemctl start NAME.service`` is all control.start would do."""
    plain = _plain(name, checkout_flag, user_flag)
    if plain is None:
        return False
    checkouts, deployment = plain
    # an install or switch a crash interrupted (control._interrupted): reconcile first
    if any(os.path.exists(os.path.join(checkouts, f".{name}.{what}"))
           for what in ("switching", "installing")):
        return False
    state = _state_dir(deployment, name)
    return state is not None and not os.path.lexists(state)


def start(name: str, *, checkout_flag: str | None, user_flag: bool,
          started: EarlyProcess | None = None) -> bool:
    """``systemctl start NAME.service`` in the plain case (:func:`start_is_plain`); False
    (nothing done) otherwise. ``started``: that process, started by the command's front
    after the same checks (src/front/front.c)."""
    unit = f"{name}.service"
    if started is not None:
        finish(started, "start", unit)
    elif start_is_plain(name, checkout_flag, user_flag):
        systemctl("start", unit)
    else:
        return False
    return True


def stop(name: str, *, checkout_flag: str | None, repo_flag: str | None,
         user_flag: bool, started: EarlyProcess | None = None) -> bool:
    """control.stop: ``systemctl stop NAME.service``, then no runtime container of NAME
    left (when runc's state says there may be one, the full path's leftover.clear decides).
    False when it is not the plain case (nothing done, or only the front's stop: the full
    path's stop after it is harmless). ``started``: the front's `systemctl stop`."""
    unit = f"{name}.service"
    if started is not None:
        finish(started, "stop", unit)
    plain = _plain(name, checkout_flag, user_flag)
    if plain is None:
        return False
    deployment = plain[1]
    if started is None:
        systemctl("stop", unit)
    state = _state_dir(deployment, name)
    if state is None or os.path.lexists(state):
        from ..paths import resolve_paths
        from .control import clear_leftover

        clear_leftover(resolve_paths(False, checkout_flag=checkout_flag, repo_flag=repo_flag),
                       name)
    return True


class EarlyProcess:
    """A process started before the modules of its command line load — here, or by the
    command's front (src/front/front.c) and adopted (:func:`adopt`) — with its output
    pipes. ``communicate()`` as Popen's (its texts; stderr None when it was not captured),
    ``discard()`` when its answer is not wanted after all (the process is waited for)."""

    def __init__(self, pid: int, out_fd: int, err_fd: int | None = None):
        self.pid, self._out, self._err = pid, out_fd, err_fd
        self.returncode: int | None = None

    @classmethod
    def spawn(cls, argv: list[str], capture_stderr: bool = True) -> "EarlyProcess":
        """posix_spawn instead of subprocess: its import costs more than the spawn."""
        import _signal     # the C module: ``signal`` imports enum

        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe() if capture_stderr else (None, os.open(os.devnull, os.O_WRONLY))
        try:
            pid = os.posix_spawnp(argv[0], argv, os.environ,
                                  file_actions=[(os.POSIX_SPAWN_DUP2, out_w, 1),
                                                (os.POSIX_SPAWN_DUP2, err_w, 2)],
                                  # as subprocess does: the child gets the default SIGPIPE
                                  setsigdef=(_signal.SIGPIPE, _signal.SIGXFSZ))
        except OSError:
            for fd in (out_r, err_r):
                if fd is not None:
                    os.close(fd)
            raise
        finally:
            os.close(out_w)
            os.close(err_w)
        return cls(pid, out_r, err_r)

    def communicate(self) -> tuple[str, str | None]:
        fds = [self._out] if self._err is None else [self._out, self._err]
        texts = _read_all(fds)
        self._wait()
        return texts[0], (texts[1] if self._err is not None else None)

    def discard(self) -> None:
        if self.returncode is None:
            for fd in (self._out, self._err):
                if fd is not None:
                    os.close(fd)     # it may be writing: the closed pipe ends it
            self._wait()

    def _wait(self) -> None:
        self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])


def adopt(early: str, verb: str, name: str) -> list[EarlyProcess] | None:
    """The processes the command's front started for this line, from SYSCONTAINERS_EARLY
    (``VERB NAME PID:OUT[:ERR]...``, src/front/front.c); None when there are none for it.
    Processes started for another line are waited for, and anything that is not a child
    of ours with open pipes is ignored (the variable can only come from the front, which
    clears it first; this keeps a stray one harmless)."""
    words = early.split(" ")
    found = [started for started in map(_child, words[2:]) if started is not None]
    if words[:2] != [verb, name] or not found or len(found) < len(words) - 2:
        for started in found:
            started.discard()
        return None
    return found


def _child(word: str) -> EarlyProcess | None:
    """``PID:OUT[:ERR]`` of SYSCONTAINERS_EARLY when PID is a child of ours and the fds are
    pipes; None otherwise."""
    try:
        pid, *fds = (int(n) for n in word.split(":"))
        if not 1 <= len(fds) <= 2 or not all(_is_pipe(fd) for fd in fds):
            return None
        # ChildProcessError (an OSError) when it is not a child of ours; WNOWAIT: the exit
        # status, if it has one yet, stays for communicate()
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except (ValueError, OSError):
        return None
    return EarlyProcess(pid, *fds)


def _is_pipe(fd: int) -> bool:
    import _stat

    try:
        return _stat.S_ISFIFO(os.fstat(fd).st_mode)
    except OSError:
        return False


def early_status_text(name: str, *, system_flag: bool, user_flag: bool) -> EarlyProcess | None:
    """The ``systemctl [--user] status --no-pager --full NAME.service`` process of a plain
    ``status NAME``, started now, so that it reads the journal (the slow part of a status)
    while the modules of the status line load (None when the line is not plain: the full
    path starts its own, and says what is wrong)."""
    root = os.geteuid() == 0
    if not plain_name(name) or (system_flag and not root):
        return None
    scope = ["--user"] if user_flag or not root else []
    try:
        return EarlyProcess.spawn(["systemctl", *scope, "status", "--no-pager", "--full",
                              f"{name}.service"], capture_stderr=False)
    except OSError:
        return None            # no systemctl: the full path says so


def systemctl(verb: str, unit: str) -> None:
    """``systemctl VERB UNIT``, as :func:`finish` says."""
    try:
        started = EarlyProcess.spawn(["systemctl", verb, unit])
    except FileNotFoundError:
        raise ServiceError("systemctl is not installed") from None
    finish(started, verb, unit)


def finish(started: EarlyProcess, verb: str, unit: str) -> None:
    """Wait for ``systemctl VERB UNIT`` (its output captured; nothing of it shown on
    success); a failure is ServiceError ``systemctl VERB UNIT: <its last line>`` as from
    ``Systemd.systemctl``. Not an exec of systemctl: a failure must still be our one line
    (docs/operations.md)."""
    out, err = started.communicate()
    if started.returncode != 0:
        reason = _last_line(err or "") or _last_line(out) or f"exit status {started.returncode}"
        raise ServiceError(f"systemctl {verb} {unit}: {reason}")


def _read_all(fds: list[int]) -> list[str]:
    """Each pipe to its end (read in turn as data comes, so none can fill and block)."""
    import select

    chunks: dict[int, list[bytes]] = {fd: [] for fd in fds}
    open_fds = list(fds)
    while open_fds:
        ready = open_fds if len(open_fds) == 1 else select.select(open_fds, [], [])[0]
        for fd in ready:
            data = os.read(fd, 65536)
            if data:
                chunks[fd].append(data)
            else:
                open_fds.remove(fd)
                os.close(fd)
    return [b"".join(chunks[fd]).decode("utf-8", "replace") for fd in fds]


def _last_line(text: str) -> str:
    """proc.last_line (that module imports subprocess)."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""
