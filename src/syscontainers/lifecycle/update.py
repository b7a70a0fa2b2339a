"""update and rollback (SPEC 4), with the controlled mode's automatic rollback.

A container whose host files a package owns (``--system-package=yes``) stays one: update
packages the new deployment's host files (syspackage.package_host_files) before the switch,
which installs that package with ``rpm -U``; rollback installs the older deployment's.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Callable

from ..deploy import deployment as dl
from ..deploy.privileges import not_allowed, review
from ..deploy.rpmpackage import RpmTool, installed_package
from ..deploy.values import carried_values, mask_values
from ..errors import ContainerNotFound, ServiceError, SysContainersError, UsageError
from ..images.store import Store
from ..lock import host_lock
from ..paths import Paths
from ..service.runtime import find_runtime, probe_runtime
from ..service.systemd import Systemd
from . import build as b
from .images import ensure_image
from .query import is_preinstalled
from .switch import finish, reconcile, switch
from .syspackage import package_host_files

Say = Callable[[str], None]


@dataclass(frozen=True)
class UpdateRequest:
    name: str
    rebase: str | None = None
    set_values: dict[str, str] = field(default_factory=dict)
    controlled: bool = False
    timeout: float = 10.0
    display: bool = False
    secret_names: frozenset[str] = frozenset()   # those of set_values given --set-secret
    allow: frozenset[str] = frozenset()          # --allow, added to the stored ones


class UpdateFailed(SysContainersError):
    pass


def _live(paths: Paths, name: str) -> dl.Deployment:
    dl.validate_name(name)
    cur = dl.current(paths, name)
    if cur is None:
        if is_preinstalled(paths, name):
            raise UsageError(f"{name} is preinstalled with the OS and cannot be updated")
        raise ContainerNotFound(f"container {name} is not installed")
    return cur


def update(paths: Paths, req: UpdateRequest, say: Say, rpm: RpmTool | None = None) -> str:
    """Returns "updated" or "unchanged"; UpdateFailed after an automatic rollback.
    ``rpm``: the host's rpm (tests: one with a throwaway root)."""
    values, secrets = _known_secrets(paths, req)
    with b.secrets_masked(values, secrets):
        if req.display:
            return _display_only(paths, req, say)
        return _update(paths, req, say, rpm)


def _known_secrets(paths: Paths, req: UpdateRequest) -> tuple[dict[str, str], set[str]]:
    """The stored values and the new --set ones, and which are secret (to mask errors)."""
    values, secrets = dict(req.set_values), set(req.secret_names)
    cur = dl.current(paths, req.name) if dl.validate_name(req.name) else None
    try:
        info = cur.read_info() if cur is not None else None
    except SysContainersError:
        info = None
    if info is not None:
        values = {**{k: str(v) for k, v in info.values.items()}, **values}
        secrets |= set(info.secret_values)
    return values, secrets


def _update(paths: Paths, req: UpdateRequest, say: Say, rpm: RpmTool | None) -> str:
    with host_lock(paths):
        dl.clean_partials(paths, req.name)
        cur = _live(paths, req.name)
        reconcile(paths, req.name, say, rpm)
        dl.tighten(cur, paths.user_mode)   # made before deployments were private (docs/operations.md)
        info = cur.read_info()
        store = Store(paths)
        image, image_name = ensure_image(paths, store, req.rebase or info.image, say, update=True)
        if _unchanged(info, image, req):
            say("Latest version already installed.")
            return "unchanged"
        target = dl.other(paths, cur)
        built = b.build(paths, store, _build_request(paths, req, cur, info, image, image_name),
                        target, replace_existing=True)
        try:
            if info.rpm_installed:
                package_host_files(paths, built, image, rpm or RpmTool())
            was_running = switch(paths, cur, target, say, rpm)
        except BaseException:
            dl.remove_tree(target.path)   # the live version was restored; drop the half-used one
            raise
        try:
            if was_running and req.controlled:
                _start_verified(paths, target, cur, req.timeout, say, rpm)
            elif was_running:
                Systemd(paths.user_mode).start(f"{req.name}.service")
        finally:
            finish(paths, req.name)
        say(f"updated {req.name}: {info.revision[:12]} -> {image.id[:12]}")
        return "updated"


def _unchanged(info: dl.InstallInfo, image, req: UpdateRequest) -> bool:
    return image.id == info.revision and all(info.values.get(k) == v
                                             for k, v in req.set_values.items())


def _build_request(paths: Paths, req: UpdateRequest, cur: dl.Deployment, info: dl.InstallInfo,
                   image, image_name: str) -> b.BuildRequest:
    """Re-read from the info file: values (overridden by --set, UUID kept), runtime, remote."""
    runtime = probe_runtime(find_runtime(info.runtime or paths.config.runtime))
    # a name once secret stays secret; --allow adds to what the operator allowed before
    return b.BuildRequest(req.name, image, image_name, carried_values(info.values, req.set_values),
                          runtime, uuid=info.values.get("UUID"), remote=info.remote,
                          secret_names=frozenset(info.secret_values) | req.secret_names,
                          allowed=_granted(cur, info) | req.allow)


def _granted(cur: dl.Deployment, info: dl.InstallInfo) -> frozenset[str]:
    """The --allow names stored with the container. A deployment made before --allow existed
    (older versions, atomic) has none stored: what it already has counts as granted, so an
    update asking for no more goes through (docs/operations.md)."""
    if info.allowed_privileges is not None:
        return frozenset(info.allowed_privileges)
    try:
        config = json.loads((cur.path / "config.json").read_text())
    except (OSError, ValueError):
        config = {}
    try:
        plan = b.host_plan(cur, info)
    except SysContainersError:
        plan = ()
    return frozenset(p.name for p in review(config, plan) if p.dangerous)


def _display_only(paths: Paths, req: UpdateRequest, say: Say) -> str:
    """--display: what would change, from the stored image (nothing pulled, locked or written)."""
    cur = _live(paths, req.name)
    info = cur.read_info()
    store = Store(paths)
    ref = req.rebase or info.image
    image, image_name = ensure_image(paths, store, ref, say, pull=False)
    if image is None:
        say(f"would pull {ref}, then update {req.name} to it")
        return "unchanged"
    if _unchanged(info, image, req):
        say("Latest version already installed (of the images stored; nothing was fetched).")
        return "unchanged"
    built = b.build(paths, store, _build_request(paths, req, cur, info, image, image_name),
                    dl.other(paths, cur), dry_run=True)
    _display(info, built, say)
    return "unchanged"


def _start_verified(paths, new: dl.Deployment, old: dl.Deployment, timeout: float, say: Say,
                    rpm: RpmTool | None):
    """Start the new version; roll back to ``old`` (and start it) when the start job fails or
    the unit is not active after the settle time: detached runc units report a successful
    start and fail a moment later, so the start job's result alone proves nothing."""
    systemd = Systemd(paths.user_mode)
    unit = f"{new.name}.service"
    try:
        systemd.start(unit)
        why = "did not stay active"
    except ServiceError:
        why = "failed to start"
    deadline = time.monotonic() + timeout
    healthy = systemd.is_active(unit)
    while healthy and time.monotonic() < deadline:
        time.sleep(0.5)
        healthy = systemd.is_active(unit)
    if healthy:
        return
    say(f"the new version of {new.name} {why}; rolling back")
    systemd.stop(unit)
    switch(paths, new, old, say, rpm)
    systemd.reset_failed(unit)
    systemd.start(unit)
    raise UpdateFailed(f"update of {new.name} failed: the new version {why} "
                       f"(see `syscontainers logs {new.name}`); rolled back to the previous version")


def rollback(paths: Paths, name: str, say: Say, rpm: RpmTool | None = None) -> None:
    """``rpm``: the host's rpm (tests: one with a throwaway root)."""
    with host_lock(paths):
        dl.clean_partials(paths, name)
        cur = _live(paths, name)
        reconcile(paths, name, say, rpm)
        prev = dl.other(paths, cur)
        if not prev.exists():
            raise ContainerNotFound(f"Cannot find a previous deployment to rollback located at {prev.path}")
        for dep in (cur, prev):
            dl.tighten(dep, paths.user_mode)   # made before deployments were private (docs/operations.md)
        try:
            if switch(paths, cur, prev, say, rpm):
                Systemd(paths.user_mode).start(f"{name}.service")
        finally:
            finish(paths, name)
        say(f"rolled back {name} to {prev.path}")


def _display(info: dl.InstallInfo, built: b.Built, say: Say) -> None:
    say(f"would update {built.deployment.name}: {info.revision[:12]} -> {built.info.revision[:12]}")
    secrets = built.info.secret_values
    olds, news = mask_values(info.values, secrets), mask_values(built.info.values, secrets)
    for k in sorted(set(info.values) | set(built.info.values)):
        changed = info.values.get(k) != built.info.values.get(k)
        if changed and k not in ("DESTDIR", "EXEC_START", "EXEC_STOP", "EXEC_STOPPOST", "EXEC_STARTPRE"):
            say(f"  {k}: {olds.get(k)!r} -> {news.get(k)!r}")   # secrets: '***' -> '***'
    for line in b.privilege_lines(built):
        say(f"  {line}")
    missing = not_allowed(built.privileges, built.info.allowed_privileges or ())
    if missing:
        say(f"  would be refused without --allow={','.join(dict.fromkeys(p.name for p in missing))}")
    say(f"  would write {built.deployment.path} and switch the {built.deployment.name} link to it")
    if info.rpm_installed:
        say(f"  host files through the RPM package {installed_package(info.rpm_installed)} (rpm -U)")


__all__ = ["update", "rollback", "UpdateRequest", "UpdateFailed", "ServiceError"]
