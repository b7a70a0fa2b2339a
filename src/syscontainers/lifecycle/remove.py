"""uninstall, and the clean-up of installs/uninstalls a crash interrupted
(docs/operations.md, "What each verb does to the host"; the steps are activation.py's).

Order: disable --now, remove the unit first (so it cannot start again), daemon-reload, remove
tmpfiles (`systemd-tmpfiles --remove`, then the file), the runtime container the
stopped unit left (leftover.py), host files, the package that holds
them when one was installed (`rpm -e`), the link, then both deployments. Every step tolerates
"already done", so a half-done uninstall can be run again. A preinstalled container (shipped
by a package, e.g. one from `install --system-package=build`) is uninstalled by removing its
package.
"""

from __future__ import annotations

import shutil
from typing import Callable

from .. import faults
from ..deploy import deployment as dl
from ..deploy.rpmpackage import RpmTool, package_name
from ..errors import ConfigError, ContainerNotFound, ServiceError
from ..lock import host_lock
from ..paths import Paths
from . import activation as act
from . import history
from . import leftover
from .activation import Host
from ..fileops import read_or_none, unlink_quiet

Say = Callable[[str], None]


def known(paths: Paths, name: str) -> bool:
    """Anything of NAME left on the host: link, deployment dirs (a half-done uninstall)."""
    return dl.link_path(paths, name).is_symlink() or bool(dl.existing(paths, name))


def uninstall(paths: Paths, name: str, say: Say, force: bool = False,
              rpm: RpmTool | None = None) -> None:
    """``rpm``: the host's rpm (tests: one with a throwaway root)."""
    dl.validate_name(name)
    host = Host.for_paths(paths, rpm)
    with host_lock(paths):
        dl.clean_partials(paths, name)
        if not known(paths, name):
            if (paths.preinstalled / name).is_dir():
                return _remove_preinstalled(host, name, say)
            if force:
                return  # --force: nothing to do is not an error (and an operator's unit stays)
            raise ContainerNotFound(f"container {name} is not installed")
        with history.recorded(paths, name, "uninstall", say):
            teardown(host, name, say)
        say(f"uninstalled {name}")


def _remove_preinstalled(host: Host, name: str, say: Say) -> None:
    """Preinstalled: stop it and remove its package (atomic-container-NAME, as atomic)."""
    package = package_name(name)
    if shutil.which("rpm") is None or not host.rpm.is_installed(package):
        raise ContainerNotFound(f"{name} is preinstalled with the OS and no package {package} "
                                "ships it; remove the package that does")
    host.systemd.disable_now(f"{name}.service")
    leftover.clear(host, name, dl.Deployment(name, 0, host.paths.preinstalled / name))
    host.rpm.erase(package)
    try:
        host.systemd.daemon_reload()
    except ServiceError:
        pass
    say(f"uninstalled {name} (removed the package {package})")


def teardown(host: Host, name: str, say: Say) -> None:
    """Out of service (activation.deactivate), host files and package removed, then the link
    and the deployments. No undo: each step tolerates "already done" (re-runnable)."""
    paths = host.paths
    cur = dl.current(paths, name)
    live = cur if cur is not None and cur.exists() else None
    deps = dl.existing(paths, name)
    infos = _infos(deps, say)
    act.deactivate(host, name, live)
    # host files: those of the current deployment (the others were removed when it switched)
    main = live or (deps[0] if deps else None)
    if main is not None and main.path in infos:
        act.remove_host_files(host, infos[main.path], say)
    dl.remove_link(paths, name)
    faults.point("uninstall-link")
    for d in deps:
        dl.remove_tree(d.path)
    for index in (0, 1):      # an update auto-update --stage prepared (lifecycle/staging.py)
        dl.remove_tree(dl.staged_dir(paths, name, index))
    unlink_quiet(dl.switching_marker(paths, name))
    unlink_quiet(dl.installing_marker(paths, name))


def _infos(deps, say: Say) -> dict:
    infos = {}
    for d in deps:
        try:
            infos[d.path] = d.read_info()
        except ConfigError as e:
            say(f"warning: {e}")
    return infos


def clean_incomplete(host: Host | Paths, name: str, say: Say, rpm: RpmTool | None = None) -> None:
    """Deployment dirs without a NAME link are the remains of an interrupted install or
    uninstall: finish removing them. A unit/tmpfiles file is removed only if it is the copy
    kept in such a deployment (an operator's own file with that name is left alone).
    ``host``: the verb's (Paths: the real host, ``rpm`` its rpm tool)."""
    host = Host.of(host, rpm)
    if dl.link_path(host.paths, name).is_symlink():
        return
    deps = dl.existing(host.paths, name)
    if not deps:
        return
    say(f"cleaning up an interrupted install/uninstall of {name}")
    for d in deps:
        act.deactivate(host, name, d, unit_copy=read_or_none(d.unit_copy),
                       tmpfiles_copy=read_or_none(d.tmpfiles_copy))
        try:
            info = d.read_info()
        except ConfigError:
            info = None
        if info is not None:
            act.remove_host_files(host, info, lambda msg: None)   # as before: no warnings here
        dl.remove_tree(d.path)
    for index in (0, 1):
        dl.remove_tree(dl.staged_dir(host.paths, name, index))


def leftover_names(paths: Paths) -> list[str]:
    """Containers with deployment dirs but no NAME link: an uninstall (or install) that did
    not finish. `images prune` removes them."""
    return sorted({d.name for d in dl.deployment_dirs(paths)
                   if not dl.link_path(paths, d.name).is_symlink()})
