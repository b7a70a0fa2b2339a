"""Find the image a verb names, pulling it when it is not in the store yet."""

from __future__ import annotations

from typing import Callable

from ..errors import ImageInUse, ImageNotFound
from ..images.model import Image
from ..images.store import Store
from ..paths import Paths


def ensure_image(paths: Paths, store: Store, ref: str, say: Callable[[str], None],
                 pull: bool = True, update: bool = False) -> tuple[Image | None, str]:
    """(image, name it is known by). A name or ID prefix in the store wins; otherwise the
    reference is pulled (or, with ``pull=False``, (None, ref) is returned). ``update`` asks
    the source for a newer version first; when the source cannot be reached (an image that
    came from a file, a registry that is down) the stored image is used, with a warning."""
    if update:
        return _refresh(paths, store, ref, say)
    try:
        image = store.resolve(ref)
        return image, _name_for(image, ref)
    except ImageNotFound:
        if not pull:
            return None, ref
    from ..images.pull import PullOptions, pull_image

    image = pull_image(paths, store, ref, PullOptions(), say)
    return image, _name_for(image, ref)


def _name_for(image: Image, ref: str) -> str:
    return image.name or ref


def _refresh(paths: Paths, store: Store, ref: str, say: Callable[[str], None]) -> tuple[Image, str]:
    from ..errors import SysContainersError
    from ..images.pull import PullOptions, pull_image

    try:
        image = pull_image(paths, store, ref, PullOptions(update=True), say)
        return image, _name_for(image, ref)
    except SysContainersError as e:
        try:
            image = store.resolve(ref)
        except ImageNotFound:
            raise e from None
        say(f"warning: could not look for a newer {ref} ({e}); using the stored image")
        return image, _name_for(image, ref)


def delete_images(paths: Paths, store: Store, texts: list[str], force: bool = False) -> list[str]:
    """``images delete``: every name (or unique ID prefix) resolved first, so a bad one
    deletes nothing; an image an installed container uses is refused unless ``force``
    (docs/operations.md, "Checks on what the operator asks"). Returns what was deleted.
    The caller holds the host lock."""
    from dataclasses import replace

    from ..deploy.deployment import image_users, in_use_image_ids

    targets: dict[str, Image] = {}
    for text in texts:
        for image in store.resolve_all(text):
            known = targets.get(image.id)
            names = known.names + tuple(n for n in image.names if n not in known.names) \
                if known else image.names
            targets[image.id] = replace(image, names=names)
    if not force:
        all_names = {i.id: i.names for i in store.images()}
        users = image_users(paths)
        for image in targets.values():
            _refuse_if_used(image, all_names.get(image.id, ()), users)
    in_use = in_use_image_ids(paths)
    deleted = []
    for image in targets.values():
        deleted += store.delete(image, in_use) or [image.id]
    return deleted


def _refuse_if_used(image: Image, all_names: tuple[str, ...], users) -> None:
    """An image is in use when a deployment's info names its ID or commit. Removing one of
    several names is fine, unless a container was installed under that name (update asks
    for it again); removing the last name (or deleting by ID) is refused."""
    using = [u for u in users if image.id in (u.image_id, u.commit) or u.commit == image.commit]
    if not using:
        return
    left = [n for n in all_names if n not in image.names]
    if left and not any(u.image_name in image.names for u in using):
        return
    label = ", ".join(image.names) or image.id[:12]
    who = ", ".join(f"{u.name} ({u.name}.{u.index})" for u in using)
    raise ImageInUse(f"image {label} ({image.id[:12]}) is used by the installed container(s) "
                     f"{who}: uninstall (or update --rebase) them first, or use --force")
