"""``install --system-package``: host files through a generated RPM, or the RPM alone (docs/templates.md, "Host files"; docs/operations.md, "System packages").

- :func:`choose`: what ``auto|build|no|yes`` means for this image on this host (the decision
  table is :func:`rpmpackage.decide_system_package`; the host facts are injectable through
  :class:`Packaging`, so tests can force an rpm-based host and a throwaway rpm root).
- :func:`build_package` (``build``): the container laid out as a *preinstalled* one
  (``/usr/lib/containers/atomic/NAME/{rootfs,config.json,info,NAME.service,tmpfiles-NAME.conf}``,
  the unit in ``/usr/lib/systemd/system``, tmpfiles in ``/usr/lib/tmpfiles.d``, plus the host
  files) packaged and written to a directory (the current one). Only the private storage's
  temporary dir and that one file are written: no deployment, unit, link or host file.
- :func:`install_host_package` (``yes``): the host files of a built deployment packaged and
  installed with ``rpm -i``; the .rpm is kept in the deployment (as atomic did) and the info
  file records ``rpm-installed`` before rpm runs, so that an interrupted install is cleaned up
  (``rpm -e``) by the next run. Returns the undo step.
- :func:`package_host_files` / :func:`switch_package` (update, rollback): a package-installed
  container stays one. update packages the new deployment's host files (same package name,
  the new image's version) and the switch installs the target deployment's kept .rpm with
  ``rpm -U --oldpackage --replacepkgs`` instead of swapping copies (switch.py).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from ..deploy import deployment as dl
from ..fileops import write_atomic
from ..deploy.exports import Exports, read_exports
from ..deploy.hostfiles import (DIR_CHECKSUM, HostFile, HostFileConflict, install_host_files,
                                planned_record)
from ..deploy.render import RenderedFiles, Target, deployment_values, render_deployment
from ..deploy.rpmpackage import (PREINSTALLED_ROOT, HostFacts, PackageFile, RpmTool, build_rpm,
                                 decide_system_package, installed_package, package_meta,
                                 package_name, probe_host, render_spec, rpm_file_name)
from ..images.model import Image
from ..images.store import Store
from ..paths import PACKAGE_TMPFILES_DIR, PACKAGE_UNIT_DIR, Paths
from ..service.runtime import Runtime
from . import build as b
from .mounts import temp_dir

Say = Callable[[str], None]


@dataclass(frozen=True)
class Packaging:
    """The host as packaging sees it: its facts (for the decision) and its rpm."""

    host: HostFacts
    rpm: RpmTool = field(default_factory=RpmTool)

    @classmethod
    def probe(cls) -> "Packaging":
        return cls(probe_host())


def ships_package_content(exports: Exports) -> bool:
    """What makes ``auto`` choose a package (docs/operations.md, "System packages", as atomic): rpm.spec(.template) or hostfs/."""
    return exports.has_rpm_spec or exports.hostfs is not None


def choose(requested: str, packaging: Packaging, user_mode: bool,
           exports: Exports | None = None) -> str:
    """``no`` / ``yes`` / ``build``; UsageError when the requested value cannot work here.
    Without ``exports`` (before the image is read) ``auto`` answers ``no``: call again."""
    return decide_system_package(
        requested, ships_package_content=exports is not None and ships_package_content(exports),
        host=packaging.host, user_mode=user_mode)


# ---------------------------------------------------------------------------- build

@dataclass(frozen=True)
class PackageRequest:
    name: str
    image: Image
    image_name: str
    set_values: dict[str, str]
    runtime: Runtime


def build_package(paths: Paths, store: Store, req: PackageRequest, out_dir: Path) -> Path:
    """Write ``atomic-container-NAME-VERSION-RELEASE.ARCH.rpm`` into ``out_dir``; return it."""
    destdir = f"{PREINSTALLED_ROOT}/{req.name}"
    package_name(req.name)   # a name rpm refuses fails before any work
    with temp_dir(paths, f"rpm-{req.name}") as work:
        buildroot = work / "root"
        dest = buildroot / destdir.lstrip("/")
        dest.mkdir(parents=True)
        store.checkout(req.image, dest / "rootfs")   # build is system mode only
        exports = read_exports(dest / "rootfs", req.image_name)
        target = Target(req.name, Path(destdir), req.image_name, req.image.id, False, req.runtime,
                        image_process=b.own_process(store, req.image, req.image_name, exports))
        rendered = render_deployment(exports, deployment_values(exports, target, req.set_values),
                                     target)
        files = [PackageFile(destdir, "tree")]
        files += _write_preinstalled(buildroot, dest, req, rendered, exports)
        install_host_files(rendered.host_files, root=buildroot)
        # the target host is unknown: own the image's empty dirs, never their parents (/etc)
        files += _host_entries(rendered.host_files, tuple(
            h.dest for h in rendered.host_files if h.kind == "dir"))
        if exports.manifest.no_container_service:
            dl.remove_tree(dest / "rootfs")   # as an install: only the host files count
        spec = render_spec(package_meta(req.name, req.image.id, req.image.labels), files)
        rpm = build_rpm(spec, buildroot, work)
        return _copy_into(rpm, out_dir)


def _write_preinstalled(buildroot: Path, dest: Path, req: PackageRequest,
                        rendered: RenderedFiles, exports: Exports) -> list[PackageFile]:
    """config.json, the unit/tmpfiles copies and info in ``dest``; the unit and tmpfiles file
    at their /usr/lib places. Returns the %files entries outside ``dest``."""
    entries = []
    if rendered.config_json is not None:
        dl.write_private(dest / "config.json", rendered.config_json)
    for text, copy, packaged in (
            (rendered.unit, f"{req.name}.service", f"{PACKAGE_UNIT_DIR}/{req.name}.service"),
            (rendered.tmpfiles, f"tmpfiles-{req.name}.conf",
             f"{PACKAGE_TMPFILES_DIR}/{req.name}.conf")):
        if text is None:
            continue
        (dest / copy).write_text(text)
        target = buildroot / packaged.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        entries.append(PackageFile(packaged, "file"))
    record = planned_record(rendered.host_files, buildroot)
    info = dl.InstallInfo(
        image=req.image_name, revision=req.image.id, ostree_commit=req.image.commit,
        created=int(time.time()), values=dict(rendered.values),
        has_container_service=rendered.has_container_service,
        installed_files=list(record), installed_files_checksum=record,
        installed_files_template=list(exports.manifest.installed_files_template),
        rename_installed_files=dict(rendered.rename_files), system_package="build",
        use_links=exports.manifest.use_links, runtime=req.runtime.path)
    dl.write_private(dest / "info", info.to_json())
    return entries


def _host_entries(plan: tuple[HostFile, ...], created_dirs) -> list[PackageFile]:
    """%files entries for host files: files as %config(noreplace) (an operator's edit is kept
    as .rpmsave, never lost silently), symlinks, and the directories the package creates."""
    kinds = {"file": "config", "symlink": "symlink", "dir": "dir"}
    entries = [PackageFile(d, "dir") for d in created_dirs]
    entries += [PackageFile(h.dest, kinds[h.kind]) for h in plan
                if h.kind != "dir" or h.dest in created_dirs]
    return sorted(set(entries), key=lambda e: e.path)


def _copy_into(rpm: Path, out_dir: Path) -> Path:
    """Copy to ``out_dir`` under a temporary name, then rename: never half a file there."""
    final = Path(out_dir).resolve() / rpm.name
    tmp = final.with_name(f".{rpm.name}.tmp-{os.getpid()}")
    try:
        shutil.copyfile(rpm, tmp)
        os.rename(tmp, final)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return final


# ---------------------------------------------------------------------------- yes

def install_host_package(paths: Paths, built: b.Built, image: Image, rpm: RpmTool,
                         say: Say) -> Callable[[], None]:
    """Package the host files of ``built`` and ``rpm -i`` them; returns the undo (``rpm -e``)."""
    kept = package_host_files(paths, built, image, rpm)
    package = package_name(built.deployment.name)
    rpm.install(kept)
    say(f"host files installed through the package {package}")
    return lambda: rpm.erase(package)


def package_host_files(paths: Paths, built: b.Built, image: Image, rpm: RpmTool) -> Path:
    """Build the package of ``built``'s host files, keep it in the deployment and record it in
    the info file (install, and update of a package-installed container); returns the kept
    .rpm. Nothing on the host changes. Never clobbers: a path the package would write that
    already exists on the host, is not a directory it only shares and is not owned by the
    installed package of that name (update) is a HostFileConflict."""
    dep, name = built.deployment, built.deployment.name
    plan = b.host_plan(dep, built.info)
    created_dirs = _check_free(plan, Path(rpm.root), rpm.files(package_name(name)))
    with temp_dir(paths, f"rpm-{name}") as work:
        buildroot = work / "root"
        buildroot.mkdir()
        install_host_files(plan, root=buildroot)
        for d in created_dirs:
            (buildroot / d.lstrip("/")).mkdir(parents=True, exist_ok=True)
        spec = render_spec(package_meta(name, image.id, image.labels),
                           _host_entries(plan, created_dirs))
        kept = dep.path / rpm_file_name(name)
        shutil.copyfile(build_rpm(spec, buildroot, work), kept)
    _record_package(dep, built.info, rpm_file_name(name))
    return kept


def switch_package(dep: dl.Deployment, info: dl.InstallInfo, rpm: RpmTool, say: Say) -> None:
    """update/rollback (and their undo): the package kept in ``dep`` replaces the installed
    one with ``rpm -U`` (older for a rollback, the same version for a rebuild)."""
    rpm.upgrade(dep.path / Path(info.rpm_installed).name)
    say(f"host files installed through the package {installed_package(info.rpm_installed)} "
        f"of {dep.path.name}")


def _check_free(plan: tuple[HostFile, ...], root: Path,
                owned: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """The directories the package will create or keep owning (missing parents, new empty
    dirs, those ``owned`` by the package it replaces); raises HostFileConflict when a path is
    taken (rpm itself would overwrite an unowned file)."""
    record = planned_record(plan, root)   # HostFileConflict for a parent that is not a dir
    for entry in plan:
        path = root / entry.dest.lstrip("/")
        if (entry.kind == "dir" and path.is_dir()) or entry.dest in owned:
            continue
        if os.path.lexists(path):
            raise HostFileConflict(f"cannot install {entry.dest}: the file exists and was not "
                                   "installed by this container; move it away first")
    # an owned parent that still holds entries stays owned (else rpm -e would leave it)
    still_owned = {p for e in plan for p in _parents(e.dest) if p in owned}
    return tuple(sorted(still_owned | {p for p, c in record.items() if c == DIR_CHECKSUM and (
        p in owned or not os.path.lexists(root / p.lstrip("/")))}))


def _parents(path: str):
    parent = os.path.dirname(path)
    while parent != "/":
        yield parent
        parent = os.path.dirname(parent)


def _record_package(dep: dl.Deployment, info: dl.InstallInfo, rpm_installed: str) -> None:
    """The info file says the package owns the host files (atomic's keys and values)."""
    new = replace(info, installed_files=[], installed_files_checksum={},
                  rpm_installed=rpm_installed, system_package="yes")
    # the record the next verb relies on: durable before the caller goes on
    write_atomic(dep.info_path, new.to_json(), mode=dl.PRIVATE_FILE_MODE, sync_dir=True)


def erase_recorded(info: dl.InstallInfo, rpm: RpmTool) -> str | None:
    """Uninstall: remove the package an info file records, if still installed (re-runnable).
    Returns the package name when one was removed."""
    if not info.rpm_installed:
        return None
    package = installed_package(info.rpm_installed)
    if not rpm.is_installed(package):
        return None
    rpm.erase(package)
    return package
