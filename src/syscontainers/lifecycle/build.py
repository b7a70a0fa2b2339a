"""Build a deployment directory: checkout, render, copies of unit/tmpfiles, info file.

Everything is built in a ``.NAME.N.partial-*`` directory and renamed to ``NAME.N`` only when
complete and synced: a crash or an error leaves no half-made deployment under its real name.
Nothing outside the checkouts dir is touched here.
"""

from __future__ import annotations

import json
import os
import time
import uuid as uuidlib
from dataclasses import dataclass
from pathlib import Path

from ..deploy import deployment as dl
from ..deploy.checkout import checkout_commit, open_repo, syncfs
from ..deploy.exports import Exports, read_exports
from ..deploy.hostfiles import plan_host_files
from ..deploy.render import RenderedFiles, render_deployment
from ..deploy.values import compute_values, os_values
from ..images.model import Image
from ..images.store import Store
from ..paths import Paths
from ..service.runtime import Runtime


@dataclass(frozen=True)
class BuildRequest:
    name: str
    image: Image
    image_name: str               # the name the operator used / stored name
    set_values: dict[str, str]    # --set (and, on update, the stored values they override)
    runtime: Runtime
    uuid: str | None = None       # kept across updates
    remote: str | None = None


@dataclass(frozen=True)
class Built:
    deployment: dl.Deployment
    info: dl.InstallInfo
    rendered: RenderedFiles
    exports: Exports
    host_plan: list


def forced_values(paths: Paths, req: BuildRequest, dep: dl.Deployment) -> dict[str, str]:
    return {
        "DESTDIR": str(dep.path),
        "NAME": req.name,
        "HOST_UID": str(os.getuid()),
        "HOST_GID": str(os.getgid()),
        "IMAGE_NAME": req.image_name,
        "IMAGE_ID": req.image.id,
    }


def build(paths: Paths, store: Store, req: BuildRequest, dep: dl.Deployment,
          dry_run: bool = False, replace: bool = False) -> Built:
    """Create ``dep`` for ``req``; returns what activation needs. ``dep`` must not exist
    unless ``replace`` (update: the stale other deployment is replaced once the new one is
    complete — never a union over stale files). ``dry_run`` renders everything, then removes
    the partial dir instead of renaming it."""
    partial = dl.partial_dir(paths, req.name, dep.index)
    try:
        partial.mkdir(mode=0o755)
        rootfs = partial / "rootfs"
        commit = store.merged_commit(req.image)
        checkout_commit(open_repo(paths.repo), commit, rootfs, paths.user_mode)
        exports = read_exports(rootfs, req.image_name)
        values = compute_values(
            exports.manifest.default_values,
            os_values(paths.user_mode, req.name, req.runtime.path, req.uuid or str(uuidlib.uuid4())),
            req.set_values,
            forced_values(paths, req, dep),
        )
        rendered = render_deployment(exports, values, req.runtime, req.name, paths.user_mode,
                                     str(dep.path))
        host_plan = plan_host_files(exports, rendered.values) if exports.hostfs else []
        _write_files(partial, dep, rendered)
        info = _info(req, commit, rendered, exports, host_plan)
        (partial / "info").write_text(info.to_json())
        if exports.manifest.no_container_service:
            dl.remove_tree(rootfs)   # the image only installs host files: no checkout kept
        if dry_run:
            dl.remove_tree(partial)
            return Built(dep, info, rendered, exports, host_plan)
        syncfs(partial)
        _rename_into_place(paths, partial, dep, replace)
    except BaseException:
        dl.remove_tree(partial)
        raise
    return Built(dep, info, rendered, exports, host_plan)


def _write_files(partial: Path, dep: dl.Deployment, rendered: RenderedFiles) -> None:
    (partial / "config.json").write_text(rendered.config_json)
    if rendered.unit is not None:
        (partial / dep.unit_copy.name).write_text(rendered.unit)
    if rendered.tmpfiles is not None:
        (partial / dep.tmpfiles_copy.name).write_text(rendered.tmpfiles)


def _info(req: BuildRequest, commit: str, rendered: RenderedFiles, exports: Exports,
          host_plan: list) -> dl.InstallInfo:
    m = exports.manifest
    return dl.InstallInfo(
        image=req.image_name,
        revision=req.image.id,
        ostree_commit=req.image.commit,
        created=int(time.time()),
        values=dict(rendered.values),
        has_container_service=not m.no_container_service,
        installed_files=[h.path for h in host_plan],
        installed_files_checksum={h.path: h.checksum for h in host_plan},
        installed_files_template=list(m.installed_files_template),
        rename_installed_files=dict(m.rename_files),
        system_package="no",
        remote=req.remote,
        use_links=m.use_links,
        runtime=req.runtime.path,
    )


def config_args(dep: dl.Deployment) -> list[str]:
    """process.args of a deployment's config.json (for list), [] when unreadable."""
    try:
        cfg = json.loads((dep.path / "config.json").read_text())
        return list((cfg.get("process") or {}).get("args") or [])
    except (OSError, ValueError, AttributeError):
        return []


def _rename_into_place(paths: Paths, partial: Path, dep: dl.Deployment, replace: bool) -> None:
    if replace and os.path.lexists(dep.path):
        stale = dl.stale_dir(paths, dep.name, dep.index)
        os.rename(dep.path, stale)
        os.rename(partial, dep.path)
        dl.fsync_dir(paths.checkouts)
        dl.remove_tree(stale)
        return
    os.rename(partial, dep.path)
    dl.fsync_dir(paths.checkouts)
