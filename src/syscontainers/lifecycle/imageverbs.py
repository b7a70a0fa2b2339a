"""The image verbs behind the CLI: pull, images list/inspect/delete/tag/prune/verify/info.

Each is one function that takes the host lock itself when it writes (reading verbs do not:
docs/operations.md, "Crashes and concurrency") and returns what the CLI prints. Policy lives
here, not in the CLI: which images a delete may take (:func:`images.delete_images`), the
``:latest`` a tag gets, the order of a prune.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..deploy.deployment import in_use_image_ids
from ..images.model import Image
from ..images.store import Store
from ..lock import host_lock
from ..paths import Paths
from .requests import PullRequest

Say = Callable[[str], None]


def pull(paths: Paths, req: PullRequest, say: Say):
    """``pull``: the :class:`~syscontainers.images.pull.PullResult` (``skipped`` when the
    name was present and ``update`` not asked)."""
    from ..images.pull import PullOptions, pull as pull_into

    options = PullOptions(update=req.update, tls_verify=req.tls_verify, creds=req.creds,
                          progress=req.progress, signature_policy=req.signature_policy,
                          auth_file=req.files.auth_file, cert_dir=req.files.cert_dir)
    with host_lock(paths):
        return pull_into(Store(paths), req.image, paths, options, say)


@dataclass(frozen=True)
class ImageUpdate:
    """One image of `images update`: ``result`` "updated", "unchanged" or "failed"."""

    name: str
    result: str
    reason: str | None = None


def update_images(paths: Paths, names: list[str], say: Say) -> list[ImageUpdate]:
    """atomic's `images update`: pull a newer version of each image named (all: every tagged
    image with a registry name); one failure is its row, never the end of the others."""
    from ..errors import SysContainersError

    if not names:
        names = [n for image in Store(paths).images() for n in image.names if _from_registry(n)]
    rows = []
    for name in names:
        try:
            before = Store(paths).find(name)
            result = pull(paths, PullRequest(image=name, update=True), say)
            changed = before is None or before.id != result.image.id
            rows.append(ImageUpdate(name, "updated" if changed else "unchanged"))
        except SysContainersError as e:
            rows.append(ImageUpdate(name, "failed", str(e)))
    return rows


def _from_registry(name: str) -> bool:
    """A stored name with a registry host (``host.domain/...``, ``host:port/...``)."""
    first = name.split("/", 1)[0]
    return "/" in name and ("." in first or ":" in first or first == "localhost")


@dataclass(frozen=True)
class ImageListing:
    images: list[Image]      # newest first
    blobs: list              # layer and config refs (``--all`` only), as atomic listed them


def list_images(paths: Paths, include_dangling: bool = False) -> ImageListing:
    store = Store(paths)
    images = sorted(store.images(include_dangling=include_dangling), key=lambda i: (-i.created, i.id))
    return ImageListing(images, store.blob_entries() if include_dangling else [])


def inspect_image(paths: Paths, text: str):
    """(image, review of what installing it would ask of this host)."""
    from .review import review_image

    store = Store(paths)
    image = store.resolve(text)
    return image, review_image(paths, store, image)


def image_variables(paths: Paths, text: str):
    """(image, its template variables: defaults, required, templates using each)."""
    from ..deploy.variables import image_variables as variables

    store = Store(paths)
    image = store.resolve(text)
    return image, variables(store, image)


def verify_image(paths: Paths, text: str):
    """(image, files whose content no longer matches its checksum)."""
    store = Store(paths)
    image = store.resolve(text)
    return image, store.verify(image)


def delete(paths: Paths, texts: list[str], force: bool = False) -> list[str]:
    """``images delete``: see :func:`images.delete_images`; what was deleted."""
    from .images import delete_images

    with host_lock(paths):
        return delete_images(paths, Store(paths), texts, force)


def tag(paths: Paths, src: str, dest: str) -> str:
    """``images tag``: give the image ``src`` names the name ``dest`` (``:latest`` added
    when it has no tag or digest, as docker does). Returns the name given."""
    from ..images.reference import parse_docker_name

    parse_docker_name(dest)                 # a valid image name (ReferenceError_ otherwise)
    if ":" not in dest.rsplit("/", 1)[-1] and "@" not in dest:
        dest += ":latest"
    store = Store(paths)
    with host_lock(paths):
        store.tag(store.resolve(src), dest)
    return dest


@dataclass(frozen=True)
class PruneResult:
    leftovers: tuple[str, ...]      # uninstalled containers whose deployments were removed
    refs: tuple[str, ...]           # repository refs removed
    removed: tuple[str, ...]        # directories removed (layer checkouts, image caches)
    bytes_freed: int


def prune(paths: Paths, dry_run: bool = False) -> PruneResult:
    """``images prune``: deployments of uninstalled containers go first (their images may
    then go too), then refs and objects nothing needs, then cached image checkouts of images
    that are gone and that no run or mount uses."""
    from .mounts import prune_image_cache
    from .remove import clean_incomplete, leftover_names

    with host_lock(paths):
        leftovers = tuple(leftover_names(paths))
        if not dry_run:
            for name in leftovers:
                clean_incomplete(paths, name, lambda msg: None)
        store = Store(paths)
        report = store.prune(in_use_image_ids(paths), dry_run=dry_run)
        keep = {image.id for image in store.images(include_dangling=True)}
        caches = prune_image_cache(paths, keep, dry_run)
    return PruneResult(leftovers, tuple(report.removed_refs),
                       (*report.removed_dirs, *caches), report.bytes_freed)
