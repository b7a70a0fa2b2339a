"""Staged updates (``auto-update --stage``; docs/operations.md "Unattended updates
(auto-update)", docs/formats.md "Deployments").

A staged update is the next deployment of NAME, checked out and rendered for ``NAME.N`` (the
other slot) but kept as ``.NAME.N.staged``: ``NAME.N`` is the rollback version until the
switch, so staging must not replace it. A marker file ``staged`` inside records what it was
built from: the image ID, and the live deployment (its dir name and a digest of its info
file, which holds the values, the grants and the policy the build used). The next update of
NAME (``auto-update`` or ``update NAME``) that deploys that image onto that same live
deployment renames the staged dir into place instead of building (no checkout, no render);
anything else makes it stale, and a stale one is removed and the update builds as usual.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Callable

from ..deploy import deployment as dl
from ..fileops import unlink_quiet
from ..paths import Paths

MARKER = "staged"


def marker_for(cur: dl.Deployment, image_id: str) -> str:
    return json.dumps({"image-id": image_id, "live": cur.path.name,
                       "live-info-sha256": _info_digest(cur)}, indent=4)


def write_marker(staged, cur: dl.Deployment, image_id: str) -> None:
    """Written last: a staged dir without it (a crash before) is stale."""
    dl.write_private(staged / MARKER, marker_for(cur, image_id))
    dl.fsync_dir(staged)


def staged_for(paths: Paths, cur: dl.Deployment) -> tuple[object, dict | None]:
    """(the staged dir for ``cur``'s other slot, its marker or None)."""
    staged = dl.staged_dir(paths, cur.name, 1 - cur.index)
    try:
        marker = json.loads((staged / MARKER).read_text())
    except (OSError, ValueError):
        marker = None
    return staged, marker if isinstance(marker, dict) else None


def stale_reason(cur: dl.Deployment, marker: dict | None, image_id: str, req) -> str | None:
    """Why a staged deployment cannot be switched in for this update (None: it can)."""
    if marker is None:
        return "it has no record of what was staged"
    if req.rebase or req.set_values or req.allow or req.auto_update is not None:
        return "this update changes the container's settings"
    if marker.get("image-id") != image_id:
        return f"it holds {str(marker.get('image-id'))[:12]}, the update is to {image_id[:12]}"
    if marker.get("live") != cur.path.name or marker.get("live-info-sha256") != _info_digest(cur):
        return "the container changed since it was staged"
    return None


def take_staged(paths: Paths, cur: dl.Deployment, image, req,
                say: Callable[[str], None]) -> bool:
    """Switch a matching staged deployment into ``NAME.N`` (the old rollback version goes
    only now); a stale one is removed. Caller holds the host lock. Returns whether the
    staged one is in place (then nothing needs building)."""
    unused = dl.staged_dir(paths, cur.name, cur.index)   # staged for the slot now live: stale
    if os.path.lexists(unused):
        dl.remove_tree(unused)
    staged, marker = staged_for(paths, cur)
    if not os.path.lexists(staged):
        return False
    why = stale_reason(cur, marker, image.id, req)
    if why is not None:
        say(f"the staged update of {cur.name} is stale ({why}): building it again")
        dl.remove_tree(staged)
        return False
    target = dl.other(paths, cur)
    unlink_quiet(staged / MARKER)
    if os.path.lexists(target.path):
        old = dl.stale_dir(paths, cur.name, target.index)
        os.rename(target.path, old)
        os.rename(staged, target.path)
        dl.fsync_dir(paths.checkouts)
        dl.remove_tree(old)
    else:
        os.rename(staged, target.path)
        dl.fsync_dir(paths.checkouts)
    say(f"using the staged deployment of {cur.name} ({image.id[:12]})")
    return True


def _info_digest(dep: dl.Deployment) -> str:
    try:
        return hashlib.sha256(dep.info_path.read_bytes()).hexdigest()
    except OSError:
        return ""
