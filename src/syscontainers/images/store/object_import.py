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
import struct

import gi

gi.require_version("OSTree", "1.0")
from gi.repository import Gio, GLib, OSTree  # noqa: E402

from ..layers import EntrySink  # noqa: E402

HASH_FIRST_MAX = 4 << 20      # files up to this size are hashed before any write (in memory)


def file_header(uid: int, gid: int, mode: int, symlink_target: str = "") -> bytes:
    """The header an OSTree content checksum starts with: the size-prefixed GVariant
    ``(uuuusa(ayay))`` of uid, gid, mode (big-endian), rdev 0, symlink target, no xattrs."""
    def be(n: int) -> int:
        return int.from_bytes(n.to_bytes(4, "big"), "little")
    variant = GLib.Variant("(uuuusa(ayay))", (be(uid), be(gid), be(mode), 0, symlink_target, []))
    data = variant.get_data_as_bytes().get_data()
    return struct.pack(">II", len(data), 0) + data


class ObjectSink(EntrySink):
    """Writes each checked entry as an object; :attr:`mtree` is the layer's tree."""

    def __init__(self, repo: OSTree.Repo):
        self._repo = repo
        self.mtree = OSTree.MutableTree.new()
        self._dirs: dict[str, OSTree.MutableTree] = {"": self.mtree}
        self._objects: dict[str, str] = {}            # path -> checksum (hard link targets)
        self._dirmeta: dict[tuple[int, int, int], str] = {}
        self._headers: dict[tuple[int, int, int], bytes] = {}
        self.written = 0                               # content objects written
        self.present = 0                               # content objects already stored

    def _place(self, path: str) -> tuple[OSTree.MutableTree, str]:
        parent, _, name = path.rpartition("/")
        return self._dirs[parent], name                # scan_layer emits parents first

    def _meta(self, mode: int, uid: int, gid: int) -> str:
        key = (mode, uid, gid)
        csum = self._dirmeta.get(key)
        if csum is None:
            info = Gio.FileInfo.new()
            info.set_attribute_uint32("unix::uid", uid)
            info.set_attribute_uint32("unix::gid", gid)
            info.set_attribute_uint32("unix::mode", stat.S_IFDIR | mode)
            variant = OSTree.create_directory_metadata(info, None)
            _, raw = self._repo.write_metadata(OSTree.ObjectType.DIR_META, None, variant, None)
            csum = self._dirmeta[key] = OSTree.checksum_from_bytes(raw)
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
            writer = self._repo.write_regfile(None, uid, gid, mode, size, None)
            reader.pass_through(size, lambda mv: writer.write_all(bytes(mv), None))
            self._add(path, writer.finish(None))
            self.written += 1
            return
        key = (uid, gid, mode)
        header = self._headers.get(key)
        if header is None:
            header = self._headers[key] = file_header(uid, gid, mode)
        data = reader.read(size)
        h = hashlib.sha256(header)
        h.update(data)
        csum = h.hexdigest()
        if self._repo.has_object(OSTree.ObjectType.FILE, csum, None)[1]:
            self.present += 1
        else:
            # The checksum was computed above over exactly the bytes written here (header +
            # content is the object's content stream), so libostree need not hash them again.
            stream = Gio.MemoryInputStream.new_from_bytes(GLib.Bytes.new(header + data))
            self._repo.write_content_trusted(csum, stream, len(header) + size, None)
            self.written += 1
        self._add(path, csum)

    def symlink(self, path, mode, uid, gid, mtime, target):
        csum = self._repo.write_symlink(None, uid, gid, None, target.decode("utf-8"), None)
        self._add(path, csum)

    def hardlink(self, path, target, mtime):
        self._add(path, self._objects[target])
