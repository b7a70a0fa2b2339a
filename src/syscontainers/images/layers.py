"""Layer tarballs, hostile until checked (docs/formats.md, "Layer import: what is accepted").

Threat model: a layer blob comes from a registry or a file we do not control. libostree 2022.7
*aborts the process* on some crafted tars (a symlink and then an entry through it, a hard link
to ``../outside``, an entry ``.`` that is a symlink). So libostree never reads a layer as it came:
:func:`sanitize_layer` reads the blob once (hashing the compressed bytes and the tar stream,
decompressing, parsing every header itself), validates every entry against the entries before
it, and hands on only checked entries: normalised relative names, explicit parent directories,
hard links to earlier regular files or symlinks, no device nodes. :func:`scan_layer` gives them
to an :class:`EntrySink` (store/object_import.py writes each as an OSTree object, so libostree's
tar reader never sees a layer); :func:`sanitize_layer` writes them as a *new* canonical tar with
no extension headers but the pax ``path``/``linkpath``/``size``/``uid``/``gid`` it writes itself.
Whatever libostree sees passed these checks first; a bad layer raises :class:`BadImage` with one
line.

Rules (documented in docs/formats.md):
- names: leading ``/`` and ``./`` dropped, empty and ``.`` components collapsed; ``..`` anywhere,
  non-UTF-8 names, components over 255 bytes and paths over 256 levels deep are errors; the
  root entry itself is dropped (every layer root is 0755 root:root).
- no entry may pass through a non-directory defined earlier in the layer (symlink, file, device);
  a path may not change between directory and non-directory within one layer.
- hard links name an earlier regular file or symlink of the same layer.
- whiteouts: ``.wh..wh..opq`` and ``.wh.NAME`` must be regular files; ``.wh.``, ``.wh..``,
  ``.wh...`` and other ``.wh..wh.*`` names are errors.
- device nodes and FIFOs are skipped (OSTree cannot store them; never created: docs/formats.md), each
  reported in :attr:`LayerSummary.skipped`.
- xattrs (pax ``SCHILY.xattr.*``) are not imported; sparse files and GNU multi-volume entries are
  errors.
- user mode (``strip_setid``): setuid/setgid bits are cleared, directories get ``u+rwx`` and
  files ``u+rw`` so the user can always read and remove their checkouts.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import BadImage

BLOCK = 512
READ_CHUNK = 1 << 20          # compressed bytes read at a time
INFLATE_CHUNK = 4 << 20       # decompressed bytes produced at a time (bounds memory on bombs)
MAX_META_ENTRY = 1 << 20      # pax / GNU long-name payloads larger than this are refused
NAME_MAX = 255
MAX_DEPTH = 256               # path components; keeps every recursive walk of a tree bounded
SYMLINK_MAX = 4095

# tar type flags
_REG, _AREG, _CONT = b"0", b"\0", b"7"
_LNK, _SYM, _CHR, _BLK, _DIR, _FIFO = b"1", b"2", b"3", b"4", b"5", b"6"
_PAX, _PAX_GLOBAL, _GNU_LONGNAME, _GNU_LONGLINK = b"x", b"g", b"L", b"K"

WHITEOUT_PREFIX = ".wh."
OPAQUE_WHITEOUT = ".wh..wh..opq"

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_GZIP_MAGIC = b"\x1f\x8b"
_OTHER_MAGICS = {b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz"}


@dataclass
class LayerSummary:
    """What :func:`sanitize_layer` learnt about a layer."""

    digest: str                      # sha256 of the blob as read ("sha256:...")
    diff_id: str                     # sha256 of the uncompressed tar stream
    size: int                        # blob size in bytes
    uncompressed_size: int
    entries: int = 0                 # entries written to the canonical tar
    autocreated: list[str] = field(default_factory=list)   # parent dirs with no entry of their own
    skipped: list[str] = field(default_factory=list)       # device nodes / FIFOs left out


def check_whiteout_name(basename: str) -> None:
    """Raise ValueError for the whiteout spellings that are errors (docs/formats.md, "Layer import: what is accepted")."""
    if not basename.startswith(WHITEOUT_PREFIX) or basename == OPAQUE_WHITEOUT:
        return
    rest = basename[len(WHITEOUT_PREFIX):]
    if rest in ("", ".", "..") or rest.startswith(WHITEOUT_PREFIX):
        raise ValueError(f"invalid whiteout name {basename!r}")


# --- reading the blob ---------------------------------------------------------------------

@dataclass(frozen=True)
class DiskBudget:
    """The room a layer has on the repository's disk (store/layer_import.disk_budget)."""

    free: int       # bytes free for us on the repository's filesystem
    reserve: int    # bytes that stay free whatever happens

    @property
    def limit(self) -> int:
        return max(0, self.free - self.reserve)

    def explain(self) -> str:
        return (f"its disk has {self.free >> 20} MiB free and keeps a reserve of "
                f"{self.reserve >> 20} MiB (free some space or use a larger disk)")


class _BlobReader:
    """Reads a layer blob sequentially: hashes it, inflates it (gzip or none), hashes the tar.

    ``read(n)`` returns exactly n bytes of the tar stream (or raises BadImage: truncated);
    ``pass_through(n, write)`` hands n bytes to ``write`` without building one large object.
    """

    def __init__(self, f, label: str, max_tar_size: int | None = None,
                 budget: DiskBudget | None = None, prefetch: bool = False):
        self._f = f
        self._label = label
        self._max_tar_size = max_tar_size
        self._budget = budget
        self.blob_hash = hashlib.sha256()
        self.tar_hash = hashlib.sha256()
        self.blob_size = 0
        self.tar_size = 0
        self._buf = bytearray()
        self._pos = 0
        self._eof = False
        head = f.read(READ_CHUNK)
        self._take_raw(head)
        self._inflate = self._start(head)
        self._pending = head          # raw bytes not yet inflated
        # reading, hashing and inflating run in a worker thread when ``prefetch`` (zlib and
        # hashlib release the GIL): they overlap the parsing and the object writes
        self._prefetch = _Prefetch(self._next_chunk) if prefetch else None

    def close(self) -> None:
        """Stop the worker thread (if any); the file must stay open until then."""
        if self._prefetch is not None:
            self._prefetch.close()

    def _start(self, head: bytes):
        if head.startswith(_ZSTD_MAGIC):
            raise BadImage(f"layer {self._label} is zstd-compressed; only gzip and "
                           "uncompressed layers are supported")
        for magic, kind in _OTHER_MAGICS.items():
            if head.startswith(magic):
                raise BadImage(f"layer {self._label} is {kind}-compressed; only gzip and "
                               "uncompressed layers are supported")
        if head.startswith(_GZIP_MAGIC):
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        return None

    def _take_raw(self, data: bytes) -> None:
        self.blob_hash.update(data)
        self.blob_size += len(data)

    def _produce(self) -> bool:
        """Append more tar bytes to the buffer; False at the end of the blob."""
        data = self._prefetch.get() if self._prefetch is not None else self._next_chunk()
        if data is None:
            return False
        self._append(data)
        return True

    def _next_chunk(self) -> bytes | None:
        """The next piece of the tar stream, hashed (None at the end of the blob)."""
        while True:
            if self._inflate is None:
                data = self._pending or self._f.read(READ_CHUNK)
                if self._pending:
                    self._pending = b""
                else:
                    self._take_raw(data)
                if not data:
                    return None
            else:
                data = self._inflate_some()
                if data is None:
                    return None
                if not data:
                    continue
            self.tar_hash.update(data)
            return data

    def _inflate_some(self) -> bytes | None:
        d = self._inflate
        if d.eof:
            # At the end of a member its leftover input is in unused_data; unconsumed_tail may
            # still hold stale bytes then (feeding it back looped forever on a multi-member blob)
            src = d.unused_data            # another gzip member may follow
            if not src:
                src = self._next_raw()
                if not src:
                    return None
            self._inflate = d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif d.unconsumed_tail:
            src = d.unconsumed_tail
        else:
            src = self._pending or self._next_raw()
            self._pending = b""
            if not src:
                raise BadImage(f"layer {self._label}: compressed stream is truncated")
        try:
            return d.decompress(src, INFLATE_CHUNK)
        except zlib.error as e:
            raise BadImage(f"layer {self._label}: corrupt gzip stream ({e})") from None

    def _next_raw(self) -> bytes:
        data = self._f.read(READ_CHUNK)
        self._take_raw(data)
        return data

    def _append(self, data) -> None:
        self.tar_size += len(data)
        if self._max_tar_size is not None and self.tar_size > self._max_tar_size:
            # a gzip bomb (or just a layer too big for this disk): stop before the disk fills
            if self._budget is not None:
                raise BadImage(f"layer {self._label} unpacks to more than the "
                               f"{self._max_tar_size >> 20} MiB the repository may use: "
                               f"{self._budget.explain()}")
            raise BadImage(f"layer {self._label} unpacks to more than the "
                           f"{self._max_tar_size >> 20} MiB free on the repository's disk")
        if self._pos and self._pos >= len(self._buf) // 2:
            del self._buf[:self._pos]
            self._pos = 0
        self._buf += data

    def _available(self) -> int:
        return len(self._buf) - self._pos

    def read(self, n: int) -> bytes:
        while self._available() < n:
            if not self._produce():
                raise BadImage(f"layer {self._label}: tar stream is truncated")
        out = bytes(self._buf[self._pos:self._pos + n])
        self._pos += n
        return out

    def pass_through(self, n: int, write: Callable[[memoryview], None]) -> None:
        while n:
            if not self._available() and not self._produce():
                raise BadImage(f"layer {self._label}: tar stream is truncated")
            k = min(n, self._available())
            with memoryview(self._buf) as mv:
                write(mv[self._pos:self._pos + k])
            self._pos += k
            n -= k

    def skip(self, n: int) -> None:
        self.pass_through(n, lambda _mv: None)

    def at_end(self) -> bool:
        """True when the tar stream has no more bytes (a tar may end without zero blocks)."""
        return not self._available() and not self._produce()

    def drain(self) -> None:
        """Read to the end of the blob (trailing data counts in both digests)."""
        self._pos = len(self._buf)
        while self._produce():
            self._pos = len(self._buf)


class _Prefetch:
    """Runs ``produce`` in a worker thread until it returns None; :meth:`get` hands its
    results over in order through a short queue (bounded memory: ``depth`` pieces), and
    re-raises in the caller whatever ``produce`` raised."""

    def __init__(self, produce: Callable[[], bytes | None], depth: int = 4):
        self._queue: queue.Queue = queue.Queue(depth)
        self._stop = threading.Event()
        self._last: tuple | None = None              # the end or the error, once seen
        self._thread = threading.Thread(target=self._run, args=(produce,),
                                        name="layer-inflate", daemon=True)
        self._thread.start()

    def _run(self, produce) -> None:
        try:
            while not self._stop.is_set():
                data = produce()
                self._put(("data", data) if data is not None else ("end", None))
                if data is None:
                    return
        except BaseException as e:                   # noqa: B902 - handed to the reader
            self._put(("error", e))

    def _put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def get(self) -> bytes | None:
        item = self._last or self._queue.get()
        if item[0] == "data":
            return item[1]
        self._last = item
        if item[0] == "error":
            raise item[1]
        return None

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)         # unblock a pending put
            except queue.Empty:
                pass
        self._thread.join()


# --- parsing headers ----------------------------------------------------------------------

@dataclass
class _Header:
    name: bytes
    mode: int
    uid: int
    gid: int
    size: int
    mtime: int
    type: bytes
    linkname: bytes


def _number(field_: bytes) -> int:
    if field_ and field_[0] & 0x80:
        if field_[0] == 0xFF:
            raise ValueError("negative number")
        return int.from_bytes(bytes([field_[0] & 0x7F]) + field_[1:], "big")
    text = field_.split(b"\0", 1)[0].strip()
    return int(text, 8) if text else 0


def _cstr(field_: bytes) -> bytes:
    return field_.split(b"\0", 1)[0]


def _parse_header(block: bytes) -> _Header:
    stored = _number(block[148:156])
    unsigned = sum(block[:148]) + 256 + sum(block[156:])
    if stored != unsigned:
        signed = unsigned - 2 * sum(b for b in block[:148] + block[156:] if b > 127)
        if stored != signed:
            raise ValueError("header checksum mismatch")
    name = _cstr(block[0:100])
    if block[257:263] == b"ustar\0":          # POSIX ustar: a prefix field continues the name
        prefix = _cstr(block[345:500])
        if prefix:
            name = prefix + b"/" + name
    typeflag = block[156:157]
    if typeflag == _AREG and name.endswith(b"/"):
        typeflag = _DIR                       # pre-POSIX tars mark directories by the slash
    return _Header(name, _number(block[100:108]), _number(block[108:116]),
                   _number(block[116:124]), _number(block[124:136]),
                   _number(block[136:148]), typeflag, _cstr(block[157:257]))


def _parse_pax(data: bytes) -> dict[bytes, bytes]:
    records: dict[bytes, bytes] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:                    # NUL padding after the last record
            break
        sp = data.index(b" ", pos)
        length = int(data[pos:sp])
        if length <= 0 or pos + length > len(data) or data[pos + length - 1] != 0x0A:
            raise ValueError("malformed pax record")
        key, eq, value = data[sp + 1:pos + length - 1].partition(b"=")
        if not eq:
            raise ValueError("malformed pax record")
        records[key] = value
        pos += length
    return records


# --- writing the canonical tar ------------------------------------------------------------

def _pax_record(key: str, value: bytes) -> bytes:
    body = b" " + key.encode() + b"=" + value + b"\n"
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n = len(str(n)) + len(body)
    return str(n).encode() + body


def _ustar_block(name: bytes, mode: int, uid: int, gid: int, size: int, mtime: int,
                 typeflag: bytes, linkname: bytes) -> bytes:
    parts = [
        name.ljust(100, b"\0"), b"%07o\0" % mode, b"%07o\0" % uid, b"%07o\0" % gid,
        b"%011o\0" % size, b"%011o\0" % mtime, b"        ", typeflag,
        linkname.ljust(100, b"\0"), b"ustar\x0000", b"\0" * 32, b"\0" * 32,
        b"\0" * 8, b"\0" * 8, b"\0" * 167,
    ]
    block = b"".join(parts)
    chk = b"%06o\0 " % sum(block)
    return block[:148] + chk + block[156:]


def tar_header(name: bytes, mode: int, uid: int, gid: int, size: int, mtime: int,
               typeflag: bytes, linkname: bytes = b"") -> bytes:
    """One tar header (preceded by a pax header when a field does not fit ustar)."""
    pax = []
    if len(name) > 100:
        pax.append(_pax_record("path", name))
        name = name[:100]
    if len(linkname) > 100:
        pax.append(_pax_record("linkpath", linkname))
        linkname = linkname[:100]
    for key, value, limit in (("uid", uid, 0o7777777), ("gid", gid, 0o7777777),
                              ("size", size, 0o77777777777)):
        if value > limit:
            pax.append(_pax_record(key, str(value).encode()))
    uid, gid, size = min(uid, 0o7777777), min(gid, 0o7777777), min(size, 0o77777777777)
    mtime = min(max(mtime, 0), 0o77777777777)
    block = _ustar_block(name, mode & 0o7777, uid, gid, size, mtime, typeflag, linkname)
    if not pax:
        return block
    data = b"".join(pax)
    head = _ustar_block(b"PaxHeader", 0o644, 0, 0, len(data), 0, _PAX, b"")
    return head + data + b"\0" * (-len(data) % BLOCK) + block


# --- validation ---------------------------------------------------------------------------

class _LayerState:
    """Every path seen so far in this layer and what it is ('dir', 'file', 'symlink', 'skip')."""

    def __init__(self, label: str, strip_setid: bool, sink: "EntrySink"):
        self.label = label
        self.strip_setid = strip_setid
        self.sink = sink
        self.kinds: dict[str, str] = {"": "dir"}
        self.autocreated: set[str] = set()
        self.skipped: list[str] = []
        self.entries = 0

    def bad(self, message: str) -> BadImage:
        return BadImage(f"layer {self.label}: {message}")

    def normalise(self, raw: bytes, what: str = "entry") -> str:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.bad(f"{what} name {raw!r} is not valid UTF-8") from None
        parts = [p for p in text.split("/") if p not in ("", ".")]
        if len(parts) > MAX_DEPTH:
            raise self.bad(f"{what} {text[:60]!r}... is nested deeper than {MAX_DEPTH} levels")
        for p in parts:
            if p == "..":
                raise self.bad(f"{what} {text!r} contains '..'")
            if len(p.encode()) > NAME_MAX:
                raise self.bad(f"{what} {text!r} has a name longer than {NAME_MAX} bytes")
        return "/".join(parts)

    def ensure_parent(self, path: str) -> None:
        """Check that every ancestor of ``path`` is a directory; create the missing ones."""
        parent = path.rpartition("/")[0]
        kind = self.kinds.get(parent)
        if kind == "dir":
            return
        if kind is not None:
            raise self.bad(f"entry {path!r} goes through {parent!r}, which is not a directory "
                           f"({kind})")
        self.check_name(parent, "dir")
        self.ensure_parent(parent)
        self.kinds[parent] = "dir"
        self.autocreated.add(parent)
        self.sink.directory(parent, 0o755, 0, 0, 0)

    def check_name(self, path: str, kind: str) -> None:
        base = path.rpartition("/")[2]
        if not base.startswith(WHITEOUT_PREFIX):
            return
        try:
            check_whiteout_name(base)
        except ValueError as e:
            raise self.bad(f"entry {path!r}: {e}") from None
        if kind != "file":
            raise self.bad(f"whiteout {path!r} must be a regular file, not a {kind}")

    def claim(self, path: str, kind: str) -> None:
        """Record ``path`` as ``kind``; a directory may not turn into a non-directory or back."""
        prev = self.kinds.get(path)
        if prev is not None and (prev == "dir") != (kind == "dir"):
            raise self.bad(f"entry {path!r} changes from {prev} to {kind} within the layer")
        self.kinds[path] = kind
        if kind == "dir":
            self.autocreated.discard(path)

    def mode(self, mode: int, kind: str) -> int:
        if kind == "symlink":
            return 0o777                      # what lstat(2) reports, hence what fsck expects
        mode &= 0o7777
        if self.strip_setid:
            mode &= ~0o6000
            mode |= 0o700 if kind == "dir" else (0o600 if kind == "file" else 0)
        return mode


def _next_entry(reader: _BlobReader, state: _LayerState) -> _Header | None:
    """Read headers up to the next real entry, applying pax / GNU long-name extensions."""
    overrides: dict[bytes, bytes] = {}
    while True:
        if not overrides and reader.at_end():
            return None
        block = reader.read(BLOCK)
        if block == b"\0" * BLOCK:
            return None
        try:
            hdr = _parse_header(block)
        except ValueError as e:
            raise state.bad(f"malformed tar header ({e})") from None
        if hdr.type not in (_PAX, _PAX_GLOBAL, _GNU_LONGNAME, _GNU_LONGLINK):
            break
        if hdr.size > MAX_META_ENTRY:
            raise state.bad("tar extension header is too large")
        data = reader.read(hdr.size)
        reader.skip(-hdr.size % BLOCK)
        if hdr.type == _GNU_LONGNAME:
            overrides[b"path"] = data.split(b"\0", 1)[0]
        elif hdr.type == _GNU_LONGLINK:
            overrides[b"linkpath"] = data.split(b"\0", 1)[0]
        else:
            try:
                records = _parse_pax(data)
            except ValueError as e:
                raise state.bad(f"malformed pax header ({e})") from None
            if any(k.startswith(b"GNU.sparse") for k in records):
                raise state.bad("sparse files are not supported")
            if hdr.type == _PAX_GLOBAL:
                if records.keys() & {b"path", b"linkpath", b"size"}:
                    raise state.bad("global pax headers may not set path, linkpath or size")
                continue
            overrides.update(records)
    try:
        _apply_overrides(hdr, overrides)
    except ValueError:
        raise state.bad("malformed pax header value") from None
    return hdr


def _apply_overrides(hdr: _Header, overrides: dict[bytes, bytes]) -> None:
    if b"path" in overrides:
        hdr.name = overrides[b"path"]
    if b"linkpath" in overrides:
        hdr.linkname = overrides[b"linkpath"]
    for key in ("size", "uid", "gid"):
        if key.encode() in overrides:
            setattr(hdr, key, int(overrides[key.encode()]))
    if b"mtime" in overrides:
        hdr.mtime = int(float(overrides[b"mtime"]))
    if min(hdr.size, hdr.uid, hdr.gid) < 0 or max(hdr.uid, hdr.gid) > 0xFFFFFFFF:
        raise ValueError("out of range")


def _process_entry(hdr: _Header, reader: _BlobReader, state: _LayerState) -> None:
    path = state.normalise(hdr.name)
    t = hdr.type
    data_size = hdr.size if t in (_REG, _AREG, _CONT) else 0
    if t in (_REG, _AREG, _CONT):
        kind = "file"
    elif t == _DIR:
        kind = "dir"
    elif t == _SYM:
        kind = "symlink"
    elif t == _LNK:
        kind = "hardlink"
    elif t in (_CHR, _BLK, _FIFO):
        kind = "device"
    else:
        raise state.bad(f"entry {path or '.'!r} has an unsupported type {t!r}")

    if not path:                               # the layer root: never imported as such
        if kind != "dir":
            raise state.bad(f"entry '.' is a {kind}, not a directory")
        return
    state.ensure_parent(path)
    if kind == "device":
        state.claim(path, "skip")
        state.skipped.append(path)
        reader.skip(data_size + (-data_size % BLOCK))
        return
    if kind == "hardlink":
        target = state.normalise(hdr.linkname, "hard link target")
        tkind = state.kinds.get(target)
        if tkind == "skip":
            state.claim(path, "skip")
            state.skipped.append(path)
            return
        if tkind not in ("file", "symlink") or not target:
            raise state.bad(f"hard link {path!r} points to {target!r}, which is not an earlier "
                            "file of this layer")
        state.check_name(path, tkind)
        state.claim(path, tkind)
        state.sink.hardlink(path, target, hdr.mtime)
        state.entries += 1
        return
    _write_plain(path, kind, hdr, data_size, reader, state)


def _write_plain(path: str, kind: str, hdr: _Header, data_size: int, reader: _BlobReader,
                 state: _LayerState) -> None:
    state.check_name(path, kind)
    state.claim(path, kind)
    link = b""
    if kind == "symlink":
        link = hdr.linkname
        try:
            link.decode("utf-8")
        except UnicodeDecodeError:
            raise state.bad(f"symlink {path!r} has a target that is not valid UTF-8") from None
        if not link or len(link) > SYMLINK_MAX:
            raise state.bad(f"symlink {path!r} has an empty or too long target")
    mode = state.mode(hdr.mode, kind)
    if kind == "dir":
        state.sink.directory(path, mode, hdr.uid, hdr.gid, hdr.mtime)
    elif kind == "symlink":
        state.sink.symlink(path, mode, hdr.uid, hdr.gid, hdr.mtime, link)
    else:
        state.sink.file(path, mode, hdr.uid, hdr.gid, hdr.mtime, data_size, reader)
        reader.skip(-data_size % BLOCK)
    state.entries += 1


class EntrySink:
    """Receives the checked entries of a layer, in order (what :func:`scan_layer` emits).

    Every path is normalised and already validated against the entries before it; parents
    always come first. ``file`` must take exactly ``size`` bytes from ``reader`` (with
    ``reader.read``, ``reader.pass_through`` or ``reader.skip``).
    """

    def directory(self, path: str, mode: int, uid: int, gid: int, mtime: int) -> None:
        raise NotImplementedError

    def file(self, path: str, mode: int, uid: int, gid: int, mtime: int, size: int,
             reader: "_BlobReader") -> None:
        raise NotImplementedError

    def symlink(self, path: str, mode: int, uid: int, gid: int, mtime: int,
                target: bytes) -> None:
        raise NotImplementedError

    def hardlink(self, path: str, target: str, mtime: int) -> None:
        raise NotImplementedError

    def end(self) -> None:
        pass


class TarSink(EntrySink):
    """Writes the checked entries as the canonical tar (see the module docstring)."""

    def __init__(self, write: Callable[[bytes | memoryview], None]):
        self.write = write

    def directory(self, path, mode, uid, gid, mtime):
        self.write(tar_header(path.encode() + b"/", mode, uid, gid, 0, mtime, _DIR))

    def file(self, path, mode, uid, gid, mtime, size, reader):
        self.write(tar_header(path.encode(), mode, uid, gid, size, mtime, _REG))
        if size:
            reader.pass_through(size, self.write)
            self.write(b"\0" * (-size % BLOCK))

    def symlink(self, path, mode, uid, gid, mtime, target):
        self.write(tar_header(path.encode(), mode, uid, gid, 0, mtime, _SYM, target))

    def hardlink(self, path, target, mtime):
        self.write(tar_header(path.encode(), 0, 0, 0, 0, mtime, _LNK, target.encode()))

    def end(self):
        self.write(b"\0" * (2 * BLOCK))


def sanitize_layer(blob: Path, write: Callable[[bytes | memoryview], None], *,
                   label: str, strip_setid: bool = False,
                   max_tar_size: int | None = None,
                   budget: DiskBudget | None = None) -> LayerSummary:
    """Read ``blob`` (gzip or plain tar), validate every entry, write the canonical tar.

    ``write`` receives the canonical tar in pieces (a memoryview is only valid during the
    call). Raises BadImage on the first bad entry; the caller must then discard what it was
    given. Digests are *not* compared here (the caller knows what they should be): they are
    returned in the summary, computed over every byte of the blob. ``max_tar_size`` bounds
    the uncompressed stream (BadImage past it).
    """
    return scan_layer(blob, TarSink(write), label=label, strip_setid=strip_setid,
                      max_tar_size=max_tar_size, budget=budget)


def scan_layer(blob: Path, sink: EntrySink, *, label: str, strip_setid: bool = False,
               max_tar_size: int | None = None,
               budget: DiskBudget | None = None) -> LayerSummary:
    """:func:`sanitize_layer` with the checked entries handed to ``sink`` one by one
    (store/object_import.py writes them straight into the repository as objects)."""
    with open(blob, "rb") as f:
        reader = _BlobReader(f, label, max_tar_size, budget, prefetch=True)
        try:
            state = _LayerState(label, strip_setid, sink)
            while True:
                hdr = _next_entry(reader, state)
                if hdr is None:
                    break
                _process_entry(hdr, reader, state)
            sink.end()
            reader.drain()
        finally:
            reader.close()
    return LayerSummary(
        digest="sha256:" + reader.blob_hash.hexdigest(),
        diff_id="sha256:" + reader.tar_hash.hexdigest(),
        size=reader.blob_size, uncompressed_size=reader.tar_size, entries=state.entries,
        autocreated=sorted(state.autocreated), skipped=state.skipped)


class BufferedWriter:
    """Batches small writes to a file descriptor; big pieces go straight through."""

    def __init__(self, fd: int, batch: int = 1 << 18):
        self.fd = fd
        self.batch = batch
        self._buf = bytearray()

    def __call__(self, data) -> None:
        if len(data) >= self.batch:
            self.flush()
            self._write_all(data)
            return
        self._buf += data
        if len(self._buf) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if self._buf:
            self._write_all(self._buf)
            self._buf = bytearray()

    def _write_all(self, data) -> None:
        with memoryview(data) as mv:
            while mv:
                n = os.write(self.fd, mv)
                mv = mv[n:]
