"""Find the image a verb names, pulling it when it is not in the store yet."""

from __future__ import annotations

from typing import Callable

from ..errors import ImageNotFound
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
