"""uninstall, and the clean-up of installs/uninstalls a crash interrupted (SPEC 4).

Order: disable --now, remove the unit first (so it cannot start again), daemon-reload, remove
tmpfiles (`systemd-tmpfiles --remove`, then the file), host files, the package that holds
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
from ..deploy.hostfiles import remove_host_files
from ..deploy.rpmpackage import RpmTool, package_name
from ..errors import ConfigError, ContainerNotFound, ServiceError
from ..lock import host_lock
from ..paths import Paths
from ..service.systemd import Systemd
from . import leftover
from .files import read_or_none, unlink_quiet
from .syspackage import erase_recorded

Say = Callable[[str], None]


def known(paths: Paths, name: str) -> bool:
    """Anything of NAME left on the host: link, deployment dirs (a half-done uninstall)."""
    return dl.link_path(paths, name).is_symlink() or bool(dl.existing(paths, name))


def uninstall(paths: Paths, name: str, say: Say, force: bool = False,
              rpm: RpmTool | None = None) -> None:
    """``rpm``: the host's rpm (tests: one with a throwaway root)."""
    dl.validate_name(name)
    rpm = rpm or RpmTool()
    with host_lock(paths):
        dl.clean_partials(paths, name)
        if not known(paths, name):
            if (paths.preinstalled / name).is_dir():
                return _remove_preinstalled(paths, name, say, rpm)
            if force:
                return  # --force: nothing to do is not an error (and an operator's unit stays)
            raise ContainerNotFound(f"container {name} is not installed")
        teardown(paths, name, say, rpm)
        say(f"uninstalled {name}")


def _remove_preinstalled(paths: Paths, name: str, say: Say, rpm: RpmTool) -> None:
    """Preinstalled: stop it and remove its package (atomic-container-NAME, as atomic)."""
    package = package_name(name)
    if shutil.which("rpm") is None or not rpm.is_installed(package):
        raise ContainerNotFound(f"{name} is preinstalled with the OS and no package {package} "
                                "ships it; remove the package that does")
    systemd = Systemd(paths.user_mode)
    systemd.disable_now(f"{name}.service")
    leftover.clear(paths, name, dl.Deployment(name, 0, paths.preinstalled / name))
    rpm.erase(package)
    try:
        systemd.daemon_reload()
    except ServiceError:
        pass
    say(f"uninstalled {name} (removed the package {package})")


def teardown(paths: Paths, name: str, say: Say, rpm: RpmTool | None = None) -> None:
    systemd = Systemd(paths.user_mode)
    cur = dl.current(paths, name)
    deps = dl.existing(paths, name)
    infos = _infos(deps, say)
    _remove_unit_files(paths, name, systemd)
    # the unit is stopped: no runtime container may outlive it (leftover.py); an error here
    # stops the uninstall before "uninstalled" is said, and running it again retries
    leftover.clear(paths, name, cur if cur is not None and cur.exists() else None)
    # host files: those of the current deployment (the others were removed when it switched)
    main = cur if cur is not None and cur.exists() else (deps[0] if deps else None)
    if main is not None and main.path in infos:
        for kept in remove_host_files(infos[main.path].installed_files_checksum):
            say(f"warning: kept {kept}: changed since it was installed")
        erase_recorded(infos[main.path], rpm or RpmTool())
    dl.remove_link(paths, name)
    faults.point("uninstall-link")
    for d in deps:
        dl.remove_tree(d.path)
    unlink_quiet(dl.switching_marker(paths, name))
    unlink_quiet(dl.installing_marker(paths, name))


ANY = object()   # _remove_unit_files: the file is ours whatever it holds


def _remove_unit_files(paths: Paths, name: str, systemd: Systemd,
                       unit_copy: object = ANY, tmpfiles_copy: object = ANY) -> None:
    """Disable and remove NAME's unit, then its tmpfiles entries and file. A copy (text)
    given: the file is removed only if it holds exactly that (ours; an operator's file
    stays); None: no copy, so the file is not ours."""
    unit, tmp = paths.unit_file(name), paths.tmpfiles_file(name)
    if _ours(unit, unit_copy):
        # one daemon-reload, after the file is gone (disable's own reload would be a second)
        systemd.disable_now(f"{name}.service", reload=False)
        unlink_quiet(unit)
        try:
            systemd.daemon_reload()
        except ServiceError:
            pass
        systemd.reset_failed(f"{name}.service")
    if _ours(tmp, tmpfiles_copy):
        try:
            systemd.tmpfiles("remove", str(tmp))
        finally:
            unlink_quiet(tmp)


def _ours(path, copy: object) -> bool:
    text = read_or_none(path)
    return text is not None and (copy is ANY or text == copy)


def _infos(deps, say: Say) -> dict:
    infos = {}
    for d in deps:
        try:
            infos[d.path] = d.read_info()
        except ConfigError as e:
            say(f"warning: {e}")
    return infos


def clean_incomplete(paths: Paths, name: str, say: Say, rpm: RpmTool | None = None) -> None:
    """Deployment dirs without a NAME link are the remains of an interrupted install or
    uninstall: finish removing them. A unit/tmpfiles file is removed only if it is the copy
    kept in such a deployment (an operator's own file with that name is left alone)."""
    if dl.link_path(paths, name).is_symlink():
        return
    deps = dl.existing(paths, name)
    if not deps:
        return
    say(f"cleaning up an interrupted install/uninstall of {name}")
    systemd = Systemd(paths.user_mode)
    for d in deps:
        _remove_unit_files(paths, name, systemd, read_or_none(d.unit_copy),
                           read_or_none(d.tmpfiles_copy))
        leftover.clear(paths, name, d)
        try:
            info = d.read_info()
            remove_host_files(info.installed_files_checksum)
            erase_recorded(info, rpm or RpmTool())
        except ConfigError:
            pass
        dl.remove_tree(d.path)


def leftover_names(paths: Paths) -> list[str]:
    """Containers with deployment dirs but no NAME link: an uninstall (or install) that did
    not finish. `images prune` removes them."""
    return sorted({d.name for d in dl.deployment_dirs(paths)
                   if not dl.link_path(paths, d.name).is_symlink()})
