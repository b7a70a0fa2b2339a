"""Recompute every file object of an image's layers (atomic's ``images verify``/``validate``).

A file object is named by the checksum of its content and metadata; reading it back and hashing
it again shows an object changed in place (in a bare repository the objects are the very files
that checkouts hard-link, so a write through a deployment changes them too). Xattrs are not part
of the recomputed checksum: layers are imported without xattrs, and a host may label the objects
(SELinux) after the fact - as atomic did.
"""

from __future__ import annotations

from ..model import Layer, TamperedFile

MISSING = "(missing)"


def _recompute(repo, checksum: str) -> str:
    actual = repo.recompute_file_checksum(checksum)
    return MISSING if actual is None else actual


def _walk(repo, tree: str, prefix: str):
    files, dirs = repo.load_dirtree(tree)
    for name, csum in files:
        yield f"{prefix}{name}", csum
    for name, sub, _meta in dirs:
        yield from _walk(repo, sub, f"{prefix}{name}/")


def verify_layers(repo, layers: tuple[Layer, ...]) -> list[TamperedFile]:
    """[TamperedFile] for every file whose object no longer hashes to its name."""
    seen: dict[str, str] = {}
    bad = []
    for layer in layers:
        tree, _meta = repo.commit_root(repo.layer_commit(layer.digest))
        for path, csum in _walk(repo, tree, ""):
            if csum not in seen:
                seen[csum] = _recompute(repo, csum)
            if seen[csum] != csum:
                bad.append(TamperedFile(layer.digest, path, csum, seen[csum]))
    return bad
