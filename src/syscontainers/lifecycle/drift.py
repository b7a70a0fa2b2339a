"""Drift: ``verify NAME|--all [--diff]`` compares an installed container with what the tool
recorded when it installed or updated it; ``verify NAME --repair [--force]`` puts the tool's
files back (docs/operations.md, "Drift: verify and repair").

What is compared, for the live deployment:
- the unit and tmpfiles files on the host with the deployment's copies (what install wrote);
- config.json with a fresh render of the image's templates from the recorded values;
- every host file with its recorded checksum (a changed one is an *admin edit*: kept);
- the rootfs with the image's merged commit (libostree reads and hashes every file, so a file
  changed through its hard link shows too);
- that the unit is enabled (the tool installs it enabled; there is no verb that disables).

Repair rewrites the unit, tmpfiles file and config.json, re-enables, puts back missing host
files (an admin-edited one only with ``force``), and restores a changed rootfs by a fresh
checkout into the other deployment and a switch (an update to the same image: the other
deployment, the rollback version, is replaced). A service that ran is restarted when its unit
or config.json was rewritten, so what runs is what is recorded.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict, dataclass, field
from typing import Callable

from ..deploy import deployment as dl
from ..deploy import hostfiles
from ..deploy.exports import read_exports
from ..deploy.render import Target, deployment_values, render_deployment
from ..deploy.values import mask_text
from ..errors import ContainerNotFound, SysContainersError
from ..fileops import read_or_none
from ..images.pull import pull_image
from ..images.store import Store
from ..lock import host_lock
from ..paths import Paths
from ..service.runtime import find_runtime, probe_runtime
from . import activation, history
from .activation import Host
from .build import own_process, record_installed
from .switch import reconcile

Say = Callable[[str], None]


@dataclass(frozen=True)
class Difference:
    kind: str         # unit | tmpfiles | config | host-file | rootfs | enablement
    path: str
    state: str        # modified | missing | admin-edited | added | removed | disabled
    diff: str = ""    # unified diff (--diff; secret values masked)

    def line(self) -> str:
        return f"{self.kind} {self.path}: {self.state}"


@dataclass(frozen=True)
class DriftReport:
    name: str
    differences: tuple[Difference, ...] = ()
    notes: tuple[str, ...] = ()              # what could not be checked, and why
    repaired: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()               # admin edits left as they are (no --force)

    @property
    def drifted(self) -> bool:
        return bool(self.differences)

    def as_json(self) -> dict:
        return {"name": self.name, "drifted": self.drifted,
                "differences": [asdict(d) for d in self.differences], "notes": list(self.notes),
                "repaired": list(self.repaired), "kept": list(self.kept)}


def _live(paths: Paths, name: str) -> dl.Deployment:
    dl.validate_name(name)
    dep = dl.current(paths, name)
    if dep is None:
        raise ContainerNotFound(f"container {name} is not installed")
    return dep


def verify(paths: Paths, name: str, *, diff: bool = False, host: Host | None = None) -> DriftReport:
    dep = _live(paths, name)
    host = host or Host.for_paths(paths)
    info = dep.read_info()
    found, notes = _check(host, Store(paths), dep, info, diff)
    return DriftReport(name, tuple(found), tuple(notes))


def verify_all(paths: Paths, diff: bool = False) -> list[DriftReport]:
    """Every installed container; one that cannot be read is a report with a note."""
    host = Host.for_paths(paths)
    reports = []
    for name in dl.installed_names(paths):
        try:
            reports.append(verify(paths, name, diff=diff, host=host))
        except SysContainersError as e:
            reports.append(DriftReport(name, (Difference("deployment", name, "broken"),), (str(e),)))
    return reports


def _check(host: Host, store: Store, dep: dl.Deployment, info: dl.InstallInfo,
           diff: bool) -> tuple[list[Difference], list[str]]:
    found, notes = [], []
    masked = lambda text: mask_text(text, info.values, info.secret_values)   # noqa: E731
    for kind, on_host, copy in (("unit", host.paths.unit_file(dep.name), dep.unit_copy),
                                ("tmpfiles", host.paths.tmpfiles_file(dep.name), dep.tmpfiles_copy)):
        found += _compare(kind, str(on_host), read_or_none(on_host), read_or_none(copy), diff, masked)
    rendered, why = _fresh_config(host.paths, store, dep, info)
    if rendered is None:
        notes.append(f"config.json not checked: {why}")
    else:
        found += _compare_config(dep, rendered, diff, masked)
    found += _host_files(info, notes)
    found += _rootfs(store, dep, info, notes)
    unit_file = host.paths.unit_file(dep.name)
    if dep.unit_copy.exists() and unit_file.exists() and \
            not host.systemd.is_enabled(activation.unit_of(dep.name)):   # a missing unit says it all
        found.append(Difference("enablement", activation.unit_of(dep.name), "disabled"))
    return found, notes


def _compare(kind: str, where: str, actual: str | None, recorded: str | None, diff: bool,
             masked) -> list[Difference]:
    if recorded is None or actual == recorded:
        return []
    if actual is None:
        return [Difference(kind, where, "missing")]
    return [Difference(kind, where, "modified", _udiff(recorded, actual, where, masked) if diff else "")]


def _udiff(recorded: str, actual: str, where: str, masked) -> str:
    lines = difflib.unified_diff(masked(recorded).splitlines(keepends=True),
                                 masked(actual).splitlines(keepends=True),
                                 f"{where} (recorded)", f"{where} (on the host)")
    return "".join(lines)


def _fresh_config(paths: Paths, store: Store, dep: dl.Deployment,
                  info: dl.InstallInfo) -> tuple[str | None, str]:
    """config.json rendered again from the deployment's exports and the recorded values."""
    if not info.has_container_service:
        return None, "the image runs no service"
    try:
        exports = read_exports(dep.rootfs, info.image)
        image = store.by_id(info.revision)
        if image is None and exports.config_json is None and exports.config_template is None:
            return None, f"its image {info.image} is no longer stored (pull it)"
        runtime = probe_runtime(find_runtime(info.runtime or paths.config.runtime))
        target = Target(dep.name, dep.path, info.image, info.revision, paths.user_mode, runtime,
                        remote_rootfs=dep.rootfs.resolve() if info.remote else None,
                        image_process=own_process(store, image, info.image, exports) if image else None)
        values = deployment_values(exports, target, dict(info.values), info.values.get("UUID"))
        return render_deployment(exports, values, target).config_json, ""
    except SysContainersError as e:
        return None, str(e)


def _compare_config(dep: dl.Deployment, rendered: str, diff: bool, masked) -> list[Difference]:
    path = dep.path / "config.json"
    actual = read_or_none(path)
    if actual is None:
        return [Difference("config", str(path), "missing")]
    try:
        same = json.loads(actual) == json.loads(rendered)
    except ValueError:
        same = False
    if same:
        return []
    return [Difference("config", str(path), "modified",
                       _udiff(rendered, actual, str(path), masked) if diff else "")]


def _host_files(info: dl.InstallInfo, notes: list[str]) -> list[Difference]:
    if info.rpm_installed:
        notes.append(f"host files belong to the package {info.rpm_installed}: `rpm -V` checks them")
        return []
    found = []
    for path, recorded in sorted(info.installed_files_checksum.items()):
        host_path = hostfiles.on_host(path)
        if not host_path.exists() and not host_path.is_symlink():
            found.append(Difference("host-file", path, "missing"))
        elif not hostfiles.is_unchanged(host_path, recorded):
            found.append(Difference("host-file", path, "admin-edited"))
    return found


def _rootfs(store: Store, dep: dl.Deployment, info: dl.InstallInfo, notes: list[str]) -> list[Difference]:
    if info.remote:
        notes.append(f"rootfs not checked: it is the operator's ({info.remote}, --remote)")
        return []
    if not info.has_container_service:
        return []
    image = store.by_id(info.revision)
    if image is None:
        notes.append(f"rootfs not checked: its image {info.image} is no longer stored (pull it)")
        return []
    modified, removed, added = store.diff_checkout(image, dep.rootfs)
    return ([Difference("rootfs", p, "modified") for p in modified] +
            [Difference("rootfs", p, "removed") for p in removed] +
            [Difference("rootfs", p, "added") for p in added])


# --- repair --------------------------------------------------------------------------------

@dataclass
class _Repair:
    done: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    restart: bool = False


def repair(paths: Paths, name: str, say: Say, *, force: bool = False) -> DriftReport:
    """Restore the tool's files (see the module docstring); returns the report of what was
    found, with what was repaired and what was kept."""
    host = Host.for_paths(paths)
    with host_lock(paths):
        dep = _live(paths, name)
        reconcile(host, name, say)
        info = dep.read_info()
        store = Store(paths)
        found, notes = _check(host, store, dep, info, diff=False)
        fix = _Repair()
        rootfs = any(d.kind == "rootfs" for d in found)
        files = [d for d in found if d.kind != "rootfs"]
        if files:
            with history.recorded(paths, name, "repair", say, always=True):
                _repair_files(host, store, dep, info, files, fix, force)
                if fix.restart and not rootfs and host.systemd.is_active(activation.unit_of(name)):
                    host.systemd.stop(activation.unit_of(name))
                    host.systemd.start(activation.unit_of(name))
                    fix.done.append("restarted the service")
    if rootfs:
        _redeploy(paths, name, info, say)
        fix.done.append("rootfs: a fresh checkout of the image, switched to")
    for line in fix.done:
        say(f"repaired {name}: {line}")
    for path in fix.kept:
        say(f"warning: {name}: {path} was edited on the host; kept (--force replaces it)")
    return DriftReport(name, tuple(found), tuple(notes), tuple(fix.done), tuple(fix.kept))


def _repair_files(host: Host, store: Store, dep: dl.Deployment, info: dl.InstallInfo,
                  found: list[Difference], fix: _Repair, force: bool) -> None:
    kinds = {d.kind for d in found}
    if kinds & {"unit", "tmpfiles", "enablement"}:
        activation.install_units_of(host, dep, None)
        activation.activate(host, dep.name, None, enable=True)
        fix.done.append("unit, tmpfiles file and enablement as recorded")
        fix.restart = bool(kinds & {"unit"})
    if "config" in kinds:
        rendered, _why = _fresh_config(host.paths, store, dep, info)
        dl.write_private(dep.path / "config.json", rendered)
        fix.done.append("config.json rendered again from the recorded values")
        fix.restart = True
    files = [d for d in found if d.kind == "host-file"]
    if files:
        _repair_host_files(dep, info, files, fix, force)


def _repair_host_files(dep: dl.Deployment, info: dl.InstallInfo, files: list[Difference],
                       fix: _Repair, force: bool) -> None:
    from .build import host_plan

    wanted = {d.path for d in files if d.state == "missing" or force}
    fix.kept += [d.path for d in files if d.path not in wanted]
    for d in files:
        if d.path in wanted and d.state == "admin-edited":
            hostfiles.on_host(d.path).unlink()      # --force: the operator gave it up
    plan = tuple(e for e in host_plan(dep, info) if e.dest in wanted)
    if not plan:
        return
    recorded = {k: v for k, v in info.installed_files_checksum.items() if k not in wanted}
    installed = hostfiles.install_host_files(plan, previous=recorded)
    record_installed(dep, info, {**info.installed_files_checksum, **installed.checksums})
    fix.done += [f"host file {e.dest}" for e in plan]


def _redeploy(paths: Paths, name: str, info: dl.InstallInfo, say: Say) -> None:
    """A fresh checkout into the other deployment and a switch. A file changed *in place*
    through the deployment's hard link changed the store's object too (`images verify`
    shows it): those objects and their layers are dropped and fetched again from the
    image's source first, else the fresh checkout would link the same changed files."""
    from .images import Access
    from .update import UpdateRequest, update

    store = Store(paths)
    image = store.by_id(info.revision)
    tampered = store.verify(image) if image is not None else []
    if tampered:
        with host_lock(paths):
            layers = store.forget_tampered(tampered)
            say(f"{len(tampered)} file(s) of the image store were changed through the "
                f"deployment; fetching {len(layers)} layer(s) of {info.image} again")
            access = Access.from_info(info)
            try:
                pull_image(paths, store, access.parsed(), access.pull_options(None, update=True), say)
            except SysContainersError as e:
                raise SysContainersError(f"cannot restore the rootfs of {name}: fetching "
                                         f"{info.image} again failed: {e}") from None
    update(paths, UpdateRequest(name=name, offline=True, redeploy=True, verb="repair"), say)
