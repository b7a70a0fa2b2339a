"""Records that describe images in the store. Immutable; built by the store package, read by
everyone. The store's modules (store, prune, verify) share these and import nothing of each
other's records, so they form no import circle."""

from __future__ import annotations

from dataclasses import dataclass, field

# The ref of an image's merged tree is MERGED_PREFIX + image ID (docs/formats.md).
MERGED_PREFIX = "syscontainers/merged/"


@dataclass(frozen=True)
class Layer:
    digest: str            # "sha256:<hex>" (the compressed blob's digest, as in the manifest)
    size: int              # blob size (commit metadata docker.size)


@dataclass(frozen=True)
class Image:
    """One image in the store.

    ``names`` are every image ref (``ociimage/<encoded name>``) pointing at this image's commit
    (empty for a dangling image, i.e. one only kept alive by deployments or not at all).
    """

    id: str                        # manifest digest hex (else config digest hex), no "sha256:"
    digest: str                    # "sha256:<id>" form of the same
    names: tuple[str, ...]         # decoded image names, e.g. "127.0.0.1:5000/a/b:v1"
    commit: str                    # OSTree commit checksum of the image ref
    manifest_raw: str              # docker.manifest, exactly as stored
    manifest: dict
    layers: tuple[Layer, ...]      # in application order (lowest first)
    config: dict = field(default_factory=dict)   # parsed config blob ({} when unknown)
    created: int = 0               # epoch seconds (config "created", else the commit's time)
    # the manifest names a config blob whose ref the store lacks (atomic's `images prune`
    # deletes config refs): labels are unknown, not empty (docs/formats.md, "Refs")
    config_missing: bool = False

    @property
    def name(self) -> str | None:
        return self.names[0] if self.names else None

    @property
    def labels(self) -> dict[str, str]:
        cfg = self.config.get("config") or self.config.get("container_config") or {}
        return dict(cfg.get("Labels") or {})

    @property
    def virtual_size(self) -> int:
        return sum(layer.size for layer in self.layers)


@dataclass(frozen=True)
class BlobEntry:
    """A layer or config ref (``ociimage/<64 hex>``) that is not an image itself: what
    ``images list --all`` shows besides the images, as atomic listed them (untagged)."""

    id: str                # the blob's digest hex (the ref's name)
    kind: str              # "layer", or "config" (an image's config blob)
    commit: str
    size: int              # commit metadata docker.size (0 when absent)
    created: int           # the commit's timestamp (when it was imported)


@dataclass(frozen=True)
class PruneReport:
    """What ``images prune`` removed (or, in a dry run, would remove)."""

    removed_refs: tuple[str, ...]
    removed_dirs: tuple[str, ...]
    bytes_freed: int


@dataclass(frozen=True)
class TamperedFile:
    """A file of a layer whose object no longer hashes to its name (``images verify``)."""

    layer: str      # layer digest
    path: str       # path inside the layer
    expected: str   # checksum the object is named by
    actual: str     # checksum of its content now
