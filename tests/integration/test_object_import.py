"""store/object_import.py against real libostree: checked entries written as objects.

The layer commit must be the very commit libostree's own tar import made of the canonical tar
(same objects, same tree), in bare and bare-user repositories; a file whose object is already
stored is not written again, and that path rejects hostile layers like every other
(docs/performance.md, "Update: objects already stored").
"""

from __future__ import annotations

import gzip
import hashlib
import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from syscontainers.errors import BadImage
from syscontainers.images.layers import BufferedWriter, sanitize_layer, scan_layer
from syscontainers.images.store import Store
from syscontainers.images.store.object_import import HASH_FIRST_MAX
from syscontainers.images.store.repo import Repo
from tests.fixtures.store_images import blob_layer

pytestmark = pytest.mark.root


def make_tar(entries) -> bytes:
    """entries: (name, tarfile type, data or link target, mode, uid, gid)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, extra, mode, uid, gid in entries:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.uid, info.gid = kind, mode, uid, gid
            if kind == tarfile.REGTYPE:
                info.size = len(extra)
                tf.addfile(info, io.BytesIO(extra))
            else:
                info.linkname = extra if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
                tf.addfile(info)
    return buf.getvalue()


BIG = bytes(range(256)) * ((HASH_FIRST_MAX + 4096) // 256)      # streamed, not hashed first

EVERY_KIND = [
    ("etc", tarfile.DIRTYPE, b"", 0o755, 0, 0),
    ("etc/passwd", tarfile.REGTYPE, b"root:x:0:0\n", 0o644, 0, 0),
    ("usr/bin/tool", tarfile.REGTYPE, b"#!/bin/sh\necho tool\n", 0o4755, 0, 0),  # parents autocreated
    ("usr/bin/link", tarfile.SYMTYPE, "tool", 0o777, 0, 0),
    ("usr/bin/hard", tarfile.LNKTYPE, "usr/bin/tool", 0o644, 0, 0),
    ("usr/bin/hardsym", tarfile.LNKTYPE, "usr/bin/link", 0o644, 0, 0),
    ("var/lib/app", tarfile.DIRTYPE, b"", 0o700, 5, 6),
    ("var/lib/app/data", tarfile.REGTYPE, b"owned", 0o600, 1000, 1000),
    ("opt/big", tarfile.REGTYPE, BIG, 0o644, 0, 0),
    ("opt/empty", tarfile.REGTYPE, b"", 0o644, 0, 0),
    ("opt/.wh.gone", tarfile.REGTYPE, b"", 0o644, 0, 0),
    ("srv/.wh..wh..opq", tarfile.REGTYPE, b"", 0o644, 0, 0),
    ("etc/passwd", tarfile.REGTYPE, b"root:x:0:0:replaced\n", 0o644, 0, 0),
    ("etc", tarfile.DIRTYPE, b"", 0o750, 0, 0),                 # a directory given twice
]


def commit_via_tar(repo: Repo, blob: Path, strip_setid: bool) -> str:
    """The previous way: the canonical tar piped into libostree's own tar import."""
    def produce(fd):
        out = BufferedWriter(fd)
        summary = sanitize_layer(blob, out, label="L", strip_setid=strip_setid)
        out.flush()
        return summary

    with repo.transaction():
        mtree, _ = repo.import_tar_stream(produce)
        repo.set_tree_root_meta(mtree)
        return repo.write_commit(mtree, {}, timestamp=0)


def commit_via_objects(repo: Repo, blob: Path, strip_setid: bool, sinks=None) -> str:
    def scan(sink):
        if sinks is not None:
            sinks.append(sink)
        return scan_layer(blob, sink, label="L", strip_setid=strip_setid)

    with repo.transaction():
        mtree, _ = repo.import_entries(scan)
        repo.set_tree_root_meta(mtree)
        return repo.write_commit(mtree, {}, timestamp=0)


@pytest.mark.parametrize("mode,strip_setid", [("bare", False), ("bare-user", True)])
def test_same_commit_as_libostree_tar_import(tmp_path, mode, strip_setid):
    blob = tmp_path / "layer.tar.gz"
    blob.write_bytes(gzip.compress(make_tar(EVERY_KIND)))
    via_tar = commit_via_tar(Repo.open(tmp_path / "a", mode, True), blob, strip_setid)
    repo = Repo.open(tmp_path / "b", mode, True)
    assert commit_via_objects(repo, blob, strip_setid) == via_tar
    # every object re-hashed from the disk: the trusted writes stored what their names say
    subprocess.run(["ostree", "fsck", f"--repo={tmp_path / 'b'}"], check=True,
                   capture_output=True)


def test_stored_objects_are_not_written_again(tmp_path):
    repo = Repo.open(tmp_path / "r", "bare", True)
    v1 = tmp_path / "v1"
    v1.write_bytes(gzip.compress(make_tar(EVERY_KIND)))
    first: list = []
    commit_via_objects(repo, v1, False, first)
    assert first[0].present == 2                # the three empty files share one object
    # v2: the same files but one (a new layer digest, as in an update)
    v2_entries = EVERY_KIND + [("etc/new", tarfile.REGTYPE, b"new", 0o644, 0, 0)]
    v2 = tmp_path / "v2"
    v2.write_bytes(gzip.compress(make_tar(v2_entries)))
    second: list = []
    c2 = commit_via_objects(repo, v2, False, second)
    assert second[0].written == 2               # etc/new, and opt/big (streamed, never skipped)
    assert second[0].present == 7               # every other regular file entry
    via_tar = commit_via_tar(Repo.open(tmp_path / "t", "bare", True), v2, False)
    assert c2 == via_tar


HOSTILE_AFTER_STORED = [
    ("symlink then an entry through it",
     [("a/link", tarfile.SYMTYPE, "/etc", 0o777, 0, 0),
      ("a/link/passwd", tarfile.REGTYPE, b"x", 0o644, 0, 0)], "goes through"),
    ("dot-dot", [("../escape", tarfile.REGTYPE, b"x", 0o644, 0, 0)], r"contains '\.\.'"),
    ("hard link outside", [("a/h", tarfile.LNKTYPE, "../outside", 0o644, 0, 0)], r"'\.\.'"),
]


@pytest.mark.parametrize("what,tail,message", HOSTILE_AFTER_STORED,
                         ids=[h[0] for h in HOSTILE_AFTER_STORED])
def test_stored_objects_do_not_let_a_hostile_layer_in(store_paths, tmp_path, what, tail, message):
    store = Store(store_paths)
    shared = [("a/file", tarfile.REGTYPE, b"shared content " * 100, 0o644, 0, 0)]
    good, _ = blob_layer(tmp_path, gzip.compress(make_tar(shared)))
    store.import_layer(good, tmp_path / f"blob-{good.digest[7:19]}", None)
    bad_blob = gzip.compress(make_tar(shared + tail))
    bad, path = blob_layer(tmp_path, bad_blob)
    with pytest.raises(BadImage, match=message):
        store.import_layer(bad, path, None)
    refs = store._reader().list_refs()
    assert len(refs) == 1                         # only the good layer: nothing half-done


def test_stored_object_in_a_truncated_layer_is_rejected(store_paths, tmp_path):
    store = Store(store_paths)
    shared = [("a/file", tarfile.REGTYPE, b"shared content " * 100, 0o644, 0, 0)]
    good, _ = blob_layer(tmp_path, gzip.compress(make_tar(shared)))
    store.import_layer(good, tmp_path / f"blob-{good.digest[7:19]}", None)
    tar = make_tar(shared + [("b", tarfile.REGTYPE, b"y" * 4000, 0o644, 0, 0)])
    cut, path = blob_layer(tmp_path, gzip.compress(tar[:512 + 1024]))   # inside a/file's data
    with pytest.raises(BadImage, match="truncated"):
        store.import_layer(cut, path, None)
    assert len(store._reader().list_refs()) == 1


def test_stored_object_with_a_wrong_diff_id_is_rejected(store_paths, tmp_path):
    store = Store(store_paths)
    shared = [("a/file", tarfile.REGTYPE, b"shared content " * 100, 0o644, 0, 0)]
    tar = make_tar(shared)
    good, path = blob_layer(tmp_path, gzip.compress(tar))
    store.import_layer(good, path, None)
    again = make_tar(shared + [("c", tarfile.REGTYPE, b"z", 0o644, 0, 0)])
    layer, path = blob_layer(tmp_path, gzip.compress(again))
    wrong = "sha256:" + hashlib.sha256(tar).hexdigest()
    with pytest.raises(BadImage, match="diff_id"):
        store.import_layer(layer, path, wrong)
    assert len(store._reader().list_refs()) == 1
