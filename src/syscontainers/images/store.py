"""The libostree repository: images and layers (SPEC 2). CONTRACT STUB — being implemented.

On-disk format (atomic-compatible, see docs/formats.md):
- layer  : commit on ``ociimage/<layer digest hex>``, tree = the layer tar as is (whiteouts kept),
           metadata ``docker.size`` (int64 as atomic/containers-image wrote it).
- image  : commit on ``ociimage/<encoded name>``, metadata ``docker.manifest`` (str),
           ``docker.digest`` (str "sha256:..").
- config : stored as containers/image's ostree transport did (see docs/formats.md).
- merged : one commit per image with every layer applied, on a ref outside ``ociimage/``
           (``syscontainers/merged/<image id>``) so atomic's prune never touches it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..paths import Paths
from .model import Image


@dataclass(frozen=True)
class PruneReport:
    removed_refs: tuple[str, ...]
    removed_dirs: tuple[str, ...]
    bytes_freed: int


@dataclass(frozen=True)
class TamperedFile:
    layer: str      # layer digest
    path: str       # path inside the layer
    expected: str   # checksum the object is named by
    actual: str     # checksum of its content now


class Store:
    """Opens (creating on first use, mode bare/bare-user) the repository of ``paths``."""

    def __init__(self, paths: Paths):
        self.paths = paths

    # --- reading ---------------------------------------------------------------------------
    def images(self, include_dangling: bool = False) -> list[Image]: ...
    def resolve(self, name_or_id: str) -> Image: ...          # ImageNotFound / AmbiguousImage
    def resolve_all(self, name_or_id: str) -> list[Image]: ...  # every match (for delete)
    def find(self, name: str) -> Image | None: ...            # exact stored name, no ID prefixes
    def has_layer(self, digest: str) -> bool: ...

    # --- merged tree -----------------------------------------------------------------------
    def merged_commit(self, image: Image) -> str: ...         # build if missing; checksum
    def read_file(self, image: Image, path: str) -> bytes | None: ...   # from the merged tree
    def list_dir(self, image: Image, path: str) -> list[str] | None: ...

    # --- writing ---------------------------------------------------------------------------
    def tag(self, image: Image, new_name: str) -> None: ...
    def delete(self, image: Image) -> list[str]: ...
    def prune(self, in_use_ids: set[str], dry_run: bool = False) -> PruneReport: ...
    def verify(self, image: Image) -> list[TamperedFile]: ...
