"""Small durable-file helpers for unit/tmpfiles files on the host."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Write ``text`` to ``path`` via a temporary file + rename: a reader (systemd) never sees
    half a unit file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except OSError as e:
        # the operator is told about the file we meant to write, not our temporary name
        # (read-only /etc, disk full: docs/operations.md, "Errors and broken state")
        unlink_quiet_any(tmp)
        raise OSError(e.errno, e.strerror, str(path)) from None


def read_or_none(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, NotADirectoryError):
        return None


def remove_if_same(path: Path, expected: str | None) -> bool:
    """Remove ``path`` if its content is ``expected`` (ours); leave an operator's file alone."""
    current = read_or_none(path)
    if current is None or (expected is not None and current != expected):
        return False
    os.unlink(path)
    return True


def unlink_quiet_any(path: Path) -> None:
    """Remove ``path`` if possible; any failure is ignored (clean-up after another error)."""
    try:
        os.unlink(path)
    except OSError:
        pass


def unlink_quiet(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
