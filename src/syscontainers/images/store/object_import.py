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
"""

from __future__ import annotations

import hashlib
import stat

from ..layers import EntrySink

HASH_FIRST_MAX = 4 << 20      # files up to this size are hashed before any write (in memory)


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
        self.written = 0                               # content objects written
        self.present = 0                               # content objects already stored

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
            self.written += 1
            return
        key = (uid, gid, mode)
        header = self._headers.get(key)
        if header is None:
            header = self._headers[key] = self._repo.file_header(uid, gid, mode)
        data = reader.read(size)
        h = hashlib.sha256(header)
        h.update(data)
        csum = h.hexdigest()
        if self._repo.has_file_object(csum):
            self.present += 1
        else:
            # The checksum was computed above over exactly the bytes written here (header +
            # content is the object's content stream), so libostree need not hash them again.
            self._repo.write_file_trusted(csum, header + data)
            self.written += 1
        self._add(path, csum)

    def symlink(self, path, mode, uid, gid, mtime, target):
        self._add(path, self._repo.write_symlink_object(uid, gid, target.decode("utf-8")))

    def hardlink(self, path, target, mtime):
        self._add(path, self._objects[target])
