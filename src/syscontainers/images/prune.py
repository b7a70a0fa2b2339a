"""What ``images prune`` removes from the repository (SPEC 2).

Removed refs:
- layer refs (``ociimage/<64 hex>``) that no tagged image lists as a layer or as its config
  (atomic's image refs by ID, ``ociimage/<id>``, go the same way, as atomic pruned them);
- refs under ``ociimage/`` whose name encoding is invalid;
- merged trees (``syscontainers/merged/<id>``) of images that have no name any more and that no
  installed container uses (``in_use_ids``).
Then every object no remaining ref reaches is deleted (``prune --refs-only``), and per-layer
storage checkouts of layers no longer stored. A dry run computes the same and changes nothing.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from ..errors import ReferenceError_
from . import imagemeta
from . import ostree_repo as orepo
from .ostree_repo import OSTree
from .reference import LAYER_PREFIX, decode_name, is_layer_ref
from .store import MERGED_PREFIX, PruneReport

LAYER_DIR_RE = re.compile(r"[0-9a-f]{64}")


def _needed_blobs(tagged) -> set[str]:
    needed = set()
    for image in tagged.values():
        needed.update(layer.digest.split(":", 1)[1] for layer in image.layers)
        config = imagemeta.config_digest(image.manifest)
        if config:
            needed.add(config.split(":", 1)[1])
    return needed


def _unneeded(ref: str, needed: set[str], keep_ids: set[str]) -> bool:
    if ref.startswith(MERGED_PREFIX):
        return ref[len(MERGED_PREFIX):] not in keep_ids
    if not ref.startswith(LAYER_PREFIX):
        return False
    rest = ref[len(LAYER_PREFIX):]
    if is_layer_ref(ref):
        return rest not in needed
    try:
        decode_name(rest)
    except ReferenceError_:
        return True
    return False


def _reachable(repo, commits) -> set:
    found = set()
    for commit in set(commits):
        _, reach = repo.traverse_commit(commit, -1, None)
        found.update(key.unpack() for key in reach)
    return found


def _would_free(repo, kept_commits) -> int:
    reachable = _reachable(repo, kept_commits)
    _, objects = repo.list_objects(OSTree.RepoListObjectsFlags.LOOSE, None)
    total = 0
    for key in objects:
        name = key.unpack()
        if name not in reachable:
            _, size = repo.query_object_storage_size(OSTree.ObjectType(name[1]), name[0], None)
            total += size
    return total


def _remove_layer_storage(root: Path, keep: set[str], dry_run: bool) -> list[str]:
    """Per-layer checkouts (``.storage/layers/<hex>``) of layers no longer stored."""
    removed = []
    if not root.is_dir():
        return removed
    for entry in sorted(root.iterdir()):
        if LAYER_DIR_RE.fullmatch(entry.name) and entry.name not in keep:
            removed.append(str(entry))
            if not dry_run:
                shutil.rmtree(entry, ignore_errors=True)
    return removed


def prune_repo(repo, tagged: dict, in_use_ids: set[str], dry_run: bool,
               layers_dir: Path) -> PruneReport:
    """Prune ``repo`` given its tagged images ({id: Image}) and the IDs containers use."""
    needed = _needed_blobs(tagged)
    refs = orepo.list_refs(repo)
    remove = sorted(r for r in refs if _unneeded(r, needed, set(tagged) | in_use_ids))
    kept = {r: c for r, c in refs.items() if r not in remove}
    keep_layers = {r[len(LAYER_PREFIX):] for r in kept if is_layer_ref(r)}
    if dry_run:
        freed = _would_free(repo, kept.values())
    else:
        for ref in remove:
            orepo.set_ref(repo, ref, None)
        _, _total, _pruned, freed = repo.prune(OSTree.RepoPruneFlags.REFS_ONLY, -1, None)
    dirs = _remove_layer_storage(layers_dir, keep_layers, dry_run)
    return PruneReport(tuple(remove), tuple(dirs), freed)
