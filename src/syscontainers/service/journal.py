"""Structured entries for the systemd journal, over journald's native protocol
(docs/operations.md, "History": the MESSAGE_ID and the fields).

One datagram to journald's socket holds the fields, each ``KEY=value\\n``, or, for a value with
a newline, ``KEY\\n`` + its length (64-bit little endian) + the value + ``\\n``. An entry too big
for one datagram goes into a sealed memfd whose descriptor is passed instead (journald reads
it). No library is needed for that, so none is added. journald attributes the entry to the
sender's UID: in user mode it lands in the user's journal through the same socket.

A host without journald (a build container, a machine booted without systemd) has no socket:
:func:`send` then returns False and the caller carries on.
"""

from __future__ import annotations

import array
import errno
import fcntl
import os
import re
import socket
import struct
from pathlib import Path
from typing import Mapping

JOURNAL_SOCKET = Path("/run/systemd/journal/socket")
_KEY_RE = re.compile(r"^[A-Z0-9][A-Z0-9_]*$")
_NO_JOURNALD = (errno.ENOENT, errno.ECONNREFUSED, errno.ENOTDIR, errno.EACCES)


def encode(fields: Mapping[str, str]) -> bytes:
    """The native protocol's bytes for ``fields``; a key must be what journald accepts
    (upper-case letters, digits, underscores, not starting with an underscore: those are
    journald's own trusted fields)."""
    out = bytearray()
    for key, value in fields.items():
        if not _KEY_RE.match(key) or len(key) > 64:
            raise ValueError(f"invalid journal field name {key!r}")
        data = value.encode("utf-8", "surrogateescape")
        if b"\n" in data:
            out += key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += key.encode() + b"=" + data + b"\n"
    return bytes(out)


def send(fields: Mapping[str, str], socket_path: Path = JOURNAL_SOCKET) -> bool:
    """Write one entry; True when journald took it, False when there is no journald to take
    it (no socket, nobody listening). Other failures raise OSError."""
    data = encode(fields)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.sendto(data, str(socket_path))
        except OSError as e:
            if e.errno in _NO_JOURNALD:
                return False
            if e.errno not in (errno.EMSGSIZE, errno.ENOBUFS):
                raise
            _send_memfd(sock, data, socket_path)
    return True


def _send_memfd(sock: socket.socket, data: bytes, socket_path: Path) -> None:
    """An entry larger than a datagram: journald accepts a sealed memfd holding it."""
    fd = os.memfd_create("syscontainers-journal", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW
                    | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL)
        # socket.send_fds drops its address argument (3.11): sendmsg itself takes it
        sock.sendmsg([b""], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))],
                     0, str(socket_path))
    finally:
        os.close(fd)
