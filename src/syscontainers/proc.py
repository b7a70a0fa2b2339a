"""The one way this project runs other programs.

Commands are argument lists, never shell strings. A failure becomes a CommandError whose
message is the tool's own last meaningful line of stderr, so the operator sees why.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence, TypeVar

from .errors import CommandError

T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str             # bytes when run(binary=True)
    stderr: str


def _show_command(args: Sequence[str]) -> None:
    """--log-level debug: every command run is printed (never a secret: those go through
    files or stdin)."""
    if os.environ.get("SYSCONTAINERS_LOG_LEVEL") == "debug":
        print(f"+ {shlex.join(str(a) for a in args)}", file=sys.stderr, flush=True)


def last_line(text: str) -> str:
    """The last non-empty line of a tool's output (tools put the reason last)."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def run(
    args: Sequence[str],
    *,
    check: bool = True,
    input: str | bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    timeout: float | None = None,
    what: str | None = None,
    show_stdout: bool = False,
    binary: bool = False,
) -> Result:
    """Run ``args``; capture stdout/stderr as text.

    ``what`` names the action for the error message ("pulling X"); by default the program name.
    ``show_stdout`` lets the program write to our stdout (progress bars on a terminal); then
    ``Result.stdout`` is empty. stderr is always captured, for the error message.
    ``binary`` returns stdout as the exact bytes written (for digests); stderr is still text.
    """
    _show_command(args)
    if binary:
        stdin_data = input.encode() if isinstance(input, str) else input
    else:
        stdin_data = input.decode() if isinstance(input, bytes) else input
    try:
        cp = subprocess.run(
            list(args), input=stdin_data, text=not binary,
            stdout=None if show_stdout else subprocess.PIPE, stderr=subprocess.PIPE,
            env=dict(env) if env is not None else None, cwd=cwd, timeout=timeout,
        )
    except FileNotFoundError:
        raise CommandError(f"{args[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise CommandError(f"{what or args[0]}: timed out after {timeout} s") from None
    stderr = cp.stderr.decode("utf-8", "replace") if binary else cp.stderr
    stdout = cp.stdout if cp.stdout is not None else (b"" if binary else "")
    res = Result(cp.returncode, stdout, stderr)
    if check and cp.returncode != 0:
        out = stdout.decode("utf-8", "replace") if binary else stdout
        reason = last_line(stderr) or last_line(out) or f"exit status {cp.returncode}"
        raise CommandError(f"{what or args[0]}: {reason}")
    return res


def spawn_output(args: Sequence[str]) -> subprocess.Popen:
    """Start ``args`` with its stdout captured as text (stderr dropped) and return at once,
    for a caller that does other work meanwhile; ``.communicate()`` collects it. A missing
    program is a CommandError, as in :func:`run`."""
    _show_command(args)
    try:
        return subprocess.Popen(list(args), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True)
    except FileNotFoundError:
        raise CommandError(f"{args[0]} is not installed") from None


def side_by_side(first: Callable[[], T], second: Callable[[], U]) -> tuple[T, U]:
    """``first()`` and ``second()`` at once (``second`` in a thread): for two independent
    questions to other programs, so a verb waits for one process instead of two. The first
    exception (``first``'s before ``second``'s) is raised after both have ended."""
    import threading

    out: dict[str, object] = {}

    def run_second() -> None:
        try:
            out["value"] = second()
        except BaseException as e:   # re-raised in the caller's thread below
            out["error"] = e

    thread = threading.Thread(target=run_second, daemon=True)
    thread.start()
    try:
        a = first()
    finally:
        thread.join()
    if "error" in out:
        raise out["error"]
    return a, out["value"]


class Started:
    """A program started by :func:`start`, running while the caller does other work."""

    def __init__(self, popen: subprocess.Popen, stderr):
        self._popen = popen
        self._stderr = stderr

    def running(self) -> bool:
        return self._popen.poll() is None

    def finish(self) -> Result:
        """Wait for it to end; its exit status and stderr (check it like :func:`run`'s)."""
        code = self._popen.wait()
        self._stderr.seek(0)
        text = self._stderr.read().decode("utf-8", "replace")
        self._stderr.close()
        return Result(code, "", text)

    def stop(self) -> None:
        """End it (SIGTERM, then SIGKILL after 5 s) and wait: nothing of it keeps running."""
        if self._popen.poll() is None:
            self._popen.terminate()
            try:
                self._popen.wait(5)
            except subprocess.TimeoutExpired:
                self._popen.kill()
                self._popen.wait()
        self._stderr.close()


def start(args: Sequence[str], *, show_stdout: bool = False) -> Started:
    """Start ``args`` and return at once (its stdout dropped, or shown with ``show_stdout``);
    stderr goes to an unlinked temporary file, so a chatty program never blocks on a full
    pipe while nobody reads it. It dies with this process (even by SIGKILL). A missing
    program is a CommandError, as in :func:`run`."""
    _show_command(args)
    import tempfile        # here: the quick verbs import this module (docs/performance.md)
    stderr = tempfile.TemporaryFile()
    try:
        popen = subprocess.Popen(list(args), stdin=subprocess.DEVNULL, stderr=stderr,
                                 stdout=None if show_stdout else subprocess.DEVNULL,
                                 preexec_fn=_die_with_parent())
    except FileNotFoundError:
        stderr.close()
        raise CommandError(f"{args[0]} is not installed") from None
    return Started(popen, stderr)


def _die_with_parent():
    """For the child: SIGKILL it when we die (PR_SET_PDEATHSIG), so a pull killed with -9
    leaves no skopeo writing on into the blob cache the next pull empties. libc is looked up
    here, in the parent: after fork() the child only makes the one call."""
    import ctypes
    prctl = ctypes.CDLL(None).prctl
    return lambda: prctl(1, 9)              # PR_SET_PDEATHSIG, SIGKILL
