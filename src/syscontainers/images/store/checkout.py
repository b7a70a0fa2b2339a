"""Check out an image's merged tree into a deployment's rootfs (hard links, one syncfs).

The store builds ONE merged commit per image (layers applied in the repository), so a checkout
is a single pass of link(2) into an empty directory: no union of layer after layer, which with
libostree 2022.7 lets a lower layer's symlink redirect a higher layer's files onto the host.
deploy/ and lifecycle/ reach this through ``Store.checkout(image, dest)``; libostree itself is
called by repo.py.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

_libc = ctypes.CDLL(None, use_errno=True)


def syncfs(path: Path) -> None:
    """One syncfs for the whole filesystem beats an fsync per file (Python 3.11 has no
    os.syncfs)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _libc.syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), str(path))
    finally:
        os.close(fd)


def checkout_commit(repo, commit: str, dest: Path, user_mode: bool, copy: bool = False) -> None:
    """Check ``commit`` out of ``repo`` (a Repo) at ``dest`` (which must not exist) with hard
    links only (or, with ``copy``, as plain copies for trees the operator may edit), then make
    it durable.

    System mode keeps owners and modes (bare repo); user mode uses ostree's user checkout,
    which drops setuid/setgid bits and ownership.
    """
    repo.checkout(commit, dest, user_mode, copy=copy)
    syncfs(dest)
