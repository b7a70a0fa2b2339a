"""auto-update: update every container that has an auto-update policy, one at a time, in
dependency order (docs/operations.md "Unattended updates (auto-update)").

Per container: ``registry`` asks the recorded source (the access record, as ``update`` does:
the same-image rule is config + layer digests), ``local`` looks only at the image stored under
the container's image name (``update --offline``). The update itself is ``update`` with
``controlled=True``: the new version must stay up (and pass the health gate, when there is
one) or it is rolled back. One row per container, never the end of the others:

- ``updated``, ``unchanged``;
- ``rolled-back``: the new version failed and the previous one runs again (UpdateFailed);
- ``unchecked``: the source could not be asked (SourceUnavailable), nothing changed;
- ``failed``: any other error (the update's own rules say what is left);
- ``pinned``: ``pin NAME`` holds it at its version: not checked, not updated;
- ``--dry-run``: ``would-update`` / ``unchanged`` / ``unchecked`` / ``failed``, nothing pulled
  or written; ``--stage``: ``staged`` / ``unchanged`` / ``unchecked`` / ``failed``.

A dependency that failed or was rolled back does not hold back its dependents: each runs its
own health gate, and a rolled-back dependency runs its previous, known-good version.
"""

from __future__ import annotations

import heapq
import re
from dataclasses import dataclass
from typing import Callable

from ..deploy import deployment as dl
from ..errors import ConfigError, SourceUnavailable, SysContainersError, UpdateFailed
from ..images.store import Store
from ..lock import host_lock
from ..paths import Paths
from . import build as b
from .activation import Host
from .autopolicy import policy_of
from .check import available
from .staging import stale_reason, staged_for, write_marker
from .switch import reconcile
from .update import (UpdateRequest, _build_request, _known_secrets, _live, _revision_or_blank,
                     _target_image, _unchanged, find_target, update)

Say = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class AutoUpdateRequest:
    dry_run: bool = False      # check only: nothing pulled or written
    stage: bool = False        # pull and build the new deployments, switch nothing
    timeout: float = 10.0      # the controlled update's settle time (update --timeout)


@dataclass(frozen=True)
class AutoUpdateRow:
    container: str
    policy: str
    image: str          # the image name the container runs
    before: str         # image ID before ("" when it could not be read)
    after: str          # image ID after (dry-run: the one available; --stage: the one staged)
    result: str
    reason: str | None = None

    def as_json(self) -> dict:
        row = {"container": self.container, "policy": self.policy, "image": self.image,
               "from": self.before, "to": self.after, "result": self.result}
        return {**row, "reason": self.reason} if self.reason else row


def auto_update(paths: Paths, req: AutoUpdateRequest, say: Say) -> list[AutoUpdateRow]:
    policies = _policies(paths, say)
    rows = []
    for name in update_order(paths, sorted(policies), say):
        policy, image, pinned = policies[name]
        if pinned is not None:
            rows.append(AutoUpdateRow(name, policy, image, *_pinned(paths, name, pinned)))
            continue
        if req.dry_run:
            row = _dry_run(paths, name, policy)
        elif req.stage:
            row = _stage(paths, name, policy, say)
        else:
            row = _update(paths, name, policy, req.timeout, say)
        rows.append(AutoUpdateRow(name, policy, image, *row))
    return rows


def _policies(paths: Paths, say: Say) -> dict[str, tuple[str, str, str | None]]:
    """NAME -> (policy, image name, why it is pinned or None) of the installed containers
    whose policy is not off. A container whose info cannot be read has no known policy: a
    warning (``list`` shows it broken), no row."""
    found = {}
    for name in dl.installed_names(paths):
        try:
            info = dl.current(paths, name).read_info()
        except SysContainersError as e:
            say(f"warning: auto-update skips {name}: {e}")
            continue
        if policy_of(info) != "off":
            # `pin NAME` (where the info file has "pinned"): held at its version, not updated
            pinned = (getattr(info, "pinned_reason", None) or "pinned") \
                if getattr(info, "pinned", False) else None
            found[name] = (policy_of(info), info.image, pinned)
    return found


def _pinned(paths: Paths, name: str, why: str) -> tuple:
    revision = _revision_or_blank(paths, name)
    return revision, revision, "pinned", why


def _request(name: str, policy: str, timeout: float = 10.0) -> UpdateRequest:
    return UpdateRequest(name=name, controlled=True, timeout=timeout,
                         offline=policy == "local", verb="auto-update")


def _update(paths: Paths, name: str, policy: str, timeout: float, say: Say) -> tuple:
    before = _revision_or_blank(paths, name)
    reason = None
    try:
        result = update(paths, _request(name, policy, timeout), say)
        result = "updated" if result == "updated" else "unchanged"
    except UpdateFailed as e:
        result, reason = "rolled-back", str(e)
    except SourceUnavailable as e:
        result, reason = "unchecked", str(e)
    except SysContainersError as e:
        result, reason = "failed", str(e)
    return before, _revision_or_blank(paths, name), result, reason


def _dry_run(paths: Paths, name: str, policy: str) -> tuple:
    """As ``update --check`` decides, without rendering anything: the manifest only
    (registry) or the store only (local)."""
    before = _revision_or_blank(paths, name)
    try:
        info = _live(paths, name).read_info()
        found = find_target(Store(paths), info, _request(name, policy))
    except SourceUnavailable as e:
        return before, "", "unchecked", str(e)
    except SysContainersError as e:
        return before, "", "failed", str(e)
    avail, same = available(info, found)
    return before, avail, "unchanged" if same else "would-update", None


def _stage(paths: Paths, name: str, policy: str, say: Say) -> tuple:
    before = _revision_or_blank(paths, name)
    req = _request(name, policy)
    values, secrets = _known_secrets(paths, req)
    try:
        with b.secrets_masked(values, secrets):
            result, after = _stage_locked(paths, req, say)
    except SourceUnavailable as e:
        return before, before, "unchecked", str(e)
    except SysContainersError as e:
        return before, before, "failed", str(e)
    return before, after, result, None


def _stage_locked(paths: Paths, req: UpdateRequest, say: Say) -> tuple[str, str]:
    """Pull the new image and build ``.NAME.N.staged`` (lifecycle/staging.py); the live and
    the rollback deployment are not touched."""
    with host_lock(paths):
        dl.clean_partials(paths, req.name)
        cur = _live(paths, req.name)
        reconcile(Host.for_paths(paths), req.name, say)
        info = cur.read_info()
        if info.rpm_installed:
            raise ConfigError(f"{req.name}: a package owns its host files; --stage does not "
                              "stage it (auto-update without --stage updates it)")
        store = Store(paths)
        found = find_target(store, info, req)
        image, image_name = _target_image(paths, store, found, req, say)
        if _unchanged(info, found.current, image, req):
            return "unchanged", info.revision
        staged, marker = staged_for(paths, cur)
        if stale_reason(cur, marker, image.id, req) is None:
            say(f"{req.name}: {image.id[:12]} is staged already")
            return "staged", image.id
        b.build(paths, store, _build_request(paths, req, cur, info, image, image_name, found.access),
                dl.other(paths, cur), place=staged)
        write_marker(staged, cur, image.id)
        say(f"staged {req.name}: {info.revision[:12]} -> {image.id[:12]} (switched by the next "
            "auto-update or update)")
        return "staged", image.id


# --- dependency order ----------------------------------------------------------------------

_ORDER_KEYS = ("After", "Requires", "Wants", "BindsTo", "Requisite", "PartOf")


def unit_dependencies(unit_text: str) -> tuple[set[str], set[str]]:
    """(units this unit comes after, units it comes before), from its [Unit] section:
    After=/Requires=/Wants=/BindsTo=/Requisite=/PartOf= name what must be updated first,
    Before= what must come later."""
    first, later, section = set(), set(), ""
    for raw in unit_text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line
            continue
        key, eq, value = line.partition("=")
        if section != "[Unit]" or not eq:
            continue
        if key.strip() in _ORDER_KEYS:
            first.update(value.split())
        elif key.strip() == "Before":
            later.update(value.split())
    return first, later


def update_order(paths: Paths, names: list[str], say: Say) -> list[str]:
    """``names`` so that a container comes after those its unit depends on (only the
    dependencies among ``names`` count); otherwise by name. A cycle: what is left goes in
    name order, with a warning."""
    wanted = set(names)
    edges: dict[str, set[str]] = {n: set() for n in names}     # n -> those that must be first
    for name in names:
        first, later = unit_dependencies(_unit_text(paths, name))
        edges[name] |= {d for d in map(_container_of, first) if d in wanted and d != name}
        for d in map(_container_of, later):
            if d in wanted and d != name:
                edges[d].add(name)
    order: list[str] = []
    ready = [n for n in names if not edges[n]]
    heapq.heapify(ready)
    waiting = {n: set(e) for n, e in edges.items() if e}
    while ready:
        name = heapq.heappop(ready)
        order.append(name)
        for other in sorted(waiting):
            waiting[other].discard(name)
            if not waiting[other]:
                del waiting[other]
                heapq.heappush(ready, other)
    if waiting:
        say(f"warning: the units of {', '.join(sorted(waiting))} depend on each other in a "
            "cycle: they are updated in name order")
        order += sorted(waiting)
    return order


def _unit_text(paths: Paths, name: str) -> str:
    """The installed unit (what systemd runs), else the live deployment's copy."""
    for path in (paths.unit_file(name), getattr(dl.current(paths, name), "unit_copy", None)):
        try:
            return path.read_text() if path is not None else ""
        except (OSError, UnicodeDecodeError):
            continue
    return ""


def _container_of(unit: str) -> str:
    return re.sub(r"\.service$", "", unit)
