"""One lock per host state directory, taken by every verb that writes (DESIGN: flock).

flock is released by the kernel when the process dies, so a crash never leaves a stale lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from typing import Iterator

from .errors import LockBusy
from .paths import Paths


@contextlib.contextmanager
def host_lock(paths: Paths, timeout: float = 300.0) -> Iterator[None]:
    paths.ensure()
    fd = os.open(paths.lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        _acquire(fd, paths, timeout)
        yield
    finally:
        os.close(fd)


def _acquire(fd: int, paths: Paths, timeout: float) -> None:
    """flock ``fd``, polling until ``timeout`` (a plain function, not inside the context
    manager, so that `make mutation` can mutate it: docs/testing.md)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise LockBusy(f"another syscontainers command holds {paths.lock_file}; try again later") from None
            time.sleep(0.1)
