"""install: pull if needed, build NAME.0, then activate it on the host (docs/operations.md,
"What each verb does to the host").

Activation order (activation.py; each step undone in reverse on failure, so the host ends as
before): installing marker → host files → unit file → tmpfiles file → NAME link → enable →
daemon-reload → tmpfiles --create → marker removed.
Host files are plain copies, or a generated RPM installed with rpm -i (``--system-package``,
see syspackage.py); ``--system-package=build`` only writes that RPM and installs nothing.
The NAME link is the commit point: until it exists, leftovers are an incomplete install that
:func:`remove.clean_incomplete` removes on the next run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..deploy import deployment as dl
from ..deploy.privileges import not_allowed
from ..deploy.values import mask_text
from ..errors import ConfigError, ContainerExists, ImageNotFound, SysContainersError, UsageError
from ..images.pull import PullOptions, stored_name
from ..images.reference import default_container_name, parse_reference
from ..images.store import Store
from ..lock import host_lock
from ..paths import Paths
from ..service.health import HealthCheck
from ..service.runtime import find_runtime, probe_runtime
from . import activation as act
from . import build as b
from . import history
from . import syspackage
from .activation import Host
from .autopolicy import policy_at_install
from ..fileops import unlink_quiet
from ..deploy.variables import check_set_names, image_variables
from .health import effective_check
from .images import RegistryFiles, _name_for, access_for, ensure_image
from .remove import clean_incomplete
from .runonce import RunRequest, run_image
from .shadowing import check_not_shadowing
from .switch import reconcile

Say = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class InstallRequest:
    image: str
    name: str | None = None
    set_values: dict[str, str] = field(default_factory=dict)
    runtime: str | None = None
    display: bool = False
    remote: str | None = None
    system_package: str = "auto"
    force: bool = False           # --set of a variable no template of the image uses
    tls_verify: bool = True
    creds: tuple[str, str] | None = None     # --src-creds; used for the pull, never stored
    files: RegistryFiles = RegistryFiles()   # --authfile / --cert-dir (recorded, as paths)
    secret_names: frozenset[str] = frozenset()   # those of set_values given --set-secret
    allow: frozenset[str] = frozenset()          # --allow (deploy/privileges.py)
    signature_policy: str | None = None   # --signature-policy FILE (recorded for update)
    auto_update: str | None = None   # --auto-update; None: the image's label, else off (autopolicy.py)
    # --health-*/--no-healthcheck (lifecycle.health.operator_check); None: the image's check
    health_check: HealthCheck | None = None


def install(paths: Paths, req: InstallRequest, say: Say,
            packaging: syspackage.Packaging | None = None) -> int:
    """Returns the exit status: 0, or the container's for an ``atomic.run=once`` image (run
    once instead of installed). ``packaging``: the host as --system-package sees it (None:
    probe the real one)."""
    if req.name is not None:
        dl.validate_name(req.name)     # --name= (empty) is an error, not "the default name"
    with b.secrets_masked(req.set_values, req.secret_names):
        return _install(paths, req, say, packaging)


def _install(paths: Paths, req: InstallRequest, say: Say,
             packaging: syspackage.Packaging | None) -> int:
    packaging = packaging or syspackage.Packaging.probe()
    # yes/build that cannot work here fail before anything is pulled; auto is decided later
    if syspackage.choose(req.system_package, packaging, paths.user_mode) == "build":
        _build_package(paths, req, say)
        return 0
    runtime = probe_runtime(find_runtime(req.runtime or paths.config.runtime))
    if req.display:
        _display_only(paths, req, runtime, say, packaging)
        return 0
    host = Host.for_paths(paths, packaging.rpm)
    with host_lock(paths):
        store = Store(paths)
        # the name (given, or derived from the image name) is checked before anything is
        # pulled: an installed NAME changes nothing, a colliding one is refused
        planned = req.name or _planned_name(store, req.image)
        if planned and _prepare_name(host, store, planned, req, say):
            return 0
        image, image_name, _ref = ensure_image(paths, store, req.image, say,
                                               options=_pull_options(req))
        name = dl.validate_name(req.name or default_container_name(image_name))
        if name != planned and _prepare_name(host, store, name, req, say, image):
            return 0
        if not req.force:
            check_set_names(image_variables(store, image), req.set_values, image_name)
        if not _runs_once(image):
            tried = history.Version(image=image_name, image_id=image.id)
            with history.recorded(paths, name, "install", say, target=tried), \
                    b.secrets_masked(req.set_values, req.secret_names):   # the reason masked too
                _install_image(host, store, req, name, image, image_name, runtime, packaging, say)
            return 0
    # the lock is only for the pull: a run-once container runs in the foreground without it
    say(f"{image_name} is labelled atomic.run=once: running it once instead of installing it")
    return run_image(paths, RunRequest(image=image_name, name=req.name, set_values=req.set_values,
                                       runtime=req.runtime), say)


def _install_image(host: Host, store: Store, req: InstallRequest, name: str, image,
                   image_name: str, runtime, packaging: syspackage.Packaging, say: Say) -> None:
    paths = host.paths
    built = b.build(paths, store, _build_request(req, name, image, image_name, runtime, say),
                    dl.deployment(paths, name, 0))
    _warn(built, say)
    for line in b.privilege_lines(built):
        say(line)
    mode = syspackage.choose(req.system_package, packaging, paths.user_mode, built.exports)
    activate(host, built, say,
             host_package=(lambda: syspackage.install_host_package(
                 paths, built, image, host.rpm, say)) if mode == "yes" else None)
    say(f"installed {name} from {image_name} ({image.id[:12]})")
    check = effective_check(built.info)
    if check is not None:
        say(f"health check: {check.describe()}")


def _prepare_name(host: Host, store: Store, name: str, req: InstallRequest, say: Say,
                  image=None) -> bool:
    """True when NAME is already present (nothing to do); otherwise check that NAME is free
    and clear the leftovers of an interrupted install of it."""
    paths = host.paths
    if _present(host, store, name, req, say, image):
        return True
    _check_no_collision(paths, name)
    check_not_shadowing(paths, name)     # before anything is pulled when the name is known
    clean_incomplete(host, name, say)
    unlink_quiet(dl.installing_marker(paths, name))
    _check_free(paths, name)
    return False


def _runs_once(image) -> bool:
    return image.labels.get("atomic.run") == "once"


def _planned_name(store: Store, ref: str) -> str | None:
    """The default container name of ``ref`` without pulling it: from the stored image it
    names, else from the name a pull would store it under; None when that needs the source."""
    try:
        return dl.validate_name(default_container_name(_name_for(store.resolve(ref), ref)))
    except ImageNotFound:
        pass
    try:
        name = default_container_name(stored_name(parse_reference(ref)))
    except SysContainersError:
        return None
    return dl.validate_name(name)


def _build_package(paths: Paths, req: InstallRequest, say: Say) -> None:
    """--system-package=build: write the RPM to the current directory; nothing is
    installed (only the store may get the image, and the private temp dir is removed)."""
    if req.remote:
        raise UsageError("--system-package=build packages the image's rootfs; it cannot be "
                         "used with --remote")
    runtime = probe_runtime(find_runtime(req.runtime or paths.config.runtime))
    with host_lock(paths):
        store = Store(paths)
        image, image_name, _ref = ensure_image(paths, store, req.image, say, pull=not req.display,
                                               options=_pull_options(req))
        name = dl.validate_name(req.name or default_container_name(image_name))
        if req.display or image is None:
            say(f"would write the RPM package {syspackage.package_name(name)} of {req.image} "
                f"into {os.getcwd()}")
            return
        _check_installable(image, image_name, req)
        rpm = syspackage.build_package(
            paths, store, syspackage.PackageRequest(name, image, image_name, req.set_values, runtime),
            Path.cwd())
        say(f"wrote {rpm}")


def _present(host: Host, store: Store, name: str, req: InstallRequest, say: Say,
             image=None) -> bool:
    """True (after saying so) when NAME is installed from the same image with the same
    --set values; ContainerExists pointing to update when the image or a value differs."""
    paths = host.paths
    dl.clean_partials(paths, name)
    problem = dl.link_problem(paths, name)
    if problem:
        raise ContainerExists(problem)
    cur = dl.current(paths, name)
    if cur is None:
        return False
    reconcile(host, name, say)   # an install a crash interrupted after its link
    try:
        info = cur.read_info()
    except ConfigError:
        info = None              # unreadable: nothing to compare, and nothing is changed
    if info is not None:
        _check_same(store, name, req, info, image)
    say(f"{name} already present")
    return True


def _check_same(store: Store, name: str, req: InstallRequest, info: dl.InstallInfo,
                image=None) -> None:
    """Only the values given with --set are compared (a value not given is no request to
    change it, as for update); the image is the same when it has the installed image's
    ID, or one of its names is the one the container was installed from."""
    if image is None:
        try:
            image = store.resolve(req.image)
        except ImageNotFound:
            image = None
    names = {req.image, *(image.names if image is not None else ())}
    try:
        names.add(stored_name(parse_reference(req.image)))
    except SysContainersError:
        pass
    if info.image not in names and (image is None or image.id != info.revision):
        raise ContainerExists(
            f"container {name} is already installed from another image ({info.image}); "
            f"to move it to {req.image}: syscontainers update {name} --rebase {req.image}")
    changed = sorted(k for k, v in req.set_values.items() if info.values.get(k) != v)
    if changed:
        sets = " ".join(f"--set {k}=..." for k in changed)
        raise ContainerExists(
            f"container {name} is already installed with other values for {', '.join(changed)}; "
            f"to change them: syscontainers update {name} {sets}")


def _pull_options(req: InstallRequest) -> PullOptions:
    return PullOptions(tls_verify=req.tls_verify, creds=req.creds,
                       signature_policy=req.signature_policy, auth_file=req.files.auth_file,
                       cert_dir=req.files.cert_dir)


def _build_request(req: InstallRequest, name: str, image, image_name: str, runtime,
                   say: Say) -> b.BuildRequest:
    access = access_for(req.image, image_name, req.tls_verify, req.creds is not None,
                        req.signature_policy, req.files)
    return b.BuildRequest(name, image, image_name, req.set_values, runtime, remote=req.remote,
                          access=access.info_fields(), secret_names=frozenset(req.secret_names),
                          allowed=frozenset(req.allow), health_check=req.health_check,
                          auto_update=policy_at_install(req.auto_update, image.labels, say))


def _warn(built: b.Built, say: Say) -> None:
    for warning in built.rendered.warnings:
        say(f"warning: {warning}")
    for warning in b.secret_warnings(built.rendered, built.info.secret_values):
        say(f"warning: {warning}")


def _check_installable(image, image_name: str, req: InstallRequest) -> None:
    if image.labels.get("atomic.run") == "once":
        raise UsageError(f"image {image_name} is labelled atomic.run=once: use `syscontainers run {req.image}`")


def _display_only(paths: Paths, req: InstallRequest, runtime, say: Say,
                  packaging: syspackage.Packaging) -> None:
    """--display: render everything in a throwaway dir and print it; no lock, no pull, and
    nothing of the host's state is touched (not even created)."""
    store = Store(paths)
    image, image_name, _ref = ensure_image(paths, store, req.image, say, pull=False)
    name = dl.validate_name(req.name or default_container_name(image_name))
    problem = dl.link_problem(paths, name)
    if problem:
        raise ContainerExists(problem)
    if dl.current(paths, name) is not None:
        _check_same(store, name, req, dl.current(paths, name).read_info(), image)
        say(f"{name} already present")
        return
    _check_no_collision(paths, name)
    _check_free(paths, name)
    check_not_shadowing(paths, name)
    if image is None:
        say(f"would pull {req.image}, then install it as {name}")
        return
    if not req.force:
        check_set_names(image_variables(store, image), req.set_values, image_name)
    if _runs_once(image):
        say(f"would run {image_name} once (it is labelled atomic.run=once); nothing installed")
        return
    built = b.build(paths, store, _build_request(req, name, image, image_name, runtime, say),
                    dl.deployment(paths, name, 0), dry_run=True)
    _warn(built, say)
    _display(paths, built, say)
    if syspackage.choose(req.system_package, packaging, paths.user_mode, built.exports) == "yes":
        say(f"  host files through the RPM package {syspackage.package_name(name)} (rpm -i)")


def _check_no_collision(paths: Paths, name: str) -> None:
    why = dl.name_collision(paths, name)
    if why is not None:
        raise ContainerExists(why)


def _check_free(paths: Paths, name: str) -> None:
    for path, what in ((paths.unit_file(name), "systemd unit"), (paths.tmpfiles_file(name), "tmpfiles file")):
        if path.exists() or path.is_symlink():
            raise ContainerExists(f"{what} {path} already exists; remove it or choose another --name")


def activate(host: Host, built: b.Built, say: Say,
             host_package: Callable[[], Callable[[], None]] | None = None) -> None:
    """Put a built deployment in service; on any failure undo what was done (the built
    deployment too), then re-raise. ``host_package``: installs the host files through a
    package instead of copies and returns its undo (syspackage.install_host_package)."""
    name, r = built.deployment.name, built.rendered
    with act.UndoStack(say, f"while undoing the install of {name}") as undo:
        act.begin_install(host, built.deployment, undo)
        act.put_host_files(host, built, undo, package=host_package)
        act.install_units(host, name, r.unit, r.tmpfiles, undo, crash_point="install-unit")
        act.link(host, built.deployment, undo, crash_point="install-link")
        # enable works on the files; the one daemon-reload after it covers both
        act.activate(host, name, undo, enable=r.unit is not None, reload=r.unit is not None)
        act.end_install(host, name)


def _display(paths: Paths, built: b.Built, say: Say) -> None:
    secrets = built.info.secret_values
    _display_masked(paths, built, lambda text: say(mask_text(text, built.info.values, secrets)))


def _display_masked(paths: Paths, built: b.Built, say: Say) -> None:
    name = built.deployment.name
    r = built.rendered
    say(f"would install {name} from {built.info.image} ({built.info.revision[:12]})")
    say(f"  deployment: {built.deployment.path} (link {dl.link_path(paths, name)})")
    args = (r.config.get("process") or {}).get("args") or []
    say(f"  container command: {' '.join(args)}")
    for label, path, text in (("systemd unit", paths.unit_file(name), r.unit),
                              ("tmpfiles", paths.tmpfiles_file(name), r.tmpfiles)):
        if text is not None:
            say(f"  {label}: {path}")
            say("\n".join(f"    {line}" for line in text.rstrip().splitlines()))
    for h in r.host_files:
        say(f"  host file: {h.dest}")
    for line in b.privilege_lines(built):
        say(f"  {line}")
    missing = not_allowed(built.privileges, built.info.allowed_privileges or ())
    if missing:
        say(f"  would be refused without --allow={','.join(dict.fromkeys(p.name for p in missing))}")
