"""An image's layers merged into one tree, built inside the repository (docs/formats.md).

Why not check the layers out on top of each other: with libostree 2022.7 a lower layer's
``etc -> /host/dir`` symlink makes a higher layer's ``etc/x`` land in the host directory. Here the
layers' dirtree objects are walked in order and a new tree is written; nothing touches the
filesystem, and a checkout of the single merged commit needs no union and no whiteouts.

Rules, per directory, for each layer from the lowest up:
1. ``.wh..wh..opq`` drops everything lower layers put in the directory;
   ``.wh.NAME`` drops NAME from lower layers. Whiteouts hide lower content only: entries of the
   same layer stay. Whiteout entries never reach the merged tree (invalid whiteout spellings in
   layers written by other tools are dropped too).
2. A non-directory (file, symlink) replaces whatever was there, directories included.
3. A directory over a directory merges into it and takes the higher layer's metadata, unless
   the higher layer never had an entry for it (its importer autocreated it: layer commit
   metadata ``syscontainers.autocreated``). A directory over a non-directory - a symlink
   included - replaces it: the merge never descends into a symlink.
The merged root is always 0755 root:root.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..layers import OPAQUE_WHITEOUT, WHITEOUT_PREFIX, check_whiteout_name

AUTOCREATED_KEY = "syscontainers.autocreated"


class _Dir:
    """A directory of the merged tree. ``tree`` is set while its content is exactly that
    dirtree object (so it need not be written again)."""

    __slots__ = ("meta", "tree", "files", "dirs")

    def __init__(self, meta: str):
        self.meta = meta
        self.tree: str | None = None
        self.files: dict[str, str] = {}         # name -> file object checksum
        self.dirs: dict[str, _Dir] = {}

    def remove(self, name: str) -> None:
        if self.files.pop(name, None) is not None or self.dirs.pop(name, None) is not None:
            self.tree = None

    def clear(self) -> None:
        if self.files or self.dirs:
            self.files, self.dirs, self.tree = {}, {}, None


@dataclass(frozen=True)
class LayerTree:
    """One layer commit to merge: its root dirtree and the dirs its importer autocreated."""

    tree: str
    autocreated: frozenset[str] = frozenset()


def layer_tree(repo, commit: str) -> LayerTree:
    tree, _meta = repo.commit_root(commit)
    auto = repo.commit_metadata(commit).get(AUTOCREATED_KEY) or ()
    return LayerTree(tree, frozenset(auto))


def _is_whiteout(name: str) -> bool:
    return name.startswith(WHITEOUT_PREFIX)


def _valid_whiteout(name: str) -> bool:
    try:
        check_whiteout_name(name)
    except ValueError:
        return False
    return True


class _Merger:
    def __init__(self, repo):
        self.repo = repo

    def apply(self, target: _Dir, tree: str, path: str, auto: frozenset[str]) -> bool:
        """Apply layer dirtree ``tree`` onto ``target``; True if ``target`` was empty and now
        holds exactly ``tree`` (no whiteouts inside), so the object can be reused."""
        was_empty = not target.files and not target.dirs
        files, dirs = self.repo.load_dirtree(tree)
        verbatim = was_empty
        for name, _csum in files:
            if not _is_whiteout(name):
                continue
            verbatim = False
            if not _valid_whiteout(name):
                continue
            if name == OPAQUE_WHITEOUT:
                target.clear()
            else:
                target.remove(name[len(WHITEOUT_PREFIX):])
        for name, csum in files:
            if _is_whiteout(name):
                continue
            target.dirs.pop(name, None)
            if target.files.get(name) != csum:
                target.files[name] = csum
                target.tree = None
        for name, sub_tree, sub_meta in dirs:
            verbatim &= self._apply_dir(target, name, sub_tree, sub_meta,
                                        f"{path}/{name}".lstrip("/"), auto)
        if verbatim:
            target.tree = tree
        return verbatim

    def _apply_dir(self, target: _Dir, name: str, tree: str, meta: str, path: str,
                   auto: frozenset[str]) -> bool:
        target.tree = None
        target.files.pop(name, None)            # a directory replaces a file or symlink
        sub = target.dirs.get(name)
        if sub is None:
            sub = target.dirs[name] = _Dir(meta)
        elif path not in auto:
            sub.meta = meta
        return self.apply(sub, tree, path, auto)

    def write(self, d: _Dir) -> str:
        if d.tree is not None:
            return d.tree
        dirs = [(name, self.write(sub), sub.meta) for name, sub in d.dirs.items()]
        d.tree = self.repo.write_dirtree(list(d.files.items()), dirs)
        return d.tree


def merge_layers(repo, layers: list[LayerTree], metadata: dict) -> str:
    """Write the merged tree of ``layers`` (lowest first) and a commit of it; return the commit.

    Must run inside a transaction. The layers' objects must be in ``repo``.
    """
    root_meta = repo.dirmeta_checksum()
    root = _Dir(root_meta)
    merger = _Merger(repo)
    for layer in layers:
        merger.apply(root, layer.tree, "", layer.autocreated)
    root.meta = root_meta
    tree = merger.write(root)
    return repo.write_commit_of_tree(tree, root_meta, metadata)


def merged_view(repo, layers: list[LayerTree]) -> _Dir:
    """The merged tree of ``layers`` in memory only, nothing written: what readers without
    the host lock use for an image that has no merged commit yet (see store.py, the lock
    rule)."""
    root = _Dir("")
    merger = _Merger(repo)
    for layer in layers:
        merger.apply(root, layer.tree, "", layer.autocreated)
    return root


def view_lookup(root: _Dir, path: str) -> tuple | None:
    """("file", csum) or ("dir", sorted names) for ``path`` in a :func:`merged_view`; like
    Repo.tree_lookup, never through a symlink, never ``..``."""
    node = root
    parts = [p for p in path.split("/") if p not in ("", ".")]
    for i, part in enumerate(parts):
        if part in node.dirs:
            node = node.dirs[part]
        elif part in node.files and i == len(parts) - 1:
            return ("file", node.files[part])
        else:
            return None
    return ("dir", sorted(list(node.files) + list(node.dirs)))
