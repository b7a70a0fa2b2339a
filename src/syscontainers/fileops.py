"""Durable file writes and quiet removals: the one place that writes a file by temporary name +
rename, so a reader (systemd, the next verb, atomic) never sees half a file, and a crash leaves
the old content or the new (docs/architecture.md, "Transactions").

Bottom layer: imports nothing of the project, every package may use it.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, text: str, mode: int = 0o644, sync_dir: bool = False) -> None:
    """Write ``text`` to ``path`` via a temporary file (created with ``mode`` from the start, so
    a 0600 file's content is never readable by others, not even for a moment), fsync, rename.
    ``sync_dir``: fsync the directory too, so the rename itself survives a power loss (records
    the next verb relies on, such as a deployment's info file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(fd, mode)          # the umask does not decide
            f.write(text)
            f.flush()
            os.fsync(fd)
        os.rename(tmp, path)
        if sync_dir:
            fsync_dir(path.parent)
    except OSError as e:
        # the operator is told about the file we meant to write, not our temporary name
        # (read-only /etc, disk full: docs/operations.md, "Errors and broken state")
        unlink_quiet_any(tmp)
        raise OSError(e.errno, e.strerror, str(path)) from None


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (also when it existed before);
    for files inside a directory that is renamed into place (and synced) as a whole."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(fd, 0o600)
        f.write(text)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_or_none(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, NotADirectoryError):
        return None


def read_text(path: Path | str) -> str:
    """The UTF-8 text of a small file, as written (no newline translation), by os.read:
    about three times cheaper than ``Path.read_text``'s text-file stack, which counts when
    `list` reads four files per container (docs/performance.md, "Where the time goes").
    Raises what open/read raise, and UnicodeDecodeError."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8")


def text_or_none(path: Path | str) -> str | None:
    """:func:`read_text`, None when the file does not exist."""
    try:
        return read_text(path)
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
