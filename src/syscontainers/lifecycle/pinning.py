"""``pin NAME [--reason TEXT]`` / ``unpin NAME`` (docs/operations.md, "Pinning"): a pinned
container is skipped by `update --all` and `auto-update` (reported as "pinned"), and `update
NAME` refuses it without --force. The pin is a key of the live deployment's info file,
carried across updates."""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from ..deploy import deployment as dl
from ..errors import ContainerNotFound
from ..fileops import write_atomic
from ..lock import host_lock
from ..paths import Paths

Say = Callable[[str], None]


def set_pin(paths: Paths, name: str, pinned: bool, reason: str | None, say: Say) -> bool:
    """Returns whether anything changed."""
    dl.validate_name(name)
    with host_lock(paths):
        dep = dl.current(paths, name)
        if dep is None:
            raise ContainerNotFound(f"container {name} is not installed")
        info = dep.read_info()
        new = replace(info, pinned=pinned, pinned_reason=reason if pinned else None)
        if new == info:
            say(f"{name} is {'already pinned' if pinned else 'not pinned'}")
            return False
        write_atomic(dep.info_path, new.to_json(), mode=dl.PRIVATE_FILE_MODE, sync_dir=True)
    say(f"pinned {name}" + (f": {reason}" if reason else "") if pinned else f"unpinned {name}")
    return True
