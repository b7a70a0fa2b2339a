"""One layer blob into the repository: checked (layers.py), imported by libostree, committed.

The blob is read once. Python hashes, inflates and checks it (layers.scan_layer) and writes
every checked entry as an object (store/object_import.py: a file whose object is already stored
is hashed but not written again; docs/performance.md). Everything happens inside one transaction: a bad entry, a digest
mismatch or a libostree error aborts it, and no ref, commit or staged object stays behind.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable

from ...errors import BadImage
from ..layers import DiskBudget, LayerSummary, scan_layer
from .merge import AUTOCREATED_KEY
from ..model import Layer
from ..reference import layer_ref_name

# The logger keeps its documented name (docs/formats.md) since the module moved into store/.


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def _check(layer: Layer, summary: LayerSummary, diff_id: str | None) -> None:
    if summary.digest != layer.digest:
        raise BadImage(f"layer {layer.digest}: the blob does not match its digest "
                       f"(it hashes to {summary.digest})")
    if layer.size > 0 and summary.size != layer.size:
        raise BadImage(f"layer {layer.digest}: the blob is {summary.size} bytes, the manifest "
                       f"says {layer.size}")
    if diff_id and summary.diff_id != diff_id:
        raise BadImage(f"layer {layer.digest}: the uncompressed layer does not match its "
                       f"diff_id {diff_id} (it hashes to {summary.diff_id})")


def _metadata(summary: LayerSummary) -> dict:
    meta = {"docker.size": str(summary.size),
            "docker.uncompressed_size": str(summary.uncompressed_size),
            "docker.uncompressed_digest": summary.diff_id}
    if summary.autocreated:
        meta[AUTOCREATED_KEY] = summary.autocreated
    return meta


def disk_budget(dfd: int) -> DiskBudget:
    """What a layer may unpack to: the free space of the repository's filesystem less a
    reserve (2 % of it, at least 256 MiB), so a gzip bomb is refused before the disk fills."""
    st = os.fstatvfs(dfd)
    reserve = max(256 << 20, st.f_blocks * st.f_frsize // 50)
    return DiskBudget(free=st.f_bavail * st.f_frsize, reserve=reserve)


def _silent(_message: str) -> None:
    pass


def import_layer(repo, layer: Layer, blob: Path, diff_id: str | None, *,
                 strip_setid: bool, say: Callable[[str], None] | None = None) -> str:
    """Import ``blob`` as ``layer`` unless present; return the layer commit checksum.
    ``say``: the verb's reporting callback (entries skipped are a warning there)."""
    ref = layer_ref_name(layer.digest)            # validates the digest first
    existing = repo.resolve(ref)
    if existing is not None:
        return existing
    with repo.transaction():
        commit, summary = write_layer(repo, layer, blob, strip_setid=strip_setid, say=say)
        check_diff_id(layer, summary, diff_id)
        repo.set_ref_in_transaction(ref, commit)
    return commit


def write_layer(repo, layer: Layer, blob: Path, *, strip_setid: bool,
                say: Callable[[str], None] | None = None) -> tuple[str, LayerSummary]:
    """Inside the caller's transaction: check every entry of ``blob``, write its objects and
    the layer's commit (no ref); the blob's digest and size are checked here, its diff_id by
    the caller (:func:`check_diff_id`) before the transaction commits."""
    layer_ref_name(layer.digest)                  # validates the digest first
    budget = disk_budget(repo.dfd())

    def scan(sink) -> LayerSummary:
        return scan_layer(blob, sink, label=layer.digest, strip_setid=strip_setid,
                          max_tar_size=budget.limit, budget=budget)

    try:
        mtree, summary = repo.import_entries(scan)
    except BadImage:
        # A corrupt download reads as garbage: say so rather than blame an entry.
        actual = _file_digest(blob)
        if actual != layer.digest:
            raise BadImage(f"layer {layer.digest}: the blob does not match its digest "
                           f"(it hashes to {actual})") from None
        raise
    _check(layer, summary, None)
    repo.set_tree_root_meta(mtree)
    commit = repo.write_commit(mtree, _metadata(summary))
    if summary.skipped:
        shown = ", ".join(summary.skipped[:5]) + (" ..." if len(summary.skipped) > 5 else "")
        (say or _silent)(f"warning: layer {layer.digest}: {len(summary.skipped)} device "
                         f"node(s) or FIFO(s) not imported: {shown}")
    return commit, summary


def check_diff_id(layer: Layer, summary: LayerSummary, diff_id: str | None) -> None:
    """The uncompressed layer must hash to the config's ``diff_id`` (when known)."""
    _check(layer, summary, diff_id)
