"""The image store over the libostree repository: images and layers. Format details:
docs/formats.md.

On-disk format (atomic / containers-image ``ostree:`` transport compatible):
- layer  : commit on ``ociimage/<layer digest hex>`` of the layer tree as is (whiteouts kept),
           metadata ``docker.size``, ``docker.uncompressed_size``, ``docker.uncompressed_digest``
           (all GVariant strings, as ``ostree commit --add-metadata-string`` wrote them).
- config : commit on ``ociimage/<config digest hex>`` of a tree holding one file ``content``
           (the config blob), metadata ``docker.size``.
- image  : commit on ``ociimage/<encoded name>`` of a tree holding ``manifest.json``, metadata
           ``docker.manifest`` (the manifest, exactly), ``docker.digest`` ("sha256:..."),
           ``signatures`` ("0").
- merged : one commit per image with every layer applied (merge.py), on
           ``syscontainers/merged/<image id>``, outside ``ociimage/`` so atomic's prune never
           mistakes it for an image; metadata ``docker.manifest`` and ``docker.digest`` again, so
           an image kept only by its merged tree can still be listed.

gi is imported lazily (repo.py, on the first access), so importing this module costs nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable

from ... import faults
from ...errors import AmbiguousImage, BadImage, ImageNotFound, ReferenceError_, StoreError
from ...paths import Paths
from .. import imagemeta
from ..model import MERGED_PREFIX, BlobEntry, Image, Layer, PruneReport, TamperedFile
from ..reference import (LAYER_PREFIX, decode_name, image_ref_name, is_layer_ref,
                        layer_ref_name, parse_docker_name, validate_digest)


CONFIG_FILE = "content"
MANIFEST_FILE = "manifest.json"

# repository path -> (its ociimage/ refs, the tagged images read from them). Every record
# comes from those refs and the commits they name, and commits never change: the same refs
# give the same images, so a verb that looks images up once per container (update --all,
# update --check --all) reads them once, not once per container (docs/performance.md).
_TAGGED: dict[str, tuple[dict[str, str], dict[str, Image]]] = {}



def _hex(digest: str) -> str:
    return digest.split(":", 1)[1]


def _is_hex_id(text: str) -> bool:
    return bool(text) and all(c in "0123456789abcdef" for c in text)


def _check_unique(prefix: str, matches: list[Image]) -> None:
    """AmbiguousImage listing every image an ID prefix matches (one line)."""
    if len(matches) < 2:
        return
    listed = "; ".join(f"{i.id[:12]} ({', '.join(i.names) or '<none>'})"
                       for i in sorted(matches, key=lambda i: i.id))
    raise AmbiguousImage(f"the ID prefix {prefix!r} matches {len(matches)} images: {listed}; "
                         "give more of the ID, or a name")


class Store:
    """The repository of ``paths``: opened lazily, created (mode ``paths.repo_mode``) on the
    first write. Readers of a missing repository see an empty store."""

    def __init__(self, paths: Paths):
        self.paths = paths
        self._repo = None

    def _reader(self):
        """The Repo wrapper (repo.py, the only module that loads gi), or None when the
        repository does not exist yet."""
        if self._repo is None:
            from .repo import Repo
            self._repo = Repo.open(self.paths.repo, self.paths.repo_mode, create=False)
        return self._repo

    def _writer(self):
        if self._reader() is None:
            from .repo import Repo
            self._repo = Repo.open(self.paths.repo, self.paths.repo_mode, create=True)
        return self._repo

    # --- reading ---------------------------------------------------------------------------
    def images(self, include_dangling: bool = False) -> list[Image]:
        """Tagged images (one record per image ID, all its names); with ``include_dangling``
        also images without a name: atomic's ``ociimage/<id>`` image refs and images kept only
        by their merged tree."""
        tagged = self._tagged()
        result = list(tagged.values())
        if include_dangling:
            seen = set(tagged)
            for image in self._dangling():
                if image.id not in seen:
                    seen.add(image.id)
                    result.append(image)
        return result

    def blob_entries(self) -> list[BlobEntry]:
        """Layer and config refs that are not images (``images list --all``), by ID."""
        repo = self._reader()
        if repo is None:
            return []
        configs = {_hex(d) for d in (imagemeta.config_digest(i.manifest)
                                     for i in self.images(include_dangling=True)) if d}
        entries = []
        for ref, commit in sorted(repo.list_refs(LAYER_PREFIX).items()):
            if not is_layer_ref(ref) or self._record(repo, commit, ()) is not None:
                continue
            blob = ref[len(LAYER_PREFIX):]
            entries.append(BlobEntry(blob, "config" if blob in configs else "layer", commit,
                                     self._layer_size(repo, "sha256:" + blob, 0),
                                     repo.commit_timestamp(commit)))
        return entries

    def resolve(self, name_or_id: str) -> Image:
        """By exact name, by its normalised docker form (``busybox`` ->
        ``docker.io/library/busybox:latest``), else by a unique ID prefix of a tagged image.
        A name match puts that name first in ``names``."""
        image = self._by_name(name_or_id)
        if image is not None:
            return image
        matches = self._by_id_prefix(name_or_id)
        if not matches:
            raise ImageNotFound(f"image {name_or_id} not found")
        _check_unique(name_or_id, matches)
        return matches[0]

    def resolve_all(self, name_or_id: str) -> list[Image]:
        """For delete: a name match gives that image with ``names`` narrowed to the one name
        (so deleting it removes only that tag); an ID prefix gives the one tagged image it
        matches, with all its names. A prefix matching several images is an error listing
        them (never "delete them all": see docs/operations.md, "Checks on what the operator
        asks")."""
        image = self._by_name(name_or_id)
        if image is not None:
            return [replace(image, names=image.names[:1])]
        matches = self._by_id_prefix(name_or_id)
        if not matches:
            raise ImageNotFound(f"image {name_or_id} not found")
        _check_unique(name_or_id, matches)
        return matches

    def find(self, name: str) -> Image | None:
        """The image stored under exactly ``name`` (no normalisation, no ID prefixes)."""
        repo = self._reader()
        if repo is None:
            return None
        commit = repo.resolve(image_ref_name(name))
        if commit is None:
            return None
        record = self._record(repo, commit, ())
        if record is None:
            return None
        image = self._tagged().get(record.id, replace(record, names=(name,)))
        others = tuple(n for n in image.names if n != name)
        return replace(image, names=(name,) + others, commit=commit)

    def by_id(self, image_id: str) -> Image | None:
        """The image with exactly this ID, named or not: a deployed image keeps its merged
        tree, so update finds the installed version after its name moved on."""
        if not _is_hex_id(image_id):
            return None
        image = self._tagged().get(image_id)
        if image is not None:
            return image
        repo = self._reader()
        if repo is None:
            return None
        commit = repo.resolve(MERGED_PREFIX + image_id)
        return None if commit is None else self._record(repo, commit, ())

    def has_layer(self, digest: str) -> bool:
        repo = self._reader()
        if repo is None:
            return False
        return repo.resolve(layer_ref_name(digest)) is not None

    def _by_name(self, text: str) -> Image | None:
        candidates = [text]
        try:
            normalised = str(parse_docker_name(text)[0])
            if normalised != text:
                candidates.append(normalised)
        except ReferenceError_:
            pass
        for name in candidates:
            image = self.find(name)
            if image is not None:
                return image
        return None

    def _by_id_prefix(self, text: str) -> list[Image]:
        prefix = text[len("sha256:"):] if text.startswith("sha256:") else text
        if not _is_hex_id(prefix):
            return []
        return [image for image in self._tagged().values() if image.id.startswith(prefix)]

    # --- records ---------------------------------------------------------------------------
    def _tagged(self) -> dict[str, Image]:
        """{image id: Image} for every valid ``ociimage/<encoded name>`` ref."""
        repo = self._reader()
        if repo is None:
            return {}
        refs = repo.list_refs(LAYER_PREFIX)
        known = _TAGGED.get(str(self.paths.repo))
        if known is not None and known[0] == refs:
            return dict(known[1])
        records: dict[str, Image | None] = {}
        groups: dict[str, Image] = {}
        for ref, commit in sorted(refs.items()):
            if is_layer_ref(ref):
                continue
            try:
                name = decode_name(ref[len(LAYER_PREFIX):])
            except ReferenceError_:
                continue
            if commit not in records:
                records[commit] = self._record(repo, commit, ())
            record = records[commit]
            if record is None:
                continue
            group = groups.get(record.id)
            groups[record.id] = (replace(record, names=(name,)) if group is None
                                 else replace(group, names=group.names + (name,)))
        _TAGGED[str(self.paths.repo)] = (refs, dict(groups))
        return groups

    def _dangling(self) -> list[Image]:
        repo = self._reader()
        if repo is None:
            return []
        found = []
        for ref, commit in sorted(repo.list_refs().items()):
            if is_layer_ref(ref) or ref.startswith(MERGED_PREFIX):
                record = self._record(repo, commit, ())
                if record is not None:
                    found.append(record)
        return found

    def _record(self, repo, commit: str, names: tuple[str, ...]) -> Image | None:
        """The Image described by a commit holding docker.manifest; None for other commits."""
        meta = repo.commit_metadata(commit)
        raw = meta.get("docker.manifest")
        if not isinstance(raw, str):
            return None
        try:
            manifest = imagemeta.parse_manifest(raw, commit)
            layer_items = imagemeta.layer_digests(manifest, commit)
        except BadImage:
            return None
        config_digest = imagemeta.config_digest(manifest)
        image_id = self._image_id(meta.get("docker.digest"), config_digest, commit)
        missing = False
        if manifest.get("fsLayers"):
            config = imagemeta.schema1_config(manifest)
        else:
            config = self._config(repo, config_digest)
            missing = config_digest is not None and config is None
            config = config or {}
        created = imagemeta.parse_created(config.get("created"))
        if created is None:
            created = repo.commit_timestamp(commit)
        layers = tuple(Layer(d, self._layer_size(repo, d, size)) for d, size in layer_items)
        return Image(id=image_id, digest=f"sha256:{image_id}", names=names, commit=commit,
                     manifest_raw=raw, manifest=manifest, layers=layers, config=config,
                     created=created, config_missing=missing)

    @staticmethod
    def _image_id(digest, config_digest: str | None, commit: str) -> str:
        for candidate in (digest, config_digest):
            try:
                return _hex(validate_digest(candidate))
            except ReferenceError_:
                continue
        return commit

    def _config(self, repo, digest: str | None) -> dict | None:
        """The parsed config blob; {} without a digest, None when its ref is missing."""
        if digest is None:
            return {}
        commit = repo.resolve(layer_ref_name(digest))
        if commit is None:
            return None
        return imagemeta.parse_config(repo.read_blob_path(commit, CONFIG_FILE))

    @staticmethod
    def _layer_size(repo, digest: str, fallback: int) -> int:
        commit = repo.resolve(layer_ref_name(digest))
        if commit is None:
            return fallback
        try:
            return int(repo.commit_metadata(commit).get("docker.size"))
        except (TypeError, ValueError):
            return fallback

    # --- merged tree -----------------------------------------------------------------------
    # The lock rule (docs/architecture.md, "Store seam"): reading verbs (images info, mount,
    # extract, run) call checkout/read_file/list_dir without the host lock. read_file and
    # list_dir never write: an image without a merged commit (one atomic stored) is merged in
    # memory for them. checkout needs a commit, so it may write the merged commit; it holds
    # libostree's shared repository lock from resolving the merged ref to the end of the
    # checkout. Prune deletes objects under libostree's exclusive lock, so it waits rather
    # than pull objects from under a reader; two readers writing the same merged commit at once
    # write the same content-addressed objects, which is harmless.
    def merged_commit(self, image: Image) -> str:
        """The commit of the image's merged tree, built (and kept on its ref) if missing."""
        repo = self._writer()
        with repo.shared_lock():
            return self._merged_commit(repo, image)

    def _merged_commit(self, repo, image: Image) -> str:
        ref = MERGED_PREFIX + image.id
        commit = repo.resolve(ref)
        if commit is not None:
            return commit
        with repo.transaction():
            commit = self._build_merged(repo, image.layers, image.manifest_raw, image.digest,
                                        image.name or image.id)
            repo.set_ref_in_transaction(ref, commit)
        return commit

    def checkout(self, image: Image, dest: Path, copy: bool = False) -> None:
        """The image's merged tree at ``dest`` (which must not exist): hard links into this
        repository (``copy``: plain copies, for trees the operator may edit)."""
        from .checkout import checkout_commit

        repo = self._writer()
        with repo.shared_lock():
            commit = self._merged_commit(repo, image)
            checkout_commit(repo, commit, dest, self.paths.user_mode, copy=copy)

    @staticmethod
    def _layer_trees(repo, layers, label: str, commits: dict[str, str] | None = None) -> list:
        """``commits``: layers written in the current transaction (their refs are not
        readable before it commits)."""
        from .merge import layer_tree
        commits = commits or {}
        return [layer_tree(repo, commits.get(layer.digest)
                           or repo.layer_commit(layer.digest, label)) for layer in layers]

    def _build_merged(self, repo, layers, manifest_raw: str, digest: str, label: str,
                      commits: dict[str, str] | None = None) -> str:
        from .merge import merge_layers
        return merge_layers(repo, self._layer_trees(repo, layers, label, commits),
                            {"docker.manifest": manifest_raw, "docker.digest": digest})

    def diff_checkout(self, image: Image, path: Path) -> tuple[list[str], list[str], list[str]]:
        """(modified, removed, added) of a checkout of ``image`` at ``path`` (verify NAME)."""
        repo = self._writer()
        with repo.shared_lock():
            commit = self._merged_commit(repo, image)
            return repo.diff_checkout(commit, path, self.paths.user_mode)

    def read_file(self, image: Image, path: str) -> bytes | None:
        """A regular file of the merged tree (symlinks are not followed); None if absent.
        Never writes (see the lock rule above)."""
        return self._read_merged(image, path, want="file")

    def list_dir(self, image: Image, path: str) -> list[str] | None:
        """Sorted names in a directory of the merged tree; None if it is not a directory.
        Never writes (see the lock rule above)."""
        return self._read_merged(image, path, want="dir")

    def _read_merged(self, image: Image, path: str, want: str):
        from .merge import merged_view, view_lookup
        repo = self._reader()
        if repo is None:
            raise ImageNotFound(f"image {image.name or image.id} not found")
        with repo.shared_lock():
            commit = repo.resolve(MERGED_PREFIX + image.id)
            if commit is not None:
                node = repo.tree_lookup(commit, path)
                if node is not None and node[0] == "dir":
                    files, dirs = repo.load_dirtree(node[1])
                    node = ("dir", sorted([n for n, _ in files] + [n for n, _t, _m in dirs]))
            else:
                label = image.name or image.id
                node = view_lookup(merged_view(repo, self._layer_trees(repo, image.layers,
                                                                        label)), path)
            if node is None or node[0] != want:
                return None
            return node[1] if want == "dir" else repo.read_file_object(node[1])

    # --- importing -------------------------------------------------------------------------
    def import_layer(self, layer: Layer, blob: Path, diff_id: str | None = None,
                     say: Callable[[str], None] | None = None) -> str:
        """Import one layer blob (gzip or plain tar) on ``ociimage/<hex>``; return its commit.

        The blob must hash to ``layer.digest`` (and its tar to ``diff_id``, when given, and be
        ``layer.size`` bytes when that is known); every entry is checked (layers.py) before
        libostree sees it. A present layer is not read again. BadImage: nothing is written.
        """
        from .layer_import import import_layer
        return import_layer(self._writer(), layer, Path(blob), diff_id,
                            strip_setid=self.paths.user_mode, say=say)

    def import_layers(self, items: list[tuple[Layer, Path, str | None]],
                      say: Callable[[str], None] | None = None) -> None:
        """Import several layers (see :meth:`import_layer`), stopping at the first error."""
        for layer, blob, diff_id in items:
            self.import_layer(layer, blob, diff_id, say)

    def write_image(self, name: str, manifest_raw: str, digest: str,
                    config_raw: bytes | None) -> Image:
        """Store image ``name`` (its layers already imported): config blob, image ref and
        merged tree, in one transaction. Returns the stored image."""
        validate_digest(digest)
        manifest = imagemeta.parse_manifest(manifest_raw, name)
        layers = [Layer(d, s) for d, s in imagemeta.layer_digests(manifest, name)]
        missing = [layer.digest for layer in layers if not self.has_layer(layer.digest)]
        if missing:
            raise StoreError(f"image {name}: layer {missing[0]} is not in the store")
        config_digest = self._checked_config(manifest, config_raw, name)
        repo = self._writer()
        with repo.transaction():
            self._write_image_refs(repo, name, manifest_raw, digest, config_digest, config_raw,
                                   layers, {})
        return self._read_back(name)

    def import_image(self, name: str, manifest_raw: str, digest: str,
                     blobs: Iterable[tuple[Layer, Path]],
                     config: Callable[[], tuple[bytes | None, list[str | None]]],
                     say: Callable[[str], None] | None = None) -> tuple[Image, tuple[str, ...]]:
        """A pull's whole write in ONE transaction (images/pull.py; docs/performance.md):
        each layer of ``blobs`` not stored yet is checked and written as it comes (in any
        order: as the transport delivers them); then ``config()`` gives the config blob and
        the diff_ids (manifest order), each imported layer's diff_id is checked, and the
        layer refs, the config, the image ref and the merged tree are written. Any failure
        aborts the transaction: no ref at all, not even a good layer's. Returns the image and
        the digests of the layers imported."""
        from .layer_import import check_diff_id, write_layer
        validate_digest(digest)
        manifest = imagemeta.parse_manifest(manifest_raw, name)
        layers = [Layer(d, s) for d, s in imagemeta.layer_digests(manifest, name)]
        repo = self._writer()
        done: dict[str, tuple[Layer, str, object]] = {}
        with repo.transaction():
            for layer, blob in blobs:
                if layer.digest in done or self.has_layer(layer.digest):
                    continue
                commit, summary = write_layer(repo, layer, Path(blob),
                                              strip_setid=self.paths.user_mode, say=say)
                done[layer.digest] = (layer, commit, summary)
                faults.point("pull-layer-written")
            config_raw, diff_ids = config()
            for layer, diff_id in zip(layers, diff_ids):
                if layer.digest in done:
                    check_diff_id(done[layer.digest][0], done[layer.digest][2], diff_id)
            missing = [layer.digest for layer in layers
                       if layer.digest not in done and not self.has_layer(layer.digest)]
            if missing:
                raise StoreError(f"image {name}: layer {missing[0]} is not in the store")
            config_digest = self._checked_config(manifest, config_raw, name)
            commits = {d: commit for d, (_, commit, _) in done.items()}
            for d, commit in commits.items():
                repo.set_ref_in_transaction(layer_ref_name(d), commit)
            self._write_image_refs(repo, name, manifest_raw, digest, config_digest, config_raw,
                                   layers, commits)
        return self._read_back(name), tuple(done)

    def _write_image_refs(self, repo, name: str, manifest_raw: str, digest: str,
                          config_digest: str | None, config_raw: bytes | None,
                          layers: list[Layer], commits: dict[str, str]) -> None:
        """Inside a transaction: config commit, image commit and ref, merged tree."""
        if config_digest and repo.resolve(layer_ref_name(config_digest)) is None:
            tree = repo.mtree_with_files({CONFIG_FILE: config_raw})
            commit = repo.write_commit(tree, {"docker.size": str(len(config_raw))})
            repo.set_ref_in_transaction(layer_ref_name(config_digest), commit)
        tree = repo.mtree_with_files({MANIFEST_FILE: manifest_raw.encode()})
        commit = repo.write_commit(tree, {"docker.manifest": manifest_raw,
                                          "signatures": "0", "docker.digest": digest})
        repo.set_ref_in_transaction(image_ref_name(name), commit)
        image_id = self._image_id(digest, config_digest, commit)
        merged_ref = MERGED_PREFIX + image_id
        if repo.resolve(merged_ref) is None:
            merged = self._build_merged(repo, layers, manifest_raw, digest, name, commits)
            repo.set_ref_in_transaction(merged_ref, merged)

    def _read_back(self, name: str) -> Image:
        image = self.find(name)
        if image is None:
            raise StoreError(f"image {name} could not be read back from the store")
        return image

    @staticmethod
    def _checked_config(manifest: dict, config_raw: bytes | None, name: str) -> str | None:
        """The config digest to store, after checking the blob against the manifest."""
        digest = imagemeta.config_digest(manifest)
        if digest is None or config_raw is None:
            return None
        actual = "sha256:" + hashlib.sha256(config_raw).hexdigest()
        if actual != digest:
            raise BadImage(f"image {name}: the config blob does not match its digest "
                           f"({actual} instead of {digest})")
        return digest

    # --- writing ---------------------------------------------------------------------------
    def tag(self, image: Image, new_name: str) -> None:
        """A second name for the same commit (an existing ``new_name`` is moved)."""
        self._writer().set_ref(image_ref_name(new_name), image.commit)

    def delete(self, image: Image, in_use_ids: frozenset[str] | set[str] = frozenset()
               ) -> list[str]:
        """Remove the image refs of ``image.names`` (an unnamed image: its ``ociimage/<id>``
        ref); then its merged tree, unless another name or ``in_use_ids`` still need it.
        Returns the names removed. Objects go at the next prune."""
        repo = self._reader()
        if repo is None:
            return []
        removed = []
        refs = [(n, image_ref_name(n)) for n in image.names] or [(None, LAYER_PREFIX + image.id)]
        for name, ref in refs:
            if repo.resolve(ref) is not None:
                repo.set_ref(ref, None)
                if name is not None:
                    removed.append(name)
        if image.id not in self._tagged() and image.id not in in_use_ids:
            if repo.resolve(MERGED_PREFIX + image.id) is not None:
                repo.set_ref(MERGED_PREFIX + image.id, None)
        return removed

    def prune(self, in_use_ids: set[str], dry_run: bool = False) -> PruneReport:
        """Remove refs nothing needs and the objects only they reached; see prune.py."""
        from .prune import prune_repo
        repo = self._reader()
        if repo is None:
            return PruneReport((), (), 0)
        return prune_repo(repo, self._tagged(), set(in_use_ids), dry_run,
                          (self.paths.storage, self.paths.layers_dir))

    def forget_tampered(self, tampered: list[TamperedFile]) -> set[str]:
        """Drop the objects that no longer match their names and the refs of their layers,
        so that the next pull of the image fetches those layers again and writes the objects
        anew (verify --repair). Returns the layer digests forgotten."""
        from ..reference import layer_ref_name
        repo = self._writer()
        layers = {t.layer for t in tampered}
        for checksum in {t.expected for t in tampered}:
            repo.delete_file_object(checksum)
        for digest in layers:
            repo.set_ref(layer_ref_name(digest), None)
        return layers

    def verify(self, image: Image) -> list[TamperedFile]:
        """Recompute every file object of every layer; report those whose content changed."""
        from .verify import verify_layers
        repo = self._reader()
        if repo is None:
            raise ImageNotFound(f"image {image.name or image.id} not found")
        return verify_layers(repo, image.layers)
