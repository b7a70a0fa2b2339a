"""``images inspect``: the privileges an image would ask of this host if installed as is.

The same review install does (deploy/privileges.py), from a dry-run build: the image is
checked out under a partial name (hard links, removed again), rendered with its defaults and
the OS values, and ``""`` for each variable that ``--set`` must give (docs/operations.md
"Trust model and privileges (--allow)"). The real install may differ when ``--set`` values
add privileges (e.g. mounts injected through a variable).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..deploy import deployment as dl
from ..deploy.privileges import Privilege
from ..errors import RuntimeMissing, SysContainersError
from ..images.model import Image
from ..images.store import Store
from ..deploy.variables import image_variables
from ..paths import Paths
from ..service.runtime import DEFAULT_RUNTIME, Runtime, find_runtime, probe_runtime
from . import build as b


@dataclass(frozen=True)
class ImageReview:
    privileges: tuple[Privilege, ...]
    unavailable: tuple[str, ...]
    note: str = ""          # why the review is missing or partial


def review_image(paths: Paths, store: Store, image: Image) -> ImageReview:
    try:
        required = image_variables(store, image).required
        runtime = _runtime(paths)
        name = f"inspect-{image.id[:12]}"
        req = b.BuildRequest(name, image, image.name or image.id, {v: "" for v in required},
                             runtime)
        paths.checkouts.mkdir(parents=True, exist_ok=True)
        built = b.build(paths, store, req, dl.deployment(paths, name, 0), dry_run=True)
    except SysContainersError as e:
        return ImageReview((), (), f"cannot be rendered without --set values ({e})")
    note = f"with {', '.join(required)} empty (install --display shows the real ones)" \
        if required else ""
    return ImageReview(tuple(sorted(built.privileges)), built.unavailable, note)


def _runtime(paths: Paths) -> Runtime:
    """The configured runtime; its command lines do not matter for the review."""
    try:
        return probe_runtime(find_runtime(paths.config.runtime))
    except RuntimeMissing:
        return Runtime(DEFAULT_RUNTIME, True, False)
