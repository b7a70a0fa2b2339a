"""Progress of the long steps on a terminal (docs/operations.md, "The command line"): one
line on stderr, rewritten in place and cleared when the step ends. Off unless the CLI turned
it on (both stdout and stderr are a terminal, no -q, no --json): scripts and the journal never
see it. The CLI says so through the environment, as for --log-level, so that every layer can
report without being handed a callback."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Iterator

ENV = "SYSCONTAINERS_PROGRESS"
_last = {"width": 0, "at": 0.0}


def enabled() -> bool:
    return os.environ.get(ENV) == "1"


def show(text: str, *, force: bool = False) -> None:
    """Rewrite the progress line (at most ten times a second unless ``force``)."""
    if not enabled():
        return
    now = time.monotonic()
    if not force and now - _last["at"] < 0.1:
        return
    _last["at"] = now
    line = text[:200]
    sys.stderr.write("\r" + line.ljust(_last["width"]))
    sys.stderr.flush()
    _last["width"] = len(line)


def clear() -> None:
    if enabled() and _last["width"]:
        sys.stderr.write("\r" + " " * _last["width"] + "\r")
        sys.stderr.flush()
        _last["width"] = 0


@contextlib.contextmanager
def step(what: str) -> Iterator[None]:
    """``what...`` while the enclosed work runs, then ``what: done (N.N s)`` cleared."""
    start = time.monotonic()
    show(f"{what}...", force=True)
    try:
        yield
    finally:
        show(f"{what}: {time.monotonic() - start:.1f} s", force=True)
        clear()
