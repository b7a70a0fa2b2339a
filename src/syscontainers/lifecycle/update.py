"""update and rollback, with the controlled mode's automatic rollback (docs/operations.md,
"What each verb does to the host"; the switch is switch.py's, its steps activation.py's).

The source is reached the way install reached it (the info file's access record,
images.Access). It is asked for its manifest first; "the same image" means the same config
and layers (a re-encoded manifest is no update), and then nothing is pulled. A source that
cannot be asked is an error (SourceUnavailable) unless ``offline``: the stored image is used.
docs/operations.md, "Updates: what is checked, --check, --offline, exit codes".

A container whose host files a package owns (``--system-package=yes``) stays one: update
packages the new deployment's host files (syspackage.package_host_files) before the switch,
which installs that package with ``rpm -U``; rollback installs the older deployment's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Callable

from ..deploy import deployment as dl
from ..deploy.privileges import not_allowed, review
from ..deploy.rpmpackage import RpmTool, installed_package
from ..deploy.values import carried_values, mask_values
from ..errors import (ContainerNotFound, ImageNotFound, ServiceError, SysContainersError, UpdateFailed,
                      UsageError)
from ..images.pull import pull_image, stored_name
from ..images.reference import parse_reference
from ..images.store import Store
from ..deploy.variables import check_set_names, image_variables
from ..fileops import write_atomic
from ..lock import host_lock
from ..paths import Paths
from ..service.health import HealthCheck, shorten
from ..service.runtime import find_runtime, probe_runtime
from . import build as b
from . import history
from .activation import Host
from ..images.model import Image
from ..images.transport import open_source
from .images import (Access, Answers, RegistryFiles, SourceUnavailable, access_for, ask_source,
                     ask_sources, available_id, content, ensure_image, manifest_content,
                     policy_path)
from .autopolicy import store_policy
from .health import HealthOutcome, carried_check, effective_check, wait_healthy
from .query import is_preinstalled
from .staging import take_staged
from .switch import finish, reconcile, switch
from .syspackage import package_host_files

Say = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class UpdateRequest:
    name: str
    rebase: str | None = None
    set_values: dict[str, str] = field(default_factory=dict)
    controlled: bool = False
    timeout: float = 10.0
    display: bool = False
    force: bool = False           # --set of a variable no template of the image uses
    offline: bool = False                    # use the stored image; do not ask the source
    creds: tuple[str, str] | None = None     # --src-creds (never stored)
    tls_verify: bool = True                  # for the --rebase reference
    secret_names: frozenset[str] = frozenset()   # those of set_values given --set-secret
    allow: frozenset[str] = frozenset()          # --allow, added to the stored ones
    redeploy: bool = False        # deploy even the same image (verify --repair of a rootfs)
    signature_policy: str | None = None   # --signature-policy FILE; else the recorded one
    files: RegistryFiles = RegistryFiles()   # --authfile / --cert-dir; else the recorded ones
    verb: str = "update"          # the history record's verb (auto-update passes its own)
    auto_update: str | None = None   # --auto-update; None: the stored policy (autopolicy.py)
    # --health-*/--no-healthcheck (lifecycle.health.operator_check); None: keep the stored one
    health_check: HealthCheck | None = None


def _live(paths: Paths, name: str) -> dl.Deployment:
    dl.validate_name(name)
    cur = dl.current(paths, name)
    if cur is None:
        if is_preinstalled(paths, name):
            raise UsageError(f"{name} is preinstalled with the OS and cannot be updated")
        raise ContainerNotFound(f"container {name} is not installed")
    return cur


def update(paths: Paths, req: UpdateRequest, say: Say, rpm: RpmTool | None = None,
           answers: Answers | None = None) -> str:
    """Returns "updated", "allowed" (only new --allow names: stored), "configured" (only a
    new --health-* check: stored) or "unchanged"; UpdateFailed after an automatic rollback.
    ``rpm``: the host's rpm (tests: one with a throwaway root). ``answers``: sources asked
    ahead (update --all)."""
    values, secrets = _known_secrets(paths, req)
    if req.display:
        with b.secrets_masked(values, secrets):
            return _display_only(paths, req, say)
    with history.recorded(paths, req.name, req.verb, say), b.secrets_masked(values, secrets):
        return _update(paths, req, say, rpm, answers)


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


def _update(paths: Paths, req: UpdateRequest, say: Say, rpm: RpmTool | None,
            answers: Answers | None = None) -> str:
    host = Host.for_paths(paths, rpm)
    with host_lock(paths):
        dl.clean_partials(paths, req.name)
        cur = _live(paths, req.name)
        reconcile(host, req.name, say)
        dl.tighten(cur, paths.user_mode)   # made before deployments were private (docs/operations.md)
        info = cur.read_info()
        _check_pin(info, req)
        store = Store(paths)
        found = find_target(store, info, req, answers)
        policy = req.signature_policy or info.source_signature_policy
        image, image_name = _target_image(paths, store, found, req, say, policy)
        _check_set(store, image, image_name, req)
        if _unchanged(info, found.current, image, req) and not req.redeploy:
            configured = _store_health_check(cur, info, req.health_check, say)
            if configured:
                info = cur.read_info()
            allowed = _store_allowance(cur, info, req.allow, say)
            if store_policy(cur, req.auto_update, say) or allowed:
                return "allowed"
            if configured:
                return "configured"
            say("Latest version already installed.")
            return "unchanged"
        target = dl.other(paths, cur)
        access = found.access if not req.rebase else access_for(
            req.rebase, image_name, req.tls_verify, req.creds is not None, files=req.files)
        access = replace(access, signature_policy=policy_path(policy))
        files = req.files.absolute()
        access = replace(access, auth_file=files.auth_file or access.auth_file,
                         cert_dir=files.cert_dir or access.cert_dir)
        built = None if take_staged(paths, cur, image, req, say) else b.build(
            paths, store, _build_request(paths, req, cur, info, image, image_name, access),
            target, replace_existing=True)
        try:
            if info.rpm_installed:
                package_host_files(paths, built, image, host.rpm)
            was_running = switch(host, cur, target, say)
        except BaseException:
            drop_unless_live(paths, req.name, target)
            raise
        try:
            if was_running and req.controlled:
                _start_verified(host, target, cur, req.timeout, say)
            elif was_running:
                host.systemd.start(f"{req.name}.service")
        finally:
            finish(paths, req.name)
        say(f"updated {req.name}: {info.revision[:12]} -> {image.id[:12]}")
        return "updated"


def _check_pin(info: dl.InstallInfo, req: UpdateRequest) -> None:
    """A pinned container is updated only with --force (docs/operations.md, "Pinning")."""
    if info.pinned and not (req.force or req.redeploy):
        why = f" ({info.pinned_reason})" if info.pinned_reason else ""
        raise UsageError(f"{req.name} is pinned{why}: `syscontainers unpin {req.name}` first, "
                         f"or update --force")


def drop_unless_live(paths: Paths, name: str, target: dl.Deployment) -> None:
    """After a failed switch: the live version was restored, so the half-used ``target`` goes
    — unless the switch got past its commit point (the link names ``target``) and failed while
    activating it: then ``target`` is the live version, and removing it would leave the link
    dangling; the next verb finishes the switch (reconcile)."""
    if dl.current(paths, name) != target:
        dl.remove_tree(target.path)


def _check_set(store: Store, image, image_name: str, req: UpdateRequest) -> None:
    """Only the new --set names are checked (the stored values were accepted before)."""
    if req.set_values and not req.force:
        check_set_names(image_variables(store, image), req.set_values, image_name)


@dataclass(frozen=True)
class Found:
    """What update would deploy, found without writing anything."""

    access: Access
    current: Image | None        # the installed image, from the store (None: pruned)
    manifest: object | None      # what the source serves now (None: not asked, --offline)
    image: Image | None          # a stored image to deploy (None: it must be pulled)
    image_name: str


def find_target(store: Store, info: dl.InstallInfo, req: UpdateRequest,
                answers: Answers | None = None) -> Found:
    """Ask the source (unless ``offline``; ``answers``: as asked ahead for many containers);
    an image with the installed content needs no pull."""
    current = store.by_id(info.revision)
    if req.rebase:
        stored = _stored_rebase(store, req.rebase)
        if stored is not None:
            name = stored.name or req.rebase
            return Found(access_for(req.rebase, name, req.tls_verify, req.creds is not None,
                                    files=req.files),
                         current, None, stored, name)
    access = _rebase_access(req) if req.rebase else Access.from_info(info)
    if req.offline:
        image = _stored(store, access, info.image if not req.rebase else None, current)
        return Found(access, current, None, image, image.name or info.image)
    try:
        manifest = (answers.ask if answers else ask_source)(access, req.creds, req.files)
    except SourceUnavailable as e:
        raise SourceUnavailable(f"cannot check {req.name} "
                                f"for updates: {e} (--offline uses the stored image)") from None
    if not req.rebase and current is not None and manifest_content(manifest) == content(current):
        return Found(access, current, manifest, current, info.image)
    stored = store.by_id(available_id(manifest))
    return Found(access, current, manifest, stored,
                 info.image if not req.rebase else _rebase_name(req.rebase))


def _stored_rebase(store: Store, text: str) -> Image | None:
    """--rebase IMAGE names, as for install, an image of the store by its name or an ID
    prefix: that one is used as stored (a reference with a transport, docker:// or http:, is
    never a stored name, so its source is asked)."""
    try:
        return store.resolve(text)
    except SysContainersError:
        return None


def _rebase_name(text: str) -> str:
    """The name a registry reference is stored under (other transports: the text itself)."""
    try:
        ref = parse_reference(text)
    except SysContainersError:
        return text
    return open_source(ref).registry_name() or text


def _rebase_access(req: UpdateRequest) -> Access:
    return access_for(req.rebase, _rebase_name(req.rebase), req.tls_verify, req.creds is not None,
                      files=req.files)


def _stored(store: Store, access: Access, name: str | None, current: Image | None) -> Image:
    """--offline: the image stored under the container's image name, else the installed image
    itself (so --offline --set works after the name was deleted); for --rebase (``name``
    None) the image the rebase reference is stored as."""
    rebase = name is None
    if rebase:
        name = stored_name(access.parsed())
    try:
        return store.resolve(name)
    except ImageNotFound:
        if current is not None and not rebase:
            return current
    raise ImageNotFound(f"--offline: image {name} is not in the store (pull {access.reference} first)")


def _target_image(paths: Paths, store: Store, found: Found, req: UpdateRequest,
                  say: Say, policy: str | None = None) -> tuple[Image, str]:
    """The stored image when offline or unchanged, else a pull through the access record -
    also when the source's image is in the store already (found by its digest): the pull
    has the trust policy (``policy``: a FILE, None: the host's) judge it and fetches no
    stored layer (docs/operations.md, "Signatures and the trust policy")."""
    if found.image is not None and (found.manifest is None or found.image is found.current):
        return found.image, found.image_name
    options = found.access.pull_options(req.creds, update=True, signature_policy=policy,
                                        files=req.files)
    if found.manifest is not None:    # asked a moment ago (find_target): not asked again
        options = replace(options, manifest=found.manifest)
    image = pull_image(paths, store, found.access.parsed(), options, say)
    return image, image.name or found.image_name


def _same_image(info: dl.InstallInfo, current: Image | None, image: Image) -> bool:
    return image.id == info.revision or (current is not None and content(current) == content(image))


def _unchanged(info: dl.InstallInfo, current: Image | None, image: Image, req: UpdateRequest) -> bool:
    return _same_image(info, current, image) and all(info.values.get(k) == v
                                                     for k, v in req.set_values.items())


def _build_request(paths: Paths, req: UpdateRequest, cur: dl.Deployment, info: dl.InstallInfo,
                   image, image_name: str, access: Access | None = None) -> b.BuildRequest:
    """Re-read from the info file: values (overridden by --set, UUID kept), runtime, remote,
    and how the image is reached (``access``, else the current record)."""
    runtime = probe_runtime(find_runtime(info.runtime or paths.config.runtime))
    access = access or Access.from_info(info)
    # a name once secret stays secret; --allow adds to what the operator allowed before
    return b.BuildRequest(req.name, image, image_name, carried_values(info.values, req.set_values),
                          runtime, uuid=info.values.get("UUID"), remote=info.remote,
                          access=access.info_fields(),
                          secret_names=frozenset(info.secret_values) | req.secret_names,
                          allowed=_granted(cur, info) | req.allow,
                          pinned=info.pinned, pinned_reason=info.pinned_reason,
                          auto_update=req.auto_update if req.auto_update is not None
                          else info.auto_update,
                          health_check=carried_check(info, req.health_check))


def _store_allowance(cur: dl.Deployment, info: dl.InstallInfo, allow: frozenset[str],
                     say: Say) -> bool:
    """``update NAME --allow=X`` with nothing else to update: granting is a change of the
    container's configuration, not of what it runs, so X is stored with the live deployment
    (its info ``allowed-privileges``) without redeploying or restarting it; the next update
    may use it (docs/operations.md "Granting without an update"). Caller holds the host lock.
    Returns False when every name was granted already."""
    granted = _granted(cur, info)
    new = allow - granted
    if not new:
        return False
    stored = replace(info, allowed_privileges=sorted(granted | allow))
    # the record the next update relies on: durable, private (it sits with the --set values)
    write_atomic(cur.info_path, stored.to_json(), mode=dl.PRIVATE_FILE_MODE, sync_dir=True)
    say(f"allowed {','.join(sorted(new))} for {cur.name} (stored; the container was not redeployed)")
    return True


def _store_health_check(cur: dl.Deployment, info: dl.InstallInfo, check: HealthCheck | None,
                        say: Say) -> bool:
    """``update NAME --health-*`` with nothing else to update: like --allow, the check is
    the container's configuration, stored with the live deployment without a redeploy
    (docs/operations.md "Health checks"). Caller holds the host lock. False: nothing new."""
    if check is None or check.as_json() == info.health_check:
        return False
    stored = replace(info, health_check=check.as_json())
    write_atomic(cur.info_path, stored.to_json(), mode=dl.PRIVATE_FILE_MODE, sync_dir=True)
    say(f"health check of {cur.name} set to {check.describe()} (stored; the container was "
        "not redeployed)")
    return True


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
    image, image_name, _ref = ensure_image(paths, store, ref, say, pull=False)
    if image is None:
        say(f"would pull {ref}, then update {req.name} to it")
        say(NOT_ASKED)
        return "unchanged"
    _check_set(store, image, image_name, req)
    if _unchanged(info, store.by_id(info.revision), image, req):
        new = req.allow - _granted(cur, info)
        if new:
            say(f"would allow {','.join(sorted(new))} for {req.name} (stored; no redeploy)")
        if req.health_check is not None and req.health_check.as_json() != info.health_check:
            say(f"would set the health check of {req.name} to {req.health_check.describe()} "
                "(stored; no redeploy)")
        say("Latest version already installed (of the images stored; nothing was fetched).")
        say(NOT_ASKED)
        return "unchanged"
    built = b.build(paths, store, _build_request(paths, req, cur, info, image, image_name),
                    dl.other(paths, cur), dry_run=True)
    _display(info, built, say)
    say(NOT_ASKED)
    return "unchanged"


NOT_ASKED = "  (the registry was not asked: --display shows the stored images; " \
            "`update --check` asks it)"


def _start_verified(host: Host, new: dl.Deployment, old: dl.Deployment, timeout: float,
                    say: Say):
    """The health gate (docs/operations.md "Health checks"): start the new version and wait
    until it is healthy (lifecycle/health.wait_healthy: its check, or active for ``timeout``
    seconds without one). Otherwise stop it, switch back to ``old``, start that, wait for it
    to be healthy again, and raise UpdateFailed saying why, with the last failing probe's
    output. The start job's result alone proves nothing: detached runc units report a good
    start and fail a moment later."""
    systemd = host.systemd
    unit = f"{new.name}.service"
    try:
        systemd.start(unit)
        outcome = wait_healthy(host, new, timeout, say)
    except ServiceError as e:
        outcome = HealthOutcome(False, "failed to start", shorten(str(e)))
    except SysContainersError as e:    # the check itself cannot be run (a broken info file)
        outcome = HealthOutcome(False, "could not be checked", shorten(str(e)))
    if outcome.healthy:
        if outcome.check is not None:
            say(f"{new.name} is healthy ({outcome.check.describe()})")
        return
    say(f"the new version of {new.name} {outcome.reason}; rolling back")
    systemd.stop(unit)
    switch(host, new, old, say)
    systemd.reset_failed(unit)
    systemd.start(unit)
    again = wait_healthy(host, old, timeout, say)
    probe = f"; last probe: {outcome.output}" if outcome.output else ""
    back = "rolled back to the previous version" + (
        "" if again.healthy else f", which is not healthy either: it {again.reason}"
        + (f"; last probe: {again.output}" if again.output else ""))
    raise UpdateFailed(f"update of {new.name} failed: the new version {outcome.reason}{probe} "
                       f"(see `syscontainers logs {new.name}`); {back}")


def rollback(paths: Paths, name: str, say: Say, rpm: RpmTool | None = None) -> None:
    """``rpm``: the host's rpm (tests: one with a throwaway root)."""
    with history.recorded(paths, name, "rollback", say):
        _rollback(paths, name, say, rpm)


def _rollback(paths: Paths, name: str, say: Say, rpm: RpmTool | None) -> None:
    host = Host.for_paths(paths, rpm)
    with host_lock(paths):
        dl.clean_partials(paths, name)
        cur = _live(paths, name)
        reconcile(host, name, say)
        prev = dl.other(paths, cur)
        if not prev.exists():
            raise ContainerNotFound(f"Cannot find a previous deployment to rollback located at {prev.path}")
        for dep in (cur, prev):
            dl.tighten(dep, paths.user_mode)   # made before deployments were private (docs/operations.md)
        before, after = cur.read_info(), prev.read_info()
        try:
            if switch(host, cur, prev, say):
                host.systemd.start(f"{name}.service")
        finally:
            finish(paths, name)
        say(f"rolled back {name}: {_version(before)} -> {_version(after)}")


def _version(info: dl.InstallInfo) -> str:
    return f"{info.revision[:12]} ({info.image})"


def _display(info: dl.InstallInfo, built: b.Built, say: Say) -> None:
    say(f"would update {built.deployment.name}: {info.revision[:12]} -> {built.info.revision[:12]}")
    secrets = built.info.secret_values
    olds, news = mask_values(info.values, secrets), mask_values(built.info.values, secrets)
    for k in sorted(set(info.values) | set(built.info.values)):
        changed = info.values.get(k) != built.info.values.get(k)
        if changed and k not in ("DESTDIR", "EXEC_START", "EXEC_STOP", "EXEC_STOPPOST", "EXEC_STARTPRE"):
            say(f"  {k}: {olds.get(k)!r} -> {news.get(k)!r}")   # secrets: '***' -> '***'
    before, after = (effective_check(i) for i in (info, built.info))
    if before != after:
        say(f"  health check: {before.describe() if before else 'none'} -> "
            f"{after.describe() if after else 'none'}")
    for line in b.privilege_lines(built):
        say(f"  {line}")
    missing = not_allowed(built.privileges, built.info.allowed_privileges or ())
    if missing:
        say(f"  would be refused without --allow={','.join(dict.fromkeys(p.name for p in missing))}")
    say(f"  would write {built.deployment.path} and switch the {built.deployment.name} link to it")
    if info.rpm_installed:
        say(f"  host files through the RPM package {installed_package(info.rpm_installed)} (rpm -U)")


__all__ = ["update", "rollback", "UpdateRequest", "UpdateFailed", "ServiceError",
           "SourceUnavailable", "find_target"]


# --- update --all --------------------------------------------------------------------------

@dataclass(frozen=True)
class UpdateRow:
    """One container of ``update --all``: ``result`` is "updated", "unchanged", "unchecked"
    (its source could not be asked: never "unchanged", docs/operations.md "Updates"),
    "pinned" (skipped; ``reason`` is the pin's) or "failed" (``reason`` says why; a broken
    container is one of these)."""

    container: str
    before: str          # the image ID installed before ("" when it could not be read)
    after: str
    result: str
    reason: str | None = None

    def as_json(self) -> dict:
        row = {"container": self.container, "before": self.before, "after": self.after,
               "result": self.result}
        return {**row, "reason": self.reason} if self.reason else row


def update_all(paths: Paths, request: UpdateRequest, say: Say) -> list[UpdateRow]:
    """Every installed container, controlled, with ``request``'s values and options (its
    ``name`` is replaced by each container's). One container's failure - a broken one
    included - is its row, never the end of the others."""
    names = dl.installed_names(paths)
    answers = ask_ahead(paths, names, request, skip_pinned=True)
    return [_update_row(paths, replace(request, name=name, controlled=True), say, answers)
            for name in names]


def ask_ahead(paths: Paths, names: list[str], req: UpdateRequest, skip_pinned: bool) -> Answers:
    """The sources of the containers ``names`` asked at once, each source once (update --all,
    update --check --all: docs/operations.md, "Updates: what is checked"); the containers
    are then handled one by one, in order, with these answers. None is asked for a container
    whose info cannot be read (its row says why), nor, ``skip_pinned``, for a pinned one."""
    if req.offline or req.rebase:
        return Answers()
    asks = []
    for name in names:
        cur = dl.current(paths, name)
        try:
            info = cur.read_info() if cur is not None else None
            if info is not None and not (skip_pinned and info.pinned):
                asks.append((Access.from_info(info), req.creds, req.files))
        except SysContainersError:
            continue
    return ask_sources(asks)


def update_one(paths: Paths, req: UpdateRequest, say: Say) -> UpdateRow:
    """``update NAME``: its row (what --json prints); errors are raised, not rows."""
    before = _revision_or_blank(paths, req.name)
    result = update(paths, req, say)
    return UpdateRow(req.name, before, _revision_or_blank(paths, req.name), result)


def _update_row(paths: Paths, req: UpdateRequest, say: Say,
                answers: Answers | None = None) -> UpdateRow:
    before = _revision_or_blank(paths, req.name)
    reason = pinned_reason(paths, req.name)
    if reason is not None:
        return UpdateRow(req.name, before, before, "pinned", reason or None)
    try:
        result = update(paths, req, say, answers=answers)
    except SourceUnavailable as e:
        result, reason = "unchecked", str(e)
    except SysContainersError as e:
        result, reason = "failed", str(e)
    return UpdateRow(req.name, before, _revision_or_blank(paths, req.name), result, reason)


def pinned_reason(paths: Paths, name: str) -> str | None:
    """None when ``name`` is not pinned; its reason ("" without one) when it is."""
    cur = dl.current(paths, name)
    try:
        info = cur.read_info() if cur is not None else None
    except SysContainersError:
        return None
    return (info.pinned_reason or "") if info is not None and info.pinned else None


def _revision_or_blank(paths: Paths, name: str) -> str:
    """The installed image ID; "" for a deployment whose info cannot be read (broken)."""
    cur = dl.current(paths, name)
    try:
        return cur.read_info().revision if cur is not None else ""
    except SysContainersError:
        return ""
