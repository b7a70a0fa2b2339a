"""Build a deployment directory: checkout, render, copies of unit/tmpfiles, info file.

Everything is built in a ``.NAME.N.partial-*`` directory and renamed to ``NAME.N`` only when
complete and synced: a crash or an error leaves no half-made deployment under its real name.
Nothing outside the checkouts dir is touched here.
"""

from __future__ import annotations

import hashlib
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from .. import faults, progress, safejson
from ..deploy import deployment as dl
from ..fileops import write_atomic
from ..deploy import ocispec
from ..images.store.checkout import syncfs
from ..deploy.exports import Exports, read_exports
from ..deploy.hostfiles import plan_host_files, planned_record
from ..deploy.render import RenderedFiles, Target, deployment_values, render_deployment
from ..deploy.capabilities import bounding_set
from ..deploy.ocispec import missing_bind_sources
from ..deploy.privileges import (Privilege, check_allowed, check_available, host_has_selinux,
                                 review, unavailable)
from ..deploy.values import mask_text
from ..errors import ConfigError, SysContainersError, UsageError
from ..images.model import Image
from ..images.store import Store
from ..paths import Paths
from .images import require_config
from ..deploy.template import render_template
from ..service.health import HealthCheck, validate
from ..service.runtime import Runtime


@dataclass(frozen=True)
class BuildRequest:
    name: str
    image: Image
    image_name: str               # the name the operator used / stored name
    set_values: dict[str, str]    # --set (on update: the stored values, then the new --set)
    runtime: Runtime
    uuid: str | None = None       # kept across updates
    remote: str | None = None     # --remote DIR
    access: dict | None = None    # the info file's source* keys (images.Access.info_fields)
    secret_names: frozenset[str] = frozenset()   # --set-secret names (info "secret-values")
    allowed: frozenset[str] = frozenset()        # --allow names (info "allowed-privileges")
    pinned_reason: str | None = None             # carried by update --force of a pinned one
    pinned: bool = False
    auto_update: str | None = None               # info "auto-update" (lifecycle/autopolicy.py)
    health_check: HealthCheck | None = None      # the operator's (info "health-check")


@dataclass(frozen=True)
class Built:
    deployment: dl.Deployment
    info: dl.InstallInfo
    rendered: RenderedFiles
    exports: Exports
    privileges: frozenset[Privilege] = frozenset()   # what the deployment asks of the host
    unavailable: tuple[str, ...] = ()                # what this host cannot grant


@contextmanager
def secrets_masked(values: dict[str, str], secret_names):
    """Errors raised inside carry ``***`` where their text had a secret value (a template
    may copy a value into anything an error quotes; docs/operations.md "File modes and
    secrets")."""
    try:
        yield
    except SysContainersError as e:
        e.message = mask_text(e.message, values, secret_names)
        raise


def secret_warnings(rendered: RenderedFiles, secret_names) -> list[str]:
    """Where a secret lands outside the private deployment dir (unit, tmpfiles, host files
    are readable as those files are on the host): one warning each."""
    values = rendered.values
    places = [("the systemd unit", rendered.unit), ("the tmpfiles file", rendered.tmpfiles)]
    out = []
    for name in sorted(secret_names):
        secret = values.get(name)
        if not secret:
            continue
        for where, text in places:
            if text and secret in text:
                out.append(f"the secret {name} is written into {where}, which is readable "
                           "as unit files are; pass it through config.json instead")
    return out


def remote_rootfs(remote: str) -> Path:
    """--remote DIR: the rootfs is DIR/rootfs, or DIR itself when it holds usr/."""
    base = Path(remote).resolve()
    for candidate in (base / "rootfs", base):
        if (candidate / "usr").is_dir():
            return candidate
    raise UsageError(f"--remote {remote}: no rootfs there (neither {base}/rootfs/usr nor {base}/usr exists)")


def build(paths: Paths, store: Store, req: BuildRequest, dep: dl.Deployment,
          dry_run: bool = False, replace_existing: bool = False, place: Path | None = None) -> Built:
    """Create ``dep`` for ``req``; returns what activation needs. ``dep`` must not exist
    unless ``replace_existing`` (update: the stale other deployment is replaced once the new
    one is complete — never a union over stale files). ``dry_run`` renders everything, then
    removes the partial dir instead of renaming it. ``place``: where the complete dir goes
    instead of ``dep.path`` (it is rendered for ``dep`` all the same: auto-update --stage,
    lifecycle/staging.py; an older dir there is replaced)."""
    partial = dl.partial_dir(paths, req.name, dep.index)
    remote = remote_rootfs(req.remote) if req.remote else None
    try:
        # private to the owner: info and config.json hold --set values (secrets too)
        partial.mkdir(mode=dl.PRIVATE_DIR_MODE)
        os.chmod(partial, dl.PRIVATE_DIR_MODE)
        rootfs = _rootfs(paths, store, req.image, remote, partial)
        faults.point("build-checkout")
        exports = read_exports(rootfs, req.image_name)
        target = Target(req.name, dep.path, req.image_name, req.image.id, paths.user_mode,
                        req.runtime, remote_rootfs=remote,
                        image_process=own_process(store, req.image, req.image_name, exports))
        values = deployment_values(exports, target, req.set_values, req.uuid)
        rendered = render_deployment(exports, values, target)
        privs, problems = review_deployment(rendered, target)
        if not dry_run:   # --display shows them instead
            what = f"image {req.image_name}"
            check_allowed(privs, req.allowed, what)
            check_available(problems, what)
        os.chmod(partial, dl.dir_mode(rendered.config, paths.user_mode))
        _write_files(partial, dep, rendered)
        info = _info(req, rendered, exports, image_check(exports, rendered.values, req.image_name))
        dl.write_private(partial / "info", info.to_json())
        if dry_run:
            return Built(dep, info, rendered, exports, privs, tuple(problems))
        if exports.manifest.no_container_service and not req.remote:
            _keep_only_exports(rootfs)   # the image only installs host files
        syncfs(partial)
        faults.point("build-synced")
        if place is not None:
            dl.remove_tree(place)
            os.rename(partial, place)
            dl.fsync_dir(paths.checkouts)
        else:
            _rename_into_place(paths, partial, dep, replace_existing)
    finally:
        if partial.exists():
            dl.remove_tree(partial)
    return Built(dep, info, rendered, exports, privs, tuple(problems))


def review_deployment(rendered: RenderedFiles, target: Target) -> tuple[frozenset[Privilege], list[str]]:
    """The privileges a rendered deployment asks for, and what this host cannot grant
    (docs/operations.md "Trust model and privileges (--allow)")."""
    privs = review(rendered.config, rendered.host_files)
    if not rendered.has_container_service:
        return privs, []
    problems = unavailable(
        rendered.config, bounding=bounding_set(), selinux=host_has_selinux(str(target.host_root)),
        missing_sources=missing_bind_sources(rendered.config, Path(target.host_root)),
        tmpfiles=rendered.tmpfiles, host_files=rendered.host_files)
    return privs, problems


def privilege_lines(built: Built) -> list[str]:
    """For the operator: what the deployment asks of the host (install, --display)."""
    lines = [f"privilege {p.line()}" for p in sorted(built.privileges)]
    if built.unavailable:
        lines.append("this host cannot grant: " + "; ".join(built.unavailable))
    return lines


def own_process(store: Store, image: Image, label: str, exports: Exports):
    """The image's own process when it ships no config of its own (None otherwise). Names in
    its User are looked up in the image's /etc/passwd and /etc/group as the store holds
    them (never through the checkout, where they could be symlinks to host files)."""
    if exports.config_json is not None or exports.config_template is not None:
        return None

    def text(path: str) -> str | None:
        data = store.read_file(image, path)
        return data.decode("utf-8", "replace") if data is not None else None

    require_config(image, label)     # its Cmd, Env, User are in the config
    config = image.config.get("config") or image.config.get("container_config") or {}
    if not config.get("User"):
        return ocispec.image_process(config, None, None, label)
    return ocispec.image_process(config, text("etc/passwd"), text("etc/group"), label)


def _keep_only_exports(rootfs: Path) -> None:
    """noContainerService: no checkout is kept, except ``exports/`` — activation, update and
    rollback install the host files from the deployment's own ``rootfs/exports/hostfs``."""
    for entry in rootfs.iterdir():
        if entry.name != "exports":
            dl.remove_tree(entry)


def _rootfs(paths: Paths, store: Store, image: Image, remote: Path | None, partial: Path) -> Path:
    rootfs = partial / "rootfs"
    if remote is not None:
        os.symlink(remote, rootfs)
        return rootfs
    with progress.step(f"checking out {image.name or image.id[:12]}"):
        store.checkout(image, rootfs)
    return rootfs


def _write_files(partial: Path, dep: dl.Deployment, rendered: RenderedFiles) -> None:
    if rendered.config_json is not None:
        dl.write_private(partial / "config.json", rendered.config_json)
    if rendered.unit is not None:
        dl.write_private(partial / dep.unit_copy.name, rendered.unit)
    if rendered.tmpfiles is not None:
        dl.write_private(partial / dep.tmpfiles_copy.name, rendered.tmpfiles)


def image_check(exports: Exports, values: dict[str, str], image_name: str) -> HealthCheck | None:
    """The image's healthCheck with the deployment's values substituted ($PORT as --set gave
    it), checked for use (docs/templates.md "manifest.json")."""
    check = exports.manifest.health_check
    if check is None:
        return None
    what = f"healthCheck in manifest.json of image {image_name}"
    return validate(check.substituted(lambda t: render_template(t, values, what)), what)


def _info(req: BuildRequest, rendered: RenderedFiles, exports: Exports,
          image_health: HealthCheck | None) -> dl.InstallInfo:
    m = exports.manifest
    record = planned_record(rendered.host_files)
    return dl.InstallInfo(
        image=req.image_name,
        revision=req.image.id,
        ostree_commit=req.image.commit,
        created=int(time.time()),
        values=dict(rendered.values),
        has_container_service=rendered.has_container_service,
        installed_files=list(record),
        installed_files_checksum=record,
        installed_files_template=list(m.installed_files_template),
        rename_installed_files=dict(rendered.rename_files),
        system_package="no",
        remote=req.remote,
        use_links=m.use_links,
        runtime=req.runtime.path,
        **(req.access or {}),
        secret_values=sorted(req.secret_names & set(rendered.values)),
        allowed_privileges=sorted(req.allowed),
        config_checksum=(hashlib.sha256(rendered.config_json.encode()).hexdigest()
                         if rendered.config_json is not None else None),
        pinned=req.pinned, pinned_reason=req.pinned_reason,
        auto_update=req.auto_update,
        health_check=req.health_check.as_json() if req.health_check else None,
        image_health_check=image_health.as_json() if image_health else None,
    )


def host_plan(dep: dl.Deployment, info: dl.InstallInfo) -> tuple:
    """The host files of a built deployment, planned from its own rootfs and stored values
    (the plan made while building points into the partial dir, gone after the rename)."""
    if not info.installed_files:
        return ()
    exports = read_exports(dep.rootfs, info.image)
    return plan_host_files(exports.hostfs, exports.manifest, info.values)


def record_installed(dep: dl.Deployment, info: dl.InstallInfo, checksums: dict[str, str]) -> dl.InstallInfo:
    """Rewrite the info file with what the host-file install really did."""
    if checksums == info.installed_files_checksum:
        return info
    new = replace(info, installed_files=list(checksums), installed_files_checksum=dict(checksums))
    # the record the next verb relies on: durable before the caller goes on
    write_atomic(dep.info_path, new.to_json(), mode=dl.PRIVATE_FILE_MODE, sync_dir=True)
    return new


def _rename_into_place(paths: Paths, partial: Path, dep: dl.Deployment, replace_existing: bool) -> None:
    if replace_existing and os.path.lexists(dep.path):
        stale = dl.stale_dir(paths, dep.name, dep.index)
        os.rename(dep.path, stale)
        os.rename(partial, dep.path)
        dl.fsync_dir(paths.checkouts)
        dl.remove_tree(stale)
        return
    os.rename(partial, dep.path)
    dl.fsync_dir(paths.checkouts)
