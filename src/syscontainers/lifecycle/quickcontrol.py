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

``status`` keeps the full path (its line needs the whole row), but its ``systemctl status``
process is started here, before the modules of that path load (:func:`early_status_text`).

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
    obj, end = make_scanner(_ScanContext)(text, 0)
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


def start(name: str, *, checkout_flag: str | None, user_flag: bool) -> bool:
    """``systemctl start NAME.service`` when that is all control.start would do; False
    (nothing done) otherwise."""
    plain = _plain(name, checkout_flag, user_flag)
    if plain is None:
        return False
    checkouts, deployment = plain
    # an install or switch a crash interrupted (control._interrupted): reconcile first
    if any(os.path.exists(os.path.join(checkouts, f".{name}.{what}"))
           for what in ("switching", "installing")):
        return False
    state = _state_dir(deployment, name)
    if state is None or os.path.lexists(state):
        return False
    systemctl("start", f"{name}.service")
    return True


def stop(name: str, *, checkout_flag: str | None, repo_flag: str | None,
         user_flag: bool) -> bool:
    """control.stop: ``systemctl stop NAME.service``, then no runtime container of NAME
    left (when runc's state says there may be one, the full path's leftover.clear decides).
    False (nothing done) when it is not the plain case."""
    plain = _plain(name, checkout_flag, user_flag)
    if plain is None:
        return False
    deployment = plain[1]
    systemctl("stop", f"{name}.service")
    state = _state_dir(deployment, name)
    if state is None or os.path.lexists(state):
        from ..paths import resolve_paths
        from .control import clear_leftover

        clear_leftover(resolve_paths(False, checkout_flag=checkout_flag, repo_flag=repo_flag),
                       name)
    return True


class EarlyStatusText:
    """``systemctl [--user] status --no-pager --full UNIT`` started before the modules of
    `status` are imported, so that it reads the journal (the slow part of a status) while
    they load; ``communicate()`` as Popen's (its text; stderr dropped), ``discard()`` when
    the answer is not wanted after all (NAME not installed, a usage error)."""

    def __init__(self, unit: str, user_mode: bool):
        import _signal

        scope = ["--user"] if user_mode else []
        self._fd, out_w = os.pipe()
        try:
            with open(os.devnull, "wb") as null:
                self._pid = os.posix_spawnp(
                    "systemctl", ["systemctl", *scope, "status", "--no-pager", "--full", unit],
                    os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, out_w, 1),
                                              (os.POSIX_SPAWN_DUP2, null.fileno(), 2)],
                    setsigdef=(_signal.SIGPIPE, _signal.SIGXFSZ))
        except OSError:
            os.close(self._fd)
            raise
        finally:
            os.close(out_w)

    def communicate(self) -> tuple[str, None]:
        chunks = []
        while data := os.read(self._fd, 65536):
            chunks.append(data)
        os.close(self._fd)
        os.waitpid(self._pid, 0)
        self._pid = None
        return b"".join(chunks).decode("utf-8", "replace"), None

    def discard(self) -> None:
        if self._pid is not None:
            os.close(self._fd)       # it may be writing: the closed pipe ends it
            os.waitpid(self._pid, 0)
            self._pid = None


def early_status_text(name: str, *, system_flag: bool, user_flag: bool) -> EarlyStatusText | None:
    """The status text process of a plain ``status NAME``, started now (None when the line
    is not plain: the full path starts its own, and says what is wrong)."""
    root = os.geteuid() == 0
    if not plain_name(name) or (system_flag and not root):
        return None
    try:
        return EarlyStatusText(f"{name}.service", user_flag or not root)
    except OSError:
        return None            # no systemctl: the full path says so


def systemctl(verb: str, unit: str) -> None:
    """``systemctl VERB UNIT`` with its output captured (nothing of it shown on success);
    a failure is ServiceError ``systemctl VERB UNIT: <its last line>`` as from
    ``Systemd.systemctl``. posix_spawn instead of subprocess (its import costs more than the
    spawn); not an exec: a failure must still be our one line (docs/operations.md)."""
    import _signal     # the C module: ``signal`` imports enum

    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        pid = os.posix_spawnp("systemctl", ["systemctl", verb, unit], os.environ,
                              file_actions=[(os.POSIX_SPAWN_DUP2, out_w, 1),
                                            (os.POSIX_SPAWN_DUP2, err_w, 2)],
                              # as subprocess does: the child gets the default SIGPIPE
                              setsigdef=(_signal.SIGPIPE, _signal.SIGXFSZ))
    except FileNotFoundError:
        for fd in (out_r, err_r):
            os.close(fd)
        raise ServiceError("systemctl is not installed") from None
    finally:
        os.close(out_w)
        os.close(err_w)
    out, err = _read_both(out_r, err_r)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if code != 0:
        reason = _last_line(err) or _last_line(out) or f"exit status {code}"
        raise ServiceError(f"systemctl {verb} {unit}: {reason}")


def _read_both(out_fd: int, err_fd: int) -> tuple[str, str]:
    """Both pipes to their end (read in turn as data comes, so neither can fill and block)."""
    import select

    chunks: dict[int, list[bytes]] = {out_fd: [], err_fd: []}
    open_fds = [out_fd, err_fd]
    while open_fds:
        for fd in select.select(open_fds, [], [])[0]:
            data = os.read(fd, 65536)
            if data:
                chunks[fd].append(data)
            else:
                open_fds.remove(fd)
                os.close(fd)
    return tuple(b"".join(chunks[fd]).decode("utf-8", "replace") for fd in (out_fd, err_fd))


def _last_line(text: str) -> str:
    """proc.last_line (that module imports subprocess)."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""
