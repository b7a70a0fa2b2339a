"""What ``images prune`` removes from the repository (docs/operations.md).

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

from ...errors import ReferenceError_
from .. import imagemeta
from ..model import MERGED_PREFIX, PruneReport
from ..reference import LAYER_PREFIX, decode_name, is_layer_ref

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


def _remove_layer_storage(roots: tuple[Path, ...], keep: set[str], dry_run: bool) -> list[str]:
    """Per-layer checkouts of layers no longer stored: atomic's (``.storage/<hex>``, as
    atomic's own prune removes them) and older versions of ours. Only 64-hex names: the
    repository (``.storage/ostree``) and anything else are never touched."""
    removed = []
    entries = sorted(e for root in roots if root.is_dir() for e in root.iterdir())
    for entry in entries:
        if LAYER_DIR_RE.fullmatch(entry.name) and entry.name not in keep:
            removed.append(str(entry))
            if not dry_run:
                shutil.rmtree(entry, ignore_errors=True)
    return removed


def prune_repo(repo, tagged: dict, in_use_ids: set[str], dry_run: bool,
               layer_dirs: tuple[Path, ...]) -> PruneReport:
    """Prune ``repo`` (a Repo) given its tagged images ({id: Image}) and the IDs containers
    use."""
    needed = _needed_blobs(tagged)
    keep_ids = set(tagged) | in_use_ids      # once: per ref it made the prune quadratic
    refs = repo.list_refs()
    remove = sorted(r for r in refs if _unneeded(r, needed, keep_ids))
    gone = set(remove)
    kept = {r: c for r, c in refs.items() if r not in gone}
    keep_layers = {r[len(LAYER_PREFIX):] for r in kept if is_layer_ref(r)}
    if dry_run:
        freed = repo.unreachable_size(kept.values())
    else:
        for ref in remove:      # (one transaction for all was slower here: its commit syncs)
            repo.set_ref(ref, None)
        freed = repo.prune_unreachable()
    dirs = _remove_layer_storage(layer_dirs, keep_layers, dry_run)
    return PruneReport(tuple(remove), tuple(dirs), freed)
