"""Pull: reference -> transport (skopeo) -> store (docs/architecture.md, "The flow").

The caller holds :func:`syscontainers.lock.host_lock` (pull does not take it, so that install
can pull inside its own locked section).

Order of work, and why:
1. Name the image (for docker-archive: from the archive itself) and, without ``update``, stop
   when that name and all its layers are in the store: no network at all.
2. Read the raw manifest (its sha256 is the image ID) and have the trust policy judge the image
   (``Source.verify``: skopeo, by the reference as named, every layer a placeholder); stop
   when the stored image already has that digest and every layer. The verdict comes before
   that stop and before any write: layers already stored never skip it, and a rejected image
   leaves nothing behind (docs/operations.md, "Signatures and the trust policy").
3. Copy into a temporary OCI layout whose blobs go to ``paths.blob_cache``. Layers already in
   the store get a *sparse placeholder* of their exact size there first: skopeo's OCI
   destination only stat()s a blob to decide it can reuse it (seen with skopeo 1.9.3: no
   request for those blobs reaches the registry), so they are not fetched again, and no second
   copy of them is kept on disk.
4. Verify the config against its digest (layers are verified by ``Store.import_layers``),
   import the missing layers, then write the image ref - last, so a failure at any step leaves
   no ref pointing at a half-imported image.
5. Always: empty the blob cache and remove the temporary layout. The cache holds nothing
   between pulls (under the host lock nobody else uses it), so a crash's leftovers are removed
   by the next pull.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from ..errors import BadImage
from .. import progress
from ..paths import Paths
from .model import Image, Layer
from .reference import ImageRef, parse_reference
from .transport import Manifest, SourceOptions, archive_name, open_source, trust_policy

__all__ = ["ImageDestination", "PullOptions", "PullResult", "archive_name", "pull", "pull_image",
           "stored_name"]


class ImageDestination(Protocol):
    """What pull needs of the image store (images/store's ``Store`` is one): pull writes
    layers first and the image ref last (see the module docstring, step 4)."""

    def find(self, name: str) -> Image | None: ...
    def has_layer(self, digest: str) -> bool: ...
    def import_layers(self, items: list[tuple[Layer, Path, str | None]], say: Say) -> None: ...
    def write_image(self, name: str, manifest_raw: str, digest: str,
                    config_raw: bytes | None) -> Image: ...


@dataclass(frozen=True)
class PullOptions:
    update: bool = False
    tls_verify: bool = True
    creds: tuple[str, str] | None = None
    progress: bool = False
    daemon_host: str | None = None        # docker-daemon: socket; default $DOCKER_HOST
    signature_policy: str | None = None   # --signature-policy FILE; default: the host's policy
    auth_file: str | None = None          # --authfile FILE (else the containers auth files)
    cert_dir: str | None = None           # --cert-dir DIR


Say = Callable[[str], None]   # progress lines for the operator; warnings start with "warning: "


def _silent(message: str) -> None:
    pass


@dataclass(frozen=True)
class PullResult:
    name: str                     # the name the image is stored under
    image: Image
    fetched: tuple[str, ...]      # digests of the layers imported by this pull
    skipped: bool                 # nothing done: already present / up to date


def pull_image(paths: Paths, store: ImageDestination, reference: str | ImageRef,
               options: PullOptions = PullOptions(), say: Say = _silent) -> Image:
    """:func:`pull`, for verbs that only need the image."""
    return pull(store, reference, paths, options, say).image


def pull(store: ImageDestination, reference: str | ImageRef, paths: Paths,
         options: PullOptions = PullOptions(), say: Say = _silent) -> PullResult:
    """Pull ``reference`` into ``store``."""
    ref = parse_reference(reference) if isinstance(reference, str) else reference
    if options.signature_policy:          # a wrong FILE is an error even with nothing to pull
        trust_policy(options.signature_policy, paths.user_mode)
    probe = open_source(ref)                      # writes nothing: only asked for names
    name = probe.stored_name()
    for note in probe.notes():
        say(note)
    existing = store.find(name)
    if existing is not None and not options.update and _complete(store, existing):
        say(f"Image {name} is already present")
        return PullResult(name, existing, (), True)
    tmp_root = paths.tmp_dir
    _reset_transient(paths, tmp_root)
    work = Path(tempfile.mkdtemp(prefix="pull-", dir=tmp_root))
    try:
        return _pull_into(store, ref, name, existing, paths, work, options, say)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(paths.blob_cache, ignore_errors=True)


def _complete(store: ImageDestination, image: Image) -> bool:
    """Every layer and the config stored (atomic's prune deletes config refs: a pull of such
    an image fetches the config again, docs/formats.md "Refs")."""
    return not image.config_missing and all(store.has_layer(layer.digest) for layer in image.layers)


def _reset_transient(paths: Paths, tmp_root: Path) -> None:
    """Remove what a crashed pull left (blob cache content, pull-* work dirs)."""
    paths.ensure()
    shutil.rmtree(paths.blob_cache, ignore_errors=True)
    tmp_root.mkdir(mode=0o700, exist_ok=True)
    for leftover in tmp_root.glob("pull-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _pull_into(store: ImageDestination, ref: ImageRef, name: str, existing: Image | None,
               paths: Paths, work: Path, options: PullOptions, say: Say) -> PullResult:
    blob_dir = paths.blob_cache
    policy = trust_policy(options.signature_policy, paths.user_mode, paths.config.registries_d)
    source = open_source(ref, SourceOptions(
        tls_verify=options.tls_verify, creds=options.creds,
        daemon_host=options.daemon_host or os.environ.get("DOCKER_HOST") or None,
        progress=options.progress or progress.enabled(), policy=policy, auth_file=options.auth_file,
        cert_dir=options.cert_dir), work)
    manifest = source.manifest()
    source.verify(manifest, work)
    if existing is not None and existing.digest == manifest.digest and _complete(store, existing):
        say(f"Image {name} is up to date ({manifest.digest})")
        return PullResult(name, existing, (), True)
    blob_dir.mkdir(parents=True, exist_ok=True)
    _place_holders(store, manifest, blob_dir)
    say(f"Pulling {ref.original or name}")
    source.copy(work / "layout", blob_dir)
    present = {layer.digest for layer in manifest.layers if store.has_layer(layer.digest)}
    config_raw = source.config(manifest, blob_dir)
    layers = _with_sizes(manifest, blob_dir)
    diff_ids = _diff_ids(manifest, config_raw, layers, source.what)
    items, seen = [], set(present)
    for layer, diff_id in zip(layers, diff_ids):
        if layer.digest in seen:
            continue
        seen.add(layer.digest)
        items.append((layer, _blob(blob_dir, layer.digest, source.what), diff_id))
    if items:
        size = sum(layer.size for layer, _, _ in items)
        with progress.step(f"importing {len(items)} layer{'s' if len(items) != 1 else ''} "
                           f"({size / 1e6:.1f} MB) into the OSTree repository"):
            store.import_layers(items, say)
    image = store.write_image(name, manifest.text, manifest.digest, config_raw)
    return PullResult(name, image, tuple(layer.digest for layer, _, _ in items), False)


def _place_holders(store: ImageDestination, manifest: Manifest, blob_dir: Path) -> None:
    """Sparse files standing for the layers the store has (see the module docstring)."""
    for layer in manifest.layers:
        if layer.size <= 0 or not store.has_layer(layer.digest):
            continue        # schema 1 (size unknown): skopeo needs the blob anyway
        path = blob_dir / "sha256" / layer.digest.split(":", 1)[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            f.truncate(layer.size)


def _blob(blob_dir: Path, digest: str, what: str) -> Path:
    path = blob_dir / "sha256" / digest.split(":", 1)[1]
    if not path.is_file():
        raise BadImage(f"{what}: layer {digest} was not delivered by the source")
    return path


def _with_sizes(manifest: Manifest, blob_dir: Path) -> tuple[Layer, ...]:
    """Layers with sizes; schema 1 manifests carry none, so take the fetched blob's."""
    out = []
    for layer in manifest.layers:
        if layer.size <= 0:
            path = blob_dir / "sha256" / layer.digest.split(":", 1)[1]
            layer = Layer(layer.digest, path.stat().st_size if path.is_file() else 0)
        out.append(layer)
    return tuple(out)


def _diff_ids(manifest: Manifest, config_raw: bytes, layers: tuple[Layer, ...],
              what: str) -> list[str | None]:
    """Each layer's uncompressed digest from the config (None where unknown: schema 1)."""
    if manifest.config_digest is None:
        return [None] * len(layers)
    try:
        config = json.loads(config_raw)
        ids = config["rootfs"]["diff_ids"]
    except (ValueError, KeyError, TypeError, RecursionError):
        raise BadImage(f"malformed image config in {what}") from None
    if not isinstance(ids, list) or len(ids) != len(layers):
        raise BadImage(f"image config of {what} lists {len(ids) if isinstance(ids, list) else 0} "
                       f"layers, its manifest {len(layers)}")
    return list(ids)


# --- names ---------------------------------------------------------------------------------

def stored_name(ref: ImageRef) -> str:
    """The name a pull of ``ref`` stores (docs/architecture.md, "Transport seam"; a file
    source checks its file)."""
    return open_source(ref).stored_name()
