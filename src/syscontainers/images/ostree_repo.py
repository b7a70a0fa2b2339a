"""Thin helpers over libostree (PyGObject). Only store.py, merge.py and tests import this module,
so the CLI does not load gi at start-up.

Everything that turns a GLib.Error into our errors lives here, with one line for the operator.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import gi

gi.require_version("OSTree", "1.0")
from gi.repository import Gio, GLib, OSTree  # noqa: E402

from ..errors import StoreError  # noqa: E402

F_SETPIPE_SZ = 1031
PIPE_SIZE = 1 << 20


def open_repo(path: Path, mode: str, create: bool) -> OSTree.Repo | None:
    """Open the repository at ``path``; create it (``mode`` bare / bare-user) when ``create``.

    Returns None when it does not exist and ``create`` is false (readers see an empty store).
    """
    repo = OSTree.Repo.new(Gio.File.new_for_path(str(path)))
    try:
        if (path / "config").exists():
            repo.open(None)
        elif create:
            path.mkdir(parents=True, exist_ok=True)
            repo_mode = {"bare": OSTree.RepoMode.BARE,
                         "bare-user": OSTree.RepoMode.BARE_USER}[mode]
            repo.create(repo_mode, None)
        else:
            return None
    except GLib.Error as e:
        raise StoreError(f"cannot open the OSTree repository {path}: {e.message}") from None
    return repo


def metadata_variant(values: dict) -> GLib.Variant:
    """a{sv} commit metadata; str values become ``s`` (as containers-image wrote them),
    lists of str ``as``."""
    items = {}
    for key, value in values.items():
        if isinstance(value, str):
            items[key] = GLib.Variant("s", value)
        elif isinstance(value, (list, tuple)):
            items[key] = GLib.Variant("as", list(value))
        else:
            raise TypeError(f"unsupported metadata value for {key}")
    return GLib.Variant("a{sv}", items)


def commit_metadata(repo: OSTree.Repo, commit: str) -> dict:
    """The commit's metadata as Python values ({} when the commit is missing)."""
    try:
        _, variant, _state = repo.load_commit(commit)
    except GLib.Error:
        return {}
    return dict(variant.get_child_value(0).unpack())


def commit_timestamp(repo: OSTree.Repo, commit: str) -> int:
    try:
        _, variant, _state = repo.load_commit(commit)
    except GLib.Error:
        return 0
    return OSTree.commit_get_timestamp(variant)


def list_refs(repo: OSTree.Repo | None, prefix: str | None = None) -> dict[str, str]:
    """{ref: commit} (full ref names even when ``prefix`` is given)."""
    if repo is None:
        return {}
    _, refs = repo.list_refs(None, None)
    if prefix is None:
        return dict(refs)
    return {r: c for r, c in refs.items() if r.startswith(prefix)}


def resolve(repo: OSTree.Repo | None, ref: str) -> str | None:
    if repo is None:
        return None
    try:
        _, rev = repo.resolve_rev(ref, True)
    except GLib.Error:
        return None
    return rev


def layer_commit(repo: OSTree.Repo, digest: str, image_label: str = "") -> str:
    """The commit of layer ``digest``; StoreError (pull again) when it is missing."""
    from .reference import layer_ref_name

    commit = resolve(repo, layer_ref_name(digest))
    if commit is None:
        of = f" of image {image_label}" if image_label else ""
        raise StoreError(f"layer {digest}{of} is missing from the store; pull the image again")
    return commit


def set_ref(repo: OSTree.Repo, ref: str, commit: str | None) -> None:
    """Point ``ref`` at ``commit`` now (None deletes it)."""
    try:
        repo.set_ref_immediate(None, ref, commit, None)
    except GLib.Error as e:
        raise StoreError(f"cannot update ref {ref}: {e.message}") from None


def dirmeta_checksum(repo: OSTree.Repo, mode: int = 0o755, uid: int = 0, gid: int = 0) -> str:
    """Write (if needed) and return the dirmeta object of a plain directory."""
    info = Gio.FileInfo.new()
    info.set_attribute_uint32("unix::uid", uid)
    info.set_attribute_uint32("unix::gid", gid)
    info.set_attribute_uint32("unix::mode", 0o040000 | mode)
    variant = OSTree.create_directory_metadata(info, None)
    _, csum = repo.write_metadata(OSTree.ObjectType.DIR_META, None, variant, None)
    return OSTree.checksum_from_bytes(csum)


def _staging_dirs(repo: OSTree.Repo) -> set[str]:
    tmp = Path(repo.get_path().get_path()) / "tmp"
    try:
        return {p.name for p in tmp.iterdir() if p.name.startswith("staging-")}
    except OSError:
        return set()


@contextmanager
def transaction(repo: OSTree.Repo) -> Iterator[None]:
    """prepare ... commit; on any exception the transaction is aborted: no ref, no commit, and
    the objects it staged are deleted (libostree keeps an aborted staging directory for the
    next transaction, which would then move them into the repository)."""
    before = _staging_dirs(repo)
    try:
        repo.prepare_transaction(None)
    except GLib.Error as e:
        raise StoreError(f"cannot start a repository transaction: {e.message}") from None
    try:
        yield
    except BaseException:
        try:
            repo.abort_transaction(None)
        except GLib.Error:
            pass
        tmp = Path(repo.get_path().get_path()) / "tmp"
        for name in _staging_dirs(repo) - before:
            shutil.rmtree(tmp / name, ignore_errors=True)
        raise
    try:
        repo.commit_transaction(None)
    except GLib.Error as e:
        raise StoreError(f"cannot commit to the repository: {e.message}") from None


def write_commit(repo: OSTree.Repo, mtree: OSTree.MutableTree, metadata: dict,
                 subject: str = "", timestamp: int | None = None) -> str:
    """Write ``mtree`` and a parentless commit of it; returns the commit checksum."""
    try:
        _, root = repo.write_mtree(mtree, None)
        meta = metadata_variant(metadata)
        if timestamp is None:
            _, commit = repo.write_commit(None, subject, "", meta, root, None)
        else:
            _, commit = repo.write_commit_with_time(None, subject, "", meta, root, timestamp,
                                                    None)
    except GLib.Error as e:
        raise StoreError(f"cannot write a commit: {e.message}") from None
    return commit


def write_commit_of_tree(repo: OSTree.Repo, tree: str, meta: str, metadata: dict) -> str:
    """A parentless commit whose root is dirtree ``tree`` with dirmeta ``meta``."""
    mtree = OSTree.MutableTree.new_from_checksum(repo, tree, meta)
    return write_commit(repo, mtree, metadata)


def mtree_with_files(repo: OSTree.Repo, files: dict[str, bytes]) -> OSTree.MutableTree:
    """A one-directory tree holding ``files`` (name -> content), 0644 root-owned."""
    mtree = OSTree.MutableTree.new()
    mtree.set_metadata_checksum(dirmeta_checksum(repo))
    for name, content in files.items():
        try:
            csum = repo.write_regfile_inline(None, 0, 0, 0o100644, None, list(content), None)
        except TypeError:
            csum = _write_content(repo, content)
        mtree.replace_file(name, csum)
    return mtree


def _write_content(repo: OSTree.Repo, content: bytes) -> str:
    info = Gio.FileInfo.new()
    info.set_attribute_uint32("standard::type", Gio.FileType.REGULAR)
    info.set_attribute_uint32("unix::mode", 0o100644)
    info.set_attribute_uint32("unix::uid", 0)
    info.set_attribute_uint32("unix::gid", 0)
    info.set_size(len(content))
    stream = Gio.MemoryInputStream.new_from_bytes(GLib.Bytes.new(content))
    _, obj, length = OSTree.raw_file_to_content_stream(stream, info, None, None)
    _, csum = repo.write_content(None, obj, length, None)
    return OSTree.checksum_from_bytes(csum)


def import_tar_stream(repo: OSTree.Repo,
                      produce: Callable[[int], object]) -> tuple[OSTree.MutableTree, object]:
    """Import a tar stream into a new mutable tree, inside the caller's transaction.

    ``produce(fd)`` writes the tar to ``fd`` (the write end of a pipe) and returns a value,
    handed back with the tree;
    libostree reads the other end in a worker thread (PyGObject releases the GIL, so both run
    at once). The stream must already be sanitised (layers.sanitize_layer): libostree aborts the
    process on some crafted tars. If ``produce`` raises, its exception propagates (the caller
    aborts the transaction); if libostree fails, StoreError.
    """
    mtree = OSTree.MutableTree.new()
    rfd, wfd = os.pipe()
    try:
        fcntl.fcntl(wfd, F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        pass                                  # a smaller pipe only costs speed
    failure: list[GLib.Error] = []

    def consume() -> None:
        try:
            repo.write_archive_to_mtree_from_fd(rfd, mtree, None, False, None)
        except GLib.Error as e:
            failure.append(e)
        finally:
            os.close(rfd)                     # unblocks a writer if libostree stopped early

    worker = threading.Thread(target=consume, name="ostree-import", daemon=True)
    worker.start()
    try:
        result = produce(wfd)
    except BrokenPipeError:
        result = None
    finally:
        os.close(wfd)
        worker.join()
    if failure:
        raise StoreError(f"libostree could not import the layer: {failure[0].message}")
    if result is None:
        raise StoreError("libostree stopped reading the layer early")
    return mtree, result


def read_blob_path(repo: OSTree.Repo, commit: str, path: str) -> bytes | None:
    """Content of regular file ``path`` in ``commit`` (no symlink is followed); else None."""
    node = tree_lookup(repo, commit, path)
    if node is None or node[0] != "file":
        return None
    try:
        _, stream, info, _x = repo.load_file(node[1], None)
    except GLib.Error:
        return None
    if info.get_file_type() != Gio.FileType.REGULAR:
        return None
    return _read_all(stream)


def _read_all(stream: Gio.InputStream) -> bytes:
    chunks = []
    while True:
        data = stream.read_bytes(1 << 20, None).get_data()
        if not data:
            break
        chunks.append(data)
    stream.close(None)
    return b"".join(chunks)


def commit_root(repo: OSTree.Repo, commit: str) -> tuple[str, str]:
    """(root dirtree checksum, root dirmeta checksum) of a commit."""
    _, variant, _state = repo.load_commit(commit)
    tree = OSTree.checksum_from_bytes_v(variant.get_child_value(6))
    meta = OSTree.checksum_from_bytes_v(variant.get_child_value(7))
    return tree, meta


def load_dirtree(repo: OSTree.Repo, tree: str) -> tuple[list, list]:
    """([(name, file csum)], [(name, dirtree csum, dirmeta csum)]) of a dirtree object."""
    _, variant = repo.load_variant(OSTree.ObjectType.DIR_TREE, tree)
    files_v = variant.get_child_value(0)
    dirs_v = variant.get_child_value(1)
    files = []
    for i in range(files_v.n_children()):
        item = files_v.get_child_value(i)
        files.append((item.get_child_value(0).get_string(),
                      OSTree.checksum_from_bytes_v(item.get_child_value(1))))
    dirs = []
    for i in range(dirs_v.n_children()):
        item = dirs_v.get_child_value(i)
        dirs.append((item.get_child_value(0).get_string(),
                     OSTree.checksum_from_bytes_v(item.get_child_value(1)),
                     OSTree.checksum_from_bytes_v(item.get_child_value(2))))
    return files, dirs


def write_dirtree(repo: OSTree.Repo, files: list, dirs: list) -> str:
    """Write a dirtree object from ([(name, csum)], [(name, tree, meta)]); entries sorted."""
    files_v = [(n, GLib.Variant("ay", bytes.fromhex(c))) for n, c in sorted(files)]
    dirs_v = [(n, GLib.Variant("ay", bytes.fromhex(t)), GLib.Variant("ay", bytes.fromhex(m)))
              for n, t, m in sorted(dirs)]
    variant = GLib.Variant.new_tuple(
        GLib.Variant.new_array(GLib.VariantType("(say)"),
                               [GLib.Variant.new_tuple(GLib.Variant("s", n), c)
                                for n, c in files_v]),
        GLib.Variant.new_array(GLib.VariantType("(sayay)"),
                               [GLib.Variant.new_tuple(GLib.Variant("s", n), t, m)
                                for n, t, m in dirs_v]))
    _, csum = repo.write_metadata(OSTree.ObjectType.DIR_TREE, None, variant, None)
    return OSTree.checksum_from_bytes(csum)


def tree_lookup(repo: OSTree.Repo, commit: str, path: str) -> tuple[str, ...] | None:
    """("file", csum) or ("dir", tree, meta) for ``path`` in ``commit``; never follows a
    symlink (a path through one does not exist here)."""
    tree, meta = commit_root(repo, commit)
    node: tuple[str, ...] = ("dir", tree, meta)
    for part in [p for p in path.split("/") if p not in ("", ".")]:
        if node[0] != "dir" or part == "..":
            return None
        files, dirs = load_dirtree(repo, node[1])
        found = next((("file", c) for n, c in files if n == part), None) or \
            next((("dir", t, m) for n, t, m in dirs if n == part), None)
        if found is None:
            return None
        node = found
    return node
