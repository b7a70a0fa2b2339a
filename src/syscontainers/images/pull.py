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
3. Start ``skopeo copy`` into a temporary OCI layout whose blobs go to ``paths.blob_cache``.
   Layers already in the store get a *sparse placeholder* of their exact size there first:
   skopeo's OCI destination only stat()s a blob to decide it can reuse it (seen with skopeo
   1.9.3: no request for those blobs reaches the registry), so they are not fetched again, and
   no second copy of them is kept on disk.
4. While skopeo runs, import each missing layer as soon as its blob is complete (skopeo renames
   a blob into place once it has written and fsync()ed it all; ``transport.Copy``): fetching
   the next layers overlaps checking and writing this one (docs/performance.md, "Pull: fetch
   and import overlap"). Everything goes into ONE store transaction (``Store.import_image``):
   each blob is checked against its digest and size as it is read; once skopeo has ended
   well, the config is verified against its digest and each layer against its diff_id, and
   only then are the layer refs, the config and the image ref written and the transaction
   committed. A failure at any step aborts it (skopeo is stopped): no ref at all, not even a
   good layer's, and no half-imported image.
5. Always: empty the blob cache and remove the temporary layout. The cache holds nothing
   between pulls (under the host lock nobody else uses it), so a crash's leftovers are removed
   by the next pull; libostree's staging directory of a killed transaction holds only
   complete, content-addressed objects (no ref names them; a later prune removes what stays
   unused).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol

from ..errors import BadImage
from .. import progress
from ..paths import Paths
from .model import Image, Layer
from .reference import ImageRef, parse_reference
from .transport import Copy, Manifest, Source, SourceOptions, archive_name, open_source, trust_policy

__all__ = ["ImageDestination", "PullOptions", "PullResult", "archive_name", "pull", "pull_image",
           "stored_name"]


class ImageDestination(Protocol):
    """What pull needs of the image store (images/store's ``Store`` is one): layers as they
    arrive, the image ref last, all in one transaction (see the module docstring, step 4)."""

    def find(self, name: str) -> Image | None: ...
    def has_layer(self, digest: str) -> bool: ...
    def import_image(self, name: str, manifest_raw: str, digest: str,
                     blobs: Iterable[tuple[Layer, Path]],
                     config: Callable[[], tuple[bytes | None, list[str | None]]],
                     say: Say) -> tuple[Image, tuple[str, ...]]: ...


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
    # what the source served moments ago (update's check): not asked again (Source.adopt)
    manifest: Manifest | None = None


POLL_SECONDS = 0.02      # how often a running copy is looked at for complete blobs

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
    manifest = source.manifest() if options.manifest is None else source.adopt(options.manifest)
    source.verify(manifest, work)
    if existing is not None and existing.digest == manifest.digest and _complete(store, existing):
        say(f"Image {name} is up to date ({manifest.digest})")
        return PullResult(name, existing, (), True)
    blob_dir.mkdir(parents=True, exist_ok=True)
    _place_holders(store, manifest, blob_dir)
    say(f"Pulling {ref.original or name}")
    image, fetched = _fetch_and_import(store, source, manifest, name, work, blob_dir, say)
    return PullResult(name, image, fetched, False)


def _fetch_and_import(store: ImageDestination, source: Source, manifest: Manifest, name: str,
                      work: Path, blob_dir: Path, say: Say) -> tuple[Image, tuple[str, ...]]:
    """Steps 3-4 of the module docstring: skopeo runs while the store imports what lands."""
    wanted = _missing(store, manifest)
    copy = source.start_copy(work / "layout", blob_dir)
    try:
        def config() -> tuple[bytes, list[str | None]]:
            copy.finish()                       # every blob is in: skopeo's own verdict
            raw = source.config(manifest, blob_dir)
            return raw, _diff_ids(manifest, raw, manifest.layers, source.what)

        size = sum(layer.size for layer in wanted if layer.size > 0)
        shown = progress.step(f"importing {len(wanted)} layer{'s' if len(wanted) != 1 else ''}"
                              f" ({size / 1e6:.1f} MB) into the OSTree repository") \
            if wanted else contextlib.nullcontext()
        with shown:
            return store.import_image(name, manifest.text, manifest.digest,
                                      _arrivals(copy, wanted, source.what), config, say)
    finally:
        copy.stop()                             # a failed import: skopeo ends too


def _missing(store: ImageDestination, manifest: Manifest) -> list[Layer]:
    """The layers to fetch and import: not stored, each digest once, in manifest order."""
    out, seen = [], set()
    for layer in manifest.layers:
        if layer.digest not in seen and not store.has_layer(layer.digest):
            out.append(layer)
        seen.add(layer.digest)
    return out


def _arrivals(copy: Copy, wanted: list[Layer], what: str) -> Iterator[tuple[Layer, Path]]:
    """Each wanted layer with its blob as soon as the copy has it complete (step 3 of the
    module docstring): the store imports it while skopeo still fetches the others. When the
    copy has ended (well: ``finish`` raises skopeo's error) a blob still missing was not
    delivered."""
    pending = list(wanted)
    while pending:
        ready = [layer for layer in pending if copy.blob(layer.digest) is not None]
        if not ready:
            if copy.running():
                time.sleep(POLL_SECONDS)
                continue
            copy.finish()
            ready = [layer for layer in pending if copy.blob(layer.digest) is not None]
            if not ready:
                raise BadImage(f"{what}: layer {pending[0].digest} was not delivered by the "
                               "source")
        for layer in ready:
            pending.remove(layer)
            path = copy.blob(layer.digest)
            if layer.size <= 0:             # schema 1 carries no sizes: the blob's own
                layer = Layer(layer.digest, path.stat().st_size)
            yield layer, path


def _place_holders(store: ImageDestination, manifest: Manifest, blob_dir: Path) -> None:
    """Sparse files standing for the layers the store has (see the module docstring)."""
    for layer in manifest.layers:
        if layer.size <= 0 or not store.has_layer(layer.digest):
            continue        # schema 1 (size unknown): skopeo needs the blob anyway
        path = blob_dir / "sha256" / layer.digest.split(":", 1)[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            f.truncate(layer.size)


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
