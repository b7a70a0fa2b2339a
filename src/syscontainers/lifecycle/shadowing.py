"""A container name must not shadow a unit or tmpfiles file the OS already has.

``install --name fstrim`` would write ``/etc/systemd/system/fstrim.service`` over the vendor's
``/usr/lib/systemd/system/fstrim.service`` (a unit in /etc wins), and ``--name tmp`` would write
``/etc/tmpfiles.d/tmp.conf``, which masks ``/usr/lib/tmpfiles.d/tmp.conf``. Both silently change
the host. :func:`check_not_shadowing` refuses such a name before anything is pulled or written
(docs/operations.md, "Errors and broken state"): systemd is asked which file defines
``NAME.service`` (any unit path, generators and transient units included), every unit
directory is looked at too (so a vendor unit hidden behind another file, or a host without a
running manager, is still seen), and every tmpfiles.d directory is looked at for
``NAME.conf``. The only files that do not count are our own: the unit or tmpfiles file at our
path whose text is the copy kept in one of NAME's deployment dirs (an install a crash
interrupted, which the install cleans up).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from ..deploy import deployment as dl
from ..errors import ContainerExists
from ..paths import SYSTEM_TMPFILES_DIRS, Paths
from ..service.systemd import Systemd, UnitOrigin
from ..fileops import read_or_none
from ..proc import side_by_side



def check_not_shadowing(paths: Paths, name: str, env: Mapping[str, str] = os.environ) -> None:
    """ContainerExists when ``NAME.service`` or ``NAME.conf`` already means something to the
    OS (module docstring)."""
    unit = f"{name}.service"
    systemd = Systemd(paths.user_mode)
    # two systemd questions, one wait (the search path is systemd-analyze's: ~40-200 ms)
    origin, dirs = side_by_side(lambda: systemd.unit_origin(unit), systemd.unit_dirs)
    ours_unit = _our_copies(paths, name, "unit")
    files = _unit_files(dirs, unit, origin)
    for path in files:
        if not _is_ours(path, paths.unit_file(name), ours_unit):
            _refuse_ours_path(path, paths.unit_file(name), "systemd unit")
            raise ContainerExists(f"the name {name} is taken: systemd already has the unit "
                                  f"{unit} ({path}); choose another --name")
    if origin is not None and origin.known and not files:
        raise ContainerExists(f"the name {name} is taken: systemd already has the unit {unit} "
                              f"({origin.load_state}); choose another --name")
    ours_tmpfiles = _our_copies(paths, name, "tmpfiles")
    for d in tmpfiles_dirs(paths.user_mode, env):
        path = Path(d) / f"{name}.conf"
        if os.path.lexists(path) and not _is_ours(path, paths.tmpfiles_file(name), ours_tmpfiles):
            _refuse_ours_path(path, paths.tmpfiles_file(name), "tmpfiles file")
            raise ContainerExists(f"the name {name} is taken: the tmpfiles file {path} exists "
                                  "and a container of that name would shadow it; choose "
                                  "another --name")


def _unit_files(unit_dirs: list[str], unit: str, origin: UnitOrigin | None) -> list[Path]:
    """Every file that defines ``unit`` (or its template): systemd's answer first, then the
    unit directories themselves."""
    found = [Path(origin.fragment)] if origin is not None and origin.fragment else []
    names = [unit]
    prefix, at, rest = unit.partition("@")
    if at and rest != ".service":
        names.append(f"{prefix}@.service")     # an instance of a template the OS ships
    for d in unit_dirs:
        for n in names:
            path = Path(d) / n
            if os.path.lexists(path) and path not in found:
                found.append(path)
    return found


def _refuse_ours_path(path: Path, our_path: Path, what: str) -> None:
    """At our own path, someone else's file gets install's usual message."""
    if os.path.abspath(path) == os.path.abspath(our_path):
        raise ContainerExists(f"{what} {our_path} already exists; remove it or choose another "
                              "--name")


def _our_copies(paths: Paths, name: str, kind: str) -> set[str]:
    texts = set()
    for dep in dl.existing(paths, name):
        text = read_or_none(dep.unit_copy if kind == "unit" else dep.tmpfiles_copy)
        if text is not None:
            texts.add(text)
    return texts


def _is_ours(path: Path, our_path: Path, our_texts: set[str]) -> bool:
    if os.path.abspath(path) != os.path.abspath(our_path) or os.path.islink(path):
        return False
    try:
        return read_or_none(path) in our_texts
    except (OSError, UnicodeDecodeError):
        return False


def tmpfiles_dirs(user_mode: bool, env: Mapping[str, str]) -> list[str]:
    """Where systemd-tmpfiles looks for ``*.conf`` (systemd-tmpfiles(8)), for the system or
    for ``--user``."""
    if not user_mode:
        return list(SYSTEM_TMPFILES_DIRS)
    home = env.get("HOME") or os.path.expanduser("~")
    config = env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    data = env.get("XDG_DATA_HOME") or os.path.join(home, ".local/share")
    dirs = [config]
    if env.get("XDG_RUNTIME_DIR"):
        dirs.append(env["XDG_RUNTIME_DIR"])
    dirs.append(data)
    dirs += (env.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(":")
    dirs += (env.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share").split(":")
    return [os.path.join(d, "user-tmpfiles.d") for d in dirs if d]
