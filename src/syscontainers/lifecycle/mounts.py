"""Image trees outside deployments: run-once bundles, `mount`/`umount`, `extract`
(docs/operations.md, "What each verb does to the host").

Each image has one cached read-only checkout of its merged tree under
``<checkouts>/.syscontainers/images/<image id>`` (hard links into the repo: never written to), used
as the overlay lower dir. DECISION: the cache holds the merged tree of an image rather than
one dir per layer — the same overlay result with one lower dir, and no overlay whiteout
devices to create. A bundle or mount using a cache names its image in an ``image-id`` file, so
`images prune` removes only caches of images that are gone and that nothing uses.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

from ..deploy import deployment as dl
from ..errors import CommandError, UsageError
from ..images.model import Image
from ..images.store import Store
from ..paths import Paths
from ..proc import run


@contextlib.contextmanager
def temp_dir(paths: Paths, prefix: str) -> Iterator[Path]:
    """A private temporary dir under the state dir (same filesystem as the repo: the plain
    checkout fallback needs hard links); always removed."""
    base = paths.tmp_dir
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = base / f"{prefix}-{secrets.token_hex(6)}"
    path.mkdir(mode=0o700)
    try:
        yield path
    finally:
        dl.remove_tree(path)


def cached_checkout(paths: Paths, store: Store, image: Image) -> Path:
    """The image's cached merged-tree checkout (made on first use, atomically)."""
    dest = paths.image_cache / image.id
    if dest.is_dir():
        return dest
    paths.image_cache.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = paths.image_cache / f".{image.id}.partial-{os.getpid()}"
    dl.remove_tree(tmp)
    try:
        store.checkout(image, tmp)
        os.rename(tmp, dest)
    except BaseException:
        dl.remove_tree(tmp)
        raise
    return dest


def overlay_mount(lower: Path, target: Path, upper: Path, work: Path) -> None:
    opts = f"lowerdir={lower},upperdir={upper},workdir={work}"
    run(["mount", "-t", "overlay", "overlay", "-o", opts, str(target)], what=f"mounting {target}")


def readonly_bind(source: Path, target: Path) -> None:
    """A read-only view needs no overlay: a bind mount remounted read-only."""
    run(["mount", "--bind", str(source), str(target)], what=f"mounting {target}")
    try:
        run(["mount", "-o", "remount,bind,ro", str(target)], what=f"mounting {target}")
    except CommandError:
        umount(target)
        raise


def umount(target: Path) -> None:
    run(["umount", str(target)], what=f"unmounting {target}")


@contextlib.contextmanager
def image_rootfs(paths: Paths, store: Store, image: Image, bundle: Path) -> Iterator[Path]:
    """A writable rootfs for a run-once bundle: overlay on the cached checkout (system mode),
    else a plain hard-link checkout inside the bundle."""
    rootfs = bundle / "rootfs"
    if not paths.user_mode:
        (bundle / "image-id").write_text(image.id)
        lower = cached_checkout(paths, store, image)
        for d in ("rootfs", "upper", "work"):
            (bundle / d).mkdir()
        try:
            overlay_mount(lower, rootfs, bundle / "upper", bundle / "work")
        except CommandError:
            for d in ("rootfs", "upper", "work"):
                dl.remove_tree(bundle / d)
        else:
            try:
                yield rootfs
            finally:
                subprocess.run(["umount", "-l", str(rootfs)], capture_output=True)
            return
    store.checkout(image, rootfs)
    yield rootfs


def _mount_state(paths: Paths, target: Path) -> Path:
    key = str(target.resolve()).strip("/").replace("/", "_") or "root"
    return paths.mounts_dir / key


def mount_image(paths: Paths, store: Store, image: Image | None, source: Path | None,
                target: Path, writable: bool) -> None:
    """Mount an image (or a container's rootfs, ``source``) read-only at ``target``; with
    ``writable``, changes go to an upper dir kept under the state dir (paths.mounts_dir) until `umount`."""
    if paths.user_mode:
        raise UsageError("mount needs root (overlay mounts); use `extract` in user mode")
    if not target.is_dir():
        raise UsageError(f"mount point {target} does not exist or is not a directory")
    lower = source if source is not None else cached_checkout(paths, store, image)
    state = _mount_state(paths, target)
    if not writable:
        state.mkdir(parents=True, exist_ok=True)
        if image is not None:
            (state / "image-id").write_text(image.id)
        try:
            readonly_bind(lower, target)
        except BaseException:
            dl.remove_tree(state)
            raise
        return
    dl.remove_tree(state)
    (state / "upper").mkdir(parents=True)
    (state / "work").mkdir()
    if image is not None:
        (state / "image-id").write_text(image.id)
    try:
        overlay_mount(lower, target, state / "upper", state / "work")
    except BaseException:
        dl.remove_tree(state)
        raise


def umount_dir(paths: Paths, target: Path) -> None:
    umount(target)
    dl.remove_tree(_mount_state(paths, target))


def extract(paths: Paths, store: Store, image: Image, target: Path) -> None:
    """A plain copy of the image's tree (no hard links into the repo, so editing the result
    can never corrupt stored objects)."""
    if target.exists() and any(target.iterdir()):
        raise UsageError(f"{target} is not empty")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.partial-{os.getpid()}"
    dl.remove_tree(tmp)
    try:
        store.checkout(image, tmp, copy=True)
        if target.exists():
            target.rmdir()
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _cache_users(paths: Paths) -> set[str]:
    """Image IDs whose cached checkout a run-once bundle or a mount is using now."""
    used = set()
    for base in (paths.tmp_dir, paths.mounts_dir):
        for marker in base.glob("*/image-id") if base.is_dir() else ():
            try:
                used.add(marker.read_text().strip())
            except OSError:
                continue
    return used


def prune_image_cache(paths: Paths, keep_ids: set[str], dry_run: bool) -> list[str]:
    """Remove cached checkouts of images not in ``keep_ids`` and not in use."""
    if not paths.image_cache.is_dir():
        return []
    keep = keep_ids | _cache_users(paths)
    removed = []
    for entry in sorted(paths.image_cache.iterdir()):
        if entry.name not in keep:
            removed.append(str(entry))
            if not dry_run:
                dl.remove_tree(entry)
    return removed


def mount(paths: Paths, req) -> None:
    """``mount IMAGE|NAME DIR`` (a :class:`~.requests.MountRequest`): a plain name (no ``/``,
    no ``:``) of an installed container mounts its deployment's rootfs; anything else names
    an image of the store."""
    store = Store(paths)
    what = req.what
    dep = dl.current(paths, what) if "/" not in what and ":" not in what else None
    if dep is not None:
        mount_image(paths, store, None, dep.rootfs, Path(req.target), req.writable)
    else:
        mount_image(paths, store, store.resolve(what), None, Path(req.target), req.writable)


def extract_image(paths: Paths, text: str, target: Path) -> None:
    """``extract IMAGE DIR``: the image named ``text`` (name or ID prefix) copied to ``target``."""
    store = Store(paths)
    extract(paths, store, store.resolve(text), target)
