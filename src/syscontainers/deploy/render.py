"""Rendering a deployment: values + ``/exports`` -> config.json, unit, tmpfiles, host files.

Everything happens in memory and is validated before anything is written: a verb calls

    exports = read_exports(rootfs, image_name)                     # exports.py
    values = deployment_values(exports, target, user_set, uuid)    # all values, forced included
    rendered = render_deployment(exports, values, target)          # RenderedFiles, or an error

and only then writes ``rendered`` (config.json, NAME.service, tmpfiles-NAME.conf, host files).
Any error (missing variable, invalid JSON, a newline in a unit value ...) is raised before
anything is written, so nothing is installed.

Sources (docs/templates.md, "Values"):
- config.json: exports/config.json as is, else config.json.template rendered, else the
  runtime's default spec running the image's own command (``Target.image_process``) and a
  warning in ``RenderedFiles.warnings``. It must parse as a JSON
  object and pass :func:`ocispec.validate_config`. It is then rewritten when the rootfs is
  remote (root.path) or in user mode (user namespace). An unchanged config keeps its text.
- unit: exports/service.template, else :data:`DEFAULT_UNIT_TEMPLATE` (whose Exec lines with an
  empty value are left out). None with noContainerService and for run-once.
- tmpfiles: exports/tmpfiles.template, else ``d PATH 0700 HOST_UID HOST_GID - -`` for every
  absolute bind-mount source of config.json missing on the host. None when empty.

Textual substitution is safe because results are checked: config.json must still parse (a value
with a newline may go there: JSON whitespace); a value used by the unit or tmpfiles template
must not contain a newline (it would add a line), nor, in a unit, end with a backslash (it would
continue the line).
"""

from __future__ import annotations

import json
import os
import pwd
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from ..errors import TemplateError
from ..service.runtime import (ExecCommands, Runtime, detachable_foreground, exec_commands,
                               service_cgroup_path)
from . import ocispec
from .exports import Exports
from .hostfiles import HostFile, plan_host_files, rendered_renames
from .template import render_template, template_variables
from .values import compute_values, forced_values, os_values

__all__ = [
    "DEFAULT_UNIT_TEMPLATE", "RenderedFiles", "Target", "deployment_values",
    "render_deployment", "render_template", "template_variables", "unit_template",
    "tmpfiles_for_missing",
]

DEFAULT_UNIT_TEMPLATE = """\
[Unit]
Description=$NAME

[Service]
Type=forking
Delegate=yes
KillMode=mixed
ExecStartPre=$EXEC_STARTPRE
ExecStart=$EXEC_START
ExecStop=$EXEC_STOP
ExecStopPost=$EXEC_STOPPOST
Restart=on-failure
WorkingDirectory=$DESTDIR
PIDFile=$PIDFILE

[Install]
WantedBy=multi-user.target
"""


@dataclass(frozen=True)
class Target:
    """What a deployment is rendered for (besides the values)."""

    name: str
    destdir: Path                     # the deployment dir CHECKOUTS/NAME.N (DESTDIR)
    image_name: str
    image_id: str
    user_mode: bool
    runtime: Runtime
    remote_rootfs: Path | None = None  # --remote: config.json root.path points there
    run_once: bool = False             # no unit, no host files, root.readonly not required
    host_root: Path = Path("/")        # the host's / (bind sources, /etc/subuid); tests: a temp dir
    image_process: ocispec.ImageProcess | None = None   # the image's own command, for the
    #                                   default config of an image that ships none
    uid: int = field(default_factory=os.getuid)
    gid: int = field(default_factory=os.getgid)


@dataclass(frozen=True)
class RenderedFiles:
    """A rendered deployment, validated, not yet written anywhere."""

    values: dict[str, str]            # every value, forced ones included (info file "values")
    config_json: str | None           # None only with noContainerService and no image config
    config: dict                      # config_json parsed ({} when None)
    unit: str | None                  # NAME.service, None without a container service
    tmpfiles: str | None              # tmpfiles-NAME.conf, None when there is nothing to create
    exec: ExecCommands
    host_files: tuple[HostFile, ...]  # plan for hostfiles.install_host_files
    rename_files: dict[str, str]      # renameFiles rendered (info "rename-installed-files")
    has_container_service: bool
    warnings: tuple[str, ...] = ()    # for the operator (e.g. default config.json generated)


def unit_template(exports: Exports) -> str:
    """The unit template in effect: the image's service.template, else the default unit."""
    return exports.service_template if exports.service_template is not None \
        else DEFAULT_UNIT_TEMPLATE


def deployment_values(exports: Exports, target: Target, user_set: Mapping[str, str],
                      uuid: str | None = None) -> dict[str, str]:
    """All values of a deployment (docs/templates.md, "Values"), EXEC_* chosen for its unit template.

    ``user_set`` is ``values.parse_set(--set)`` on install, ``values.carried_values(info
    values, --set)`` on update; ``uuid`` None means a new random UUID unless ``user_set``
    carries one.
    """
    defaults = exports.manifest.default_values
    osv = os_values(target.user_mode, target.name, target.runtime.path, uuid, user_set)
    pidfile = compute_values(defaults, osv, user_set, {})["PIDFILE"]
    execs = exec_commands(target.runtime, target.name, pidfile, target.user_mode,
                          unit_template(exports))
    forced = forced_values(name=target.name, destdir=str(target.destdir), exec_commands=execs,
                           image_name=target.image_name, image_id=target.image_id,
                           host_uid=target.uid, host_gid=target.gid)
    return compute_values(defaults, osv, user_set, forced)


def render_deployment(exports: Exports, values: Mapping[str, str],
                      target: Target) -> RenderedFiles:
    """Render and validate everything (module docstring); TemplateError/ConfigError if bad."""
    values = dict(values)
    warnings: list[str] = []
    has_service = not exports.manifest.no_container_service and not target.run_once
    config_text, config = _render_config(exports, values, target, warnings)
    unit = _render_unit(exports, values, target.image_name) if has_service else None
    if unit is not None and target.user_mode:
        unit = _for_user_manager(unit)
    if unit is not None and not target.user_mode:
        config_text, config = _in_service_cgroup(config_text, config, target.name, unit)
    tmpfiles = _render_tmpfiles(exports, values, config, target)
    if target.run_once:
        host_files, renames = (), {}
    else:
        renames = rendered_renames(exports.manifest, values)
        host_files = plan_host_files(exports.hostfs, exports.manifest, values)
    execs = ExecCommands(values.get("EXEC_START", ""), values.get("EXEC_STOP", ""),
                         values.get("EXEC_STARTPRE", ""), values.get("EXEC_STOPPOST", ""))
    return RenderedFiles(values, config_text, config, unit, tmpfiles, execs, host_files,
                         renames, not exports.manifest.no_container_service, tuple(warnings))


# ---------------------------------------------------------------------------- config.json

def _render_config(exports: Exports, values: dict, target: Target,
                   warnings: list[str]) -> tuple[str | None, dict]:
    image = target.image_name
    if exports.config_json is not None:
        text, what = exports.config_json, f"config.json of image {image}"
    elif exports.config_template is not None:
        what = f"config.json.template of image {image}"
        text = render_template(exports.config_template, values, what)
        what = f"config.json rendered from {what}"
    elif exports.manifest.no_container_service:
        return None, {}
    else:
        text, what = None, f"default config.json for image {image}"
        args = list(target.image_process.args) if target.image_process else []
        runs = f"the image's own command ({' '.join(args)})" if args else "run.sh"
        warnings.append(f"image {image} ships no config.json: a default one was generated that "
                        f"runs {runs}; you may want exports in the image (a "
                        f"config.json.template), or to edit {Path(target.destdir) / 'config.json'}")

    cfg = ocispec.parse_config(text, what) if text is not None \
        else ocispec.default_spec(target.runtime.path, target.image_process)
    remote = target.remote_rootfs is not None
    ocispec.validate_config(cfg, remote=remote, run_once=target.run_once, what=what)
    final = cfg
    if remote:
        final = ocispec.with_root_path(final, str(target.remote_rootfs))
    if target.user_mode:
        subuid, subgid = _subid_ranges(target, warnings)
        final = ocispec.rewrite_for_user_namespace(final, target.uid, target.gid, subuid, subgid)
    if text is None or final != cfg:
        text = json.dumps(final, indent=4) + "\n"
    return text, final


def _in_service_cgroup(text: str | None, config: dict, name: str,
                       unit: str) -> tuple[str | None, dict]:
    """The config with ``linux.cgroupsPath`` naming a child of the service's cgroup, so the
    container's output is the service's in the journal and stopping the service stops it
    (docs/templates.md "Where the container runs"). A cgroupsPath the image sets is kept: the
    image then chose where its container runs."""
    if not config or "cgroupsPath" in (config.get("linux") or {}):   # {}: accepted as empty
        return text, config
    linux = {**(config.get("linux") or {}), "cgroupsPath": service_cgroup_path(name, unit)}
    final = {**config, "linux": linux}
    return json.dumps(final, indent=4) + "\n", final


# Where the setuid helpers that write a multi-range uid/gid map (package uidmap) live.
_MAPPING_TOOL_DIRS = ("usr/bin", "usr/sbin", "bin", "sbin")


def _subid_ranges(target: Target, warnings: list[str]):
    """The user's /etc/subuid and /etc/subgid ranges, or (None, None) when the host lacks
    newuidmap/newgidmap: an unprivileged runtime can then map only the user itself, and a
    config asking for more would not start at all (runc: "mapping tool not present")."""
    try:
        user = pwd.getpwuid(target.uid).pw_name
    except KeyError:
        user = str(target.uid)
    root = Path(target.host_root)
    ranges = (ocispec.read_subid_range(root / "etc/subuid", user, target.uid),
              ocispec.read_subid_range(root / "etc/subgid", user, target.gid))
    if ranges == (None, None):
        return ranges
    missing = [tool for tool in ("newuidmap", "newgidmap")
               if not any((root / d / tool).exists() for d in _MAPPING_TOOL_DIRS)]
    if missing:
        warnings.append(f"{' and '.join(missing)} not installed: the container maps only "
                        f"uid {target.uid} and gid {target.gid} (as its root), not the "
                        "subordinate ids of /etc/subuid and /etc/subgid")
        return None, None
    return ranges


# ---------------------------------------------------------------------------- unit, tmpfiles

def _render_unit(exports: Exports, values: dict, image: str) -> str:
    if exports.service_template is not None:
        template, what = exports.service_template, f"service.template of image {image}"
    else:
        template, what = _without_empty_exec_lines(values), "default unit"
    detach = exports.service_template is not None and detachable_foreground(template) \
        and bool(values.get("EXEC_STOPPOST"))
    _check_line_safe(template + (DETACHED_LINES if detach else ""), values, "unit file",
                     continuation=True)
    _check_pidfile(template, values, detach)
    unit = render_template(template, values, what)
    return detach_foreground_unit(unit, values) if detach else unit


# What a foreground unit gets at the end of its [Service] section (detach_foreground_unit).
DETACHED_LINES = """\
# syscontainers: the runtime runs detached, the container's init is the main process (docs/templates.md)
Type=forking
PIDFile=$PIDFILE
ExecStopPost=-$EXEC_STOPPOST
"""


def detach_foreground_unit(unit: str, values: Mapping[str, str]) -> str:
    """An image's foreground unit (runtime.detachable_foreground) made to run its container
    detached (docs/templates.md "Foreground templates run detached"): its ``Type=simple`` /
    ``Type=exec`` lines dropped, and at the end of ``[Service]`` ``Type=forking`` and
    ``PIDFile=`` (systemd follows the container's init, which becomes its child when runc
    exits, so its exit status is the service's) and the runtime's delete after stop (``-``:
    a container already gone is no failure). The rest is kept as the image wrote it."""
    added = render_template(DETACHED_LINES, values, "lines added to a foreground unit") \
        .splitlines(keepends=True)
    out, section, done = [], "", False
    for line in unit.splitlines(keepends=True):
        text = line.strip()
        if text.startswith("[") and text.endswith("]"):
            if section == "[Service]" and not done:
                out[_after_last_setting(out):_after_last_setting(out)] = added
                done = True
            section = text
        elif section == "[Service]" and text.partition("=")[0].strip() == "Type":
            continue
        out.append(line if line.endswith("\n") else line + "\n")
    if not done:
        out += added
    return "".join(out)


def _after_last_setting(lines: list[str]) -> int:
    """Index after the last non-blank line (so added lines keep a section's blank separator)."""
    i = len(lines)
    while i and not lines[i - 1].strip():
        i -= 1
    return i


def _check_pidfile(template: str, values: Mapping[str, str], detach: bool = False) -> None:
    """The Exec lines quote the pid file (runtime.exec_quote), but ``PIDFile=`` takes the
    path as it is and systemd reads ``%`` there as a specifier: the two would name different
    files and the service could never start (docs/templates.md "Quoting on Exec lines").
    ``detach``: the tool adds a ``PIDFile=`` line itself."""
    uses = detach or "PIDFILE" in template_variables(template)
    if "%" in values.get("PIDFILE", "") and uses:
        raise TemplateError(
            f"PIDFILE {values['PIDFILE']!r} contains '%', which systemd reads as a specifier "
            "in PIDFile=; choose a RUN_DIRECTORY (or PIDFILE) without '%'")


def _for_user_manager(unit: str) -> str:
    """The unit with ``WantedBy=multi-user.target`` naming ``default.target`` instead.

    A user manager has no multi-user.target: enabling a unit wanted by it would link it into a
    target that never starts. default.target is the user manager's equivalent (reached at
    login, or at boot for a lingering user). Other lines are kept as the image wrote them.
    """
    out = []
    for line in unit.splitlines(keepends=True):
        key, sep, value = line.partition("=")
        if sep and key.strip() == "WantedBy" and "multi-user.target" in value.split():
            targets = ["default.target" if t == "multi-user.target" else t for t in value.split()]
            line = f"{key}={' '.join(dict.fromkeys(targets))}\n"
        out.append(line)
    return "".join(out)


def _without_empty_exec_lines(values: Mapping[str, str]) -> str:
    """The default unit minus its ``ExecX=$EXEC_X`` lines whose value is empty.

    ``Type=forking`` stays only in detached mode (EXEC_STOPPOST set): `runc run -d` exits once
    the container runs, and systemd must then follow the PID file. Without it, systemd takes
    runc's exit as the end of the service, and a container that crashes is reported
    "inactive" instead of "failed" (its exit status is never seen).
    """
    kept = []
    for line in DEFAULT_UNIT_TEMPLATE.splitlines(keepends=True):
        key, _, ref = line.strip().partition("=$")
        if key.startswith("Exec") and ref.startswith("EXEC_") and not values.get(ref):
            continue
        if line.strip() == "Type=forking" and not values.get("EXEC_STOPPOST"):
            continue
        kept.append(line)
    return "".join(kept)


def _render_tmpfiles(exports: Exports, values: dict, config: dict,
                     target: Target) -> str | None:
    if exports.tmpfiles_template is not None:
        _check_line_safe(exports.tmpfiles_template, values, "tmpfiles file", continuation=False)
        text = render_template(exports.tmpfiles_template, values,
                               f"tmpfiles.template of image {target.image_name}")
    else:
        missing = ocispec.missing_bind_sources(config, Path(target.host_root))
        text = tmpfiles_for_missing(missing, values.get("HOST_UID", str(target.uid)),
                                    values.get("HOST_GID", str(target.gid)))
    return text or None


def tmpfiles_for_missing(paths: list[str], uid: str, gid: str) -> str:
    """``d PATH 0700 UID GID - -`` lines, one per path (paths quoted for systemd-tmpfiles)."""
    return "".join(f"d {_tmpfiles_quote(p)} 0700 {uid} {gid} - -\n" for p in paths)


def _tmpfiles_quote(path: str) -> str:
    """A path as one tmpfiles field: ``%`` doubled (specifiers), quoted when it has blanks."""
    path = path.replace("%", "%%")
    if not any(c in path for c in ' \t\n\r"\'\\'):
        return path
    escaped = (path.replace("\\", "\\\\").replace('"', '\\"')
               .replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{escaped}"'


def _check_line_safe(template: str, values: Mapping[str, str], kind: str,
                     continuation: bool) -> None:
    """TemplateError when a value the template uses would add or join lines in ``kind``."""
    for name in sorted(template_variables(template)):
        value = values.get(name)
        if value is None:
            continue  # render_template reports missing values
        if "\n" in value or "\r" in value:
            raise TemplateError(
                f"value of {name} contains a newline; it would add a line to the {kind}")
        if "\0" in value:
            raise TemplateError(f"value of {name} contains a NUL character, invalid in the {kind}")
        if continuation and value.endswith("\\"):
            raise TemplateError(
                f"value of {name} ends with a backslash; it would join lines in the {kind}")
