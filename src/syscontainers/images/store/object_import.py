"""Checked layer entries straight into the repository as objects (docs/performance.md).

layers.scan_layer validates every entry and hands it here (an :class:`EntrySink`); this sink
writes each one as an OSTree object and builds the layer's mutable tree, so libostree's tar
reader never sees the layer and the file data is not copied through a pipe.

The saving on an update: an object's checksum is sha256 of its header (uid, gid, mode, symlink
target, no xattrs) and its content, so for a regular file up to ``HASH_FIRST_MAX`` bytes the
checksum is computed here first and, when the repository already holds that object (90 % of
the files of an update), nothing is written at all. The content is still read, hashed and
counted in the layer's diff_id like every other byte: a stored object is never trusted by
name, only by the checksum of the bytes the layer carries. Larger files stream into
libostree's content writer (bounded memory), which hashes them itself.

The small files' objects are written by a second thread (:class:`_Writer`): the checksum is
known before the write, so the tree can name the object at once, and the main thread parses,
checks and hashes the next entries while libostree (which releases the GIL) stores this one,
on the other core (docs/performance.md, "Pull: fetch and import overlap"). At most
``QUEUE_BYTES`` wait; every write has ended, and its error is raised, before the layer's tree
is written (:meth:`ObjectSink.close`, called by ``Repo.import_entries``).
"""

from __future__ import annotations

import hashlib
import stat
import threading
from collections import deque

from ..layers import EntrySink

HASH_FIRST_MAX = 4 << 20      # files up to this size are hashed before any write (in memory)
WRITERS = 1                   # writer threads: with the parse and the inflater, one fills 2 cores
QUEUE_BYTES = 16 << 20        # content waiting for the writer thread, at most (peak memory)


class _Writer:
    """Stores content objects (checksum computed by the caller) in a thread of its own, in
    the order given; an object already stored (or queued before) is not written again."""

    def __init__(self, repo):
        self._repo = repo
        self._items: deque = deque()
        self._bytes = 0
        self._cond = threading.Condition()
        self._closing = False
        self._error: BaseException | None = None
        self._seen: set[str] = set()
        self.written = 0            # counted by the writer thread
        self.present = 0            # counted by the writer thread
        self.repeated = 0           # counted by the caller's: queued before
        self._threads = [threading.Thread(target=self._run, name="object-writer", daemon=True)
                         for _ in range(WRITERS)]
        for thread in self._threads:
            thread.start()

    def put(self, csum: str, content: bytes) -> None:
        if csum in self._seen:
            self.repeated += 1
            return
        self._seen.add(csum)
        with self._cond:
            while self._bytes > QUEUE_BYTES and self._error is None:
                self._cond.wait()
            if self._error is not None:
                raise self._error
            self._items.append((csum, content))
            self._bytes += len(content)
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._items and not self._closing and self._error is None:
                    self._cond.wait()
                if not self._items or self._error is not None:
                    return
                csum, content = self._items.popleft()
            try:
                if self._repo.has_file_object(csum):
                    present, written = 1, 0
                else:
                    # The checksum was computed over exactly these bytes (header + content is
                    # the object's content stream), so libostree need not hash them again.
                    self._repo.write_file_trusted(csum, content)
                    present, written = 0, 1
            except BaseException as e:        # raised in the main thread (put / close)
                with self._cond:
                    self._error = self._error or e
                    self._items.clear()
                    self._cond.notify_all()
                return
            with self._cond:
                self.present += present
                self.written += written
                self._bytes -= len(content)
                self._cond.notify_all()

    def close(self, abandon: bool = False) -> None:
        """Wait for every queued write and raise the first error; ``abandon`` (the layer
        failed anyway): drop what still waits and keep quiet about errors."""
        with self._cond:
            self._closing = True
            if abandon:
                self._items.clear()      # the writer only pops what it has written
                self._bytes = 0
            self._cond.notify_all()
        for thread in self._threads:
            thread.join()
        if self._error is not None and not abandon:
            raise self._error


class ObjectSink(EntrySink):
    """Writes each checked entry as an object through ``repo`` (store/repo.py, the only module
    that loads libostree); :attr:`mtree` is the layer's tree."""

    def __init__(self, repo):
        self._repo = repo
        self.mtree = repo.new_mtree()
        self._dirs = {"": self.mtree}
        self._objects: dict[str, str] = {}            # path -> checksum (hard link targets)
        self._dirmeta: dict[tuple[int, int, int], str] = {}
        self._headers: dict[tuple[int, int, int], bytes] = {}
        self._writer = _Writer(repo)
        self._streamed = 0                             # large files (always written)

    @property
    def written(self) -> int:
        """Content objects written (after :meth:`close`)."""
        return self._writer.written + self._streamed

    @property
    def present(self) -> int:
        """Content objects already stored, not written again (after :meth:`close`)."""
        return self._writer.present + self._writer.repeated

    def close(self, abandon: bool = False) -> None:
        """Every object written (or its error raised): call before writing the tree;
        ``abandon`` after a failed scan (the transaction is aborted anyway)."""
        self._writer.close(abandon)

    def _place(self, path: str):
        parent, _, name = path.rpartition("/")
        return self._dirs[parent], name                # scan_layer emits parents first

    def _meta(self, mode: int, uid: int, gid: int) -> str:
        key = (mode, uid, gid)
        csum = self._dirmeta.get(key)
        if csum is None:
            csum = self._dirmeta[key] = self._repo.dirmeta_checksum(mode, uid, gid)
        return csum

    def directory(self, path, mode, uid, gid, mtime):
        sub = self._dirs.get(path)
        if sub is None:
            parent, name = self._place(path)
            _, sub = parent.ensure_dir(name)
            self._dirs[path] = sub
        sub.set_metadata_checksum(self._meta(mode, uid, gid))

    def _add(self, path: str, csum: str) -> None:
        parent, name = self._place(path)
        parent.replace_file(name, csum)
        self._objects[path] = csum

    def file(self, path, mode, uid, gid, mtime, size, reader):
        mode |= stat.S_IFREG
        if size > HASH_FIRST_MAX:
            self._add(path, self._repo.write_file_streamed(
                uid, gid, mode, size, lambda write: reader.pass_through(size, write)))
            self._streamed += 1
            return
        key = (uid, gid, mode)
        header = self._headers.get(key)
        if header is None:
            header = self._headers[key] = self._repo.file_header(uid, gid, mode)
        data = reader.read(size)
        h = hashlib.sha256(header)
        h.update(data)
        csum = h.hexdigest()
        self._writer.put(csum, header + data)
        self._add(path, csum)

    def symlink(self, path, mode, uid, gid, mtime, target):
        self._add(path, self._repo.write_symlink_object(uid, gid, target.decode("utf-8")))

    def hardlink(self, path, target, mtime):
        self._add(path, self._objects[target])
