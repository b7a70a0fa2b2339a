"""``lint``: an image's ``/exports`` checked the way an install would check it, without
installing (docs/image-authors.md "Lint your image"; the contract is docs/templates.md).

The checks are the install's own functions (exports.py's reader and manifest parser,
variables.image_variables, template.render_template, ocispec.parse_config/validate_config,
hostfiles.plan_host_files, render.render_deployment, privileges.review), run on every template
with the image's defaults and ``""`` for each variable ``--set`` must give (as ``images
inspect`` does), but each failure is collected as a :class:`Finding` instead of ending the run.
On top come the checks only an author needs: variables without a default or never used,
renameFiles/installedFilesTemplate entries hostfs does not have, hostfs paths that collide
with the OS, the labels, and ``systemd-analyze verify`` / ``systemd-tmpfiles`` on the rendered
unit and tmpfiles lines (lintsystemd.py).

Everything here reads the exports directory and writes only temporary files.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

from .. import safejson
from ..errors import SysContainersError
from ..paths import SYSTEM_CHECKOUTS
from ..service.runtime import DEFAULT_RUNTIME, Runtime
from . import lintsystemd, ocispec
from .exports import Exports, ExportsManifest, _read_text, parse_manifest
from .hostfiles import HostFile, plan_host_files
from .privileges import Privilege, requested_capabilities, review, unavailable
from .render import Target, deployment_values, render_deployment, unit_template
from .render import _check_line_safe, _check_pidfile   # the install's own value checks
from .template import render_template, template_variables
from .values import FORCED_VARIABLES, OS_VARIABLES
from .variables import image_variables

ERROR, WARNING = "error", "warning"
# manifest.json keys of docs/templates.md; "version" is what atomic's images carry,
# "healthCheck" is documented there too. Any other key is a warning (a typo, or newer).
MANIFEST_KEYS = ("version", "defaultValues", "noContainerService", "renameFiles",
                 "installedFilesTemplate", "useLinks", "healthCheck")
EXPORTS_FILES = ("config.json", "config.json.template", "service.template", "tmpfiles.template",
                 "manifest.json", "hostfs", "rpm.spec", "rpm.spec.template")
TEMPLATES = ("config.json.template", "service.template", "tmpfiles.template")
LINT_NAME = "lint-example"      # the container name templates are rendered for
# Top-level host directories: on merged-/usr hosts (Debian 12, Fedora ...) the first group
# are symlinks into /usr; the second are kernel or boot-time filesystems.
MERGED_USR = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
VIRTUAL = ("proc", "sys", "dev")
VOLATILE = ("run", "tmp")
RECOMMENDED_LABELS = ("name", "version", "summary")
RUN_LABEL_VALUES = ("once", "continuous")


@dataclass(frozen=True, order=True)
class Finding:
    severity: str        # ERROR or WARNING
    code: str            # short stable id, e.g. template-invalid-dollar
    where: str           # exports file (":LINE" when known), "labels", "variables" ...
    message: str

    def as_dict(self) -> dict:
        return {"severity": self.severity, "code": self.code, "where": self.where,
                "message": self.message}


@dataclass(frozen=True, kw_only=True)
class LintSubject:
    """What is linted: an exports directory and what is known of the image around it."""

    exports: Path                          # the /exports directory itself
    label: str                             # the image as named in messages
    labels: Mapping[str, str] | None = None   # None: not known (a bare directory)
    image_process: ocispec.ImageProcess | None = None
    image_process_error: str | None = None   # why the image's own command cannot be run
    host_root: Path = Path("/")            # for hostfs entries that already exist here


@dataclass(frozen=True)
class LintResult:
    findings: tuple[Finding, ...]
    privileges: tuple[Privilege, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def errors(self) -> int:
        return sum(f.severity == ERROR for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.severity == WARNING for f in self.findings)


class _Collector:
    def __init__(self) -> None:
        self.items: list[Finding] = []
        self.notes: list[str] = []

    def error(self, code: str, where: str, message: str) -> None:
        self.items.append(Finding(ERROR, code, where, message))

    def warning(self, code: str, where: str, message: str) -> None:
        self.items.append(Finding(WARNING, code, where, message))

    def has_errors(self) -> bool:
        return any(f.severity == ERROR for f in self.items)


def lint_exports(subject: LintSubject) -> LintResult:
    """Every finding about ``subject`` (never raises for what the image ships)."""
    out = _Collector()
    labels = subject.labels
    run_once = bool(labels) and labels.get("atomic.run") == "once"
    if labels is None:
        out.notes.append("labels not checked: no stored image and no Containerfile/Dockerfile")
    else:
        _check_labels(labels, out)
    if subject.exports.is_symlink() or (subject.exports.exists() and not subject.exports.is_dir()):
        out.error("exports-not-directory", "exports", "/exports must be a directory of the image "
                  "(install refuses a symlink or a file there)")
        return LintResult(tuple(sorted(out.items, key=_order)), (), tuple(out.notes))
    if not subject.exports.is_dir():
        out.warning("exports-missing", "exports", "the image has no /exports directory: install "
                    "generates a config.json that runs the image's own command and the default "
                    "unit (docs/templates.md, \"Images without a config of their own\")")
        _check_own_process(subject, out)
        return LintResult(tuple(sorted(out.items, key=_order)), (), tuple(out.notes))
    exports, manifest_text = _read_files(subject, out)
    _check_layout(exports, run_once, out)
    if exports.config_json is None and exports.config_template is None:
        _check_own_process(subject, out)
    values = _values(subject, exports, manifest_text, run_once, out)
    config = _check_config(exports, values, run_once, subject.label, out)
    host_files = _check_hostfs(subject, exports, values, run_once, out)
    if not run_once and not exports.manifest.no_container_service:
        _check_unit(exports, values, host_files, out)
    _check_tmpfiles(exports, values, out)
    rendered_config = _render_all(subject, exports, values, run_once, out)
    privileges = review(rendered_config if rendered_config is not None else config or {},
                        host_files)
    config_file = "exports/config.json" if exports.config_json is not None \
        else "exports/config.json.template"
    for p in sorted(privileges):
        if p.dangerous:
            out.warning("privilege-needs-allow", "exports/hostfs" if p.name in
                        ("setuid", "units") else config_file,
                        f"install refuses this without --allow={p.name}: {p.detail}")
    return LintResult(tuple(sorted(out.items, key=_order)), tuple(sorted(privileges)),
                      tuple(out.notes))


def _order(f: Finding) -> tuple:
    return (f.severity != ERROR, f.where, f.code, f.message)


# ---------------------------------------------------------------------------- reading

def _read_files(subject: LintSubject, out: _Collector) -> tuple[Exports, str | None]:
    """The exports as install reads them, every unreadable file a finding (and left out)."""
    texts: dict[str, str | None] = {}
    try:
        dfd = os.open(subject.exports, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as e:
        out.error("exports-unreadable", "exports", f"cannot read {subject.exports}: {e.strerror}")
        return Exports(), None
    try:
        names = sorted(os.listdir(dfd))
        for name in ("config.json", *TEMPLATES, "manifest.json"):
            try:
                texts[name] = _read_text(dfd, name, subject.label)
            except SysContainersError as e:
                out.error("exports-file-invalid", f"exports/{name}", str(e))
        hostfs = _hostfs(dfd, subject.exports, out)
    finally:
        os.close(dfd)
    for name in names:
        if name not in EXPORTS_FILES:
            out.warning("exports-unknown-file", f"exports/{name}",
                        f"install ignores exports/{name} (known: {', '.join(EXPORTS_FILES)})")
    manifest = _check_manifest(texts.get("manifest.json"), subject.label, out)
    exports = Exports(config_json=texts.get("config.json"),
                      config_template=texts.get("config.json.template"),
                      service_template=texts.get("service.template"),
                      tmpfiles_template=texts.get("tmpfiles.template"),
                      manifest=manifest, hostfs=hostfs, present=True,
                      has_rpm_spec=bool({"rpm.spec", "rpm.spec.template"} & set(names)))
    return exports, texts.get("manifest.json")


def _hostfs(dfd: int, exports: Path, out: _Collector) -> Path | None:
    try:
        st = os.stat("hostfs", dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if not stat.S_ISDIR(st.st_mode):
        out.error("hostfs-not-directory", "exports/hostfs",
                  "exports/hostfs must be a directory (install ignores anything else)")
        return None
    return exports / "hostfs"


def _check_manifest(text: str | None, label: str, out: _Collector) -> ExportsManifest:
    """manifest.json key by key through the install's own parser, so that every bad key is
    reported (the parser stops at the first); the valid keys make the manifest used below."""
    if text is None:
        return ExportsManifest()
    where = "exports/manifest.json"
    try:
        data = safejson.loads(text, label, message="{why}")
    except SysContainersError as e:
        out.error("manifest-invalid-json", where, f"not valid JSON: {e}")
        return ExportsManifest()
    if not isinstance(data, dict):
        out.error("manifest-not-object", where, "manifest.json must be a JSON object")
        return ExportsManifest()
    good = {}
    for key, value in data.items():
        at = f"{where}:{_line_of(text, json.dumps(key))}"
        if key not in MANIFEST_KEYS:
            out.warning("manifest-unknown-key", at, f"unknown key {key!r}, install ignores it "
                        f"(known: {', '.join(MANIFEST_KEYS)})")
            continue
        try:
            parse_manifest(json.dumps({key: value}), label)
            good[key] = value
        except SysContainersError as e:
            out.error("manifest-invalid-key", at, str(e))
    return parse_manifest(json.dumps(good), label)


def _line_of(text: str, needle: str) -> int:
    index = text.find(needle)
    return text.count("\n", 0, index) + 1 if index >= 0 else 1


# ---------------------------------------------------------------------------- layout, labels

def _check_layout(exports: Exports, run_once: bool, out: _Collector) -> None:
    manifest = exports.manifest
    if exports.config_json is not None and exports.config_template is not None:
        out.warning("config-template-ignored", "exports/config.json.template",
                    "config.json is used as is, so config.json.template is never rendered")
    if exports.config_json is None and exports.config_template is None \
            and not manifest.no_container_service:
        out.warning("config-missing", "exports",
                    "no config.json(.template): install generates one that runs the image's "
                    "own command (docs/templates.md, \"Images without a config of their own\")")
    if exports.service_template is not None and (manifest.no_container_service or run_once):
        why = "noContainerService is true" if not run_once else "the image is atomic.run=once"
        out.warning("service-template-ignored", "exports/service.template",
                    f"no unit is installed ({why}), so service.template is never used")
    if run_once and exports.hostfs is not None:
        out.warning("runonce-hostfs-ignored", "exports/hostfs",
                    "a run-once image (atomic.run=once) installs no host files")
    if manifest.no_container_service and exports.hostfs is None:
        out.warning("nothing-installed", "exports/manifest.json",
                    "noContainerService is true and there is no hostfs: install would do nothing")


def _check_own_process(subject: LintSubject, out: _Collector) -> None:
    if subject.image_process_error:
        out.error("image-user-unknown", "image config", subject.image_process_error)


def _check_labels(labels: Mapping[str, str], out: _Collector) -> None:
    kind = labels.get("atomic.type")
    if kind is None:
        out.warning("label-missing", "labels", "no atomic.type label: add LABEL atomic.type=system "
                    "so that tools know this is a system container image")
    elif kind != "system":
        out.warning("label-invalid", "labels", f"atomic.type is {kind!r}, expected 'system'")
    run = labels.get("atomic.run")
    if run is not None and run not in RUN_LABEL_VALUES:
        out.warning("label-invalid", "labels", f"atomic.run is {run!r}: only 'once' changes "
                    "anything (run once instead of installing a service); expected "
                    f"{' or '.join(RUN_LABEL_VALUES)}")
    for key in RECOMMENDED_LABELS:
        if not labels.get(key):
            out.warning("label-missing", "labels", f"no {key!r} label (recommended for every "
                        "image: name, version, summary)")


# ---------------------------------------------------------------------------- variables

class _DirStore:
    """The two read calls variables.image_variables makes of a store, over an exports dir,
    so that lint lists variables exactly as ``images info`` does. Nothing is followed through
    a symlink; an unreadable file reads as absent (it is already a finding)."""

    def __init__(self, exports: Path, manifest_text: str) -> None:
        self.exports, self.manifest_text = exports, manifest_text

    def _path(self, path: str) -> Path:
        return self.exports / path.removeprefix("exports").lstrip("/")

    def list_dir(self, image, path: str):
        target = self._path(path)
        return os.listdir(target) if target.is_dir() and not target.is_symlink() else None

    def read_file(self, image, path: str):
        if path == "exports/manifest.json":
            return self.manifest_text.encode("utf-8")
        target = self._path(path)
        inside = [target, *target.parents][:len(target.relative_to(self.exports).parts)]
        if any(p.is_symlink() for p in inside) or not target.is_file():
            return None
        try:
            data = target.read_bytes()
            data.decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        return data


@dataclass(frozen=True)
class _Named:
    name: str
    id: str = "0" * 64


def _values(subject: LintSubject, exports: Exports, manifest_text: str | None, run_once: bool,
            out: _Collector) -> dict[str, str]:
    """Every value, as an install of ``subject`` with no --set would have them, and "" for
    those --set must give; the variable findings on the way."""
    manifest_json = json.dumps({"defaultValues": exports.manifest.default_values,
                                "renameFiles": exports.manifest.rename_files,
                                "installedFilesTemplate":
                                    list(exports.manifest.installed_files_template)})
    try:
        found = image_variables(_DirStore(subject.exports, manifest_json), _Named(subject.label))
    except SysContainersError as e:     # already reported as a file finding
        out.notes.append(f"variables not listed: {e}")
        found = None
    if found is not None:
        _check_variables(found, exports, out)
    required = found.required if found is not None else ()
    target = _target(subject, exports, run_once)
    try:
        return deployment_values(exports, target, {v: "" for v in required},
                                 "00000000-0000-0000-0000-000000000000")
    except SysContainersError as e:
        out.error("values-invalid", "exports/manifest.json", str(e))
        return {}


def _check_variables(found, exports: Exports, out: _Collector) -> None:
    used = {v for names in found.templates.values() for v in names}
    for var in found.required:
        files = [f for f, names in found.templates.items() if var in names]
        out.warning("variable-no-default", f"exports/{files[0]}" if files else "variables",
                    f"{var} has no default in manifest.json defaultValues: every install must "
                    f"give it with --set {var}=VALUE (used by {', '.join(files)})")
    for var in sorted(exports.manifest.default_values):
        if var in FORCED_VARIABLES or var in OS_VARIABLES:
            out.warning("variable-default-ignored", "exports/manifest.json",
                        f"defaultValues {var} is ignored: syscontainers sets {var} itself "
                        "(docs/templates.md, \"Precedence\")")
        elif var not in used:
            out.warning("variable-unused", "exports/manifest.json",
                        f"defaultValues {var} is used by no template (a typo, or left over?)")


def _target(subject: LintSubject, exports: Exports, run_once: bool) -> Target:
    return Target(LINT_NAME, SYSTEM_CHECKOUTS / f"{LINT_NAME}.0", subject.label, "0" * 64,
                  user_mode=False, runtime=Runtime(DEFAULT_RUNTIME, True, False),
                  run_once=run_once, host_root=Path("/nonexistent-lint-root"),
                  image_process=subject.image_process, uid=0, gid=0)


# ---------------------------------------------------------------------------- config.json

def _check_config(exports: Exports, values: dict, run_once: bool, label: str,
                  out: _Collector) -> dict | None:
    if exports.config_json is not None:
        text, where = exports.config_json, "exports/config.json"
    elif exports.config_template is not None:
        where = "exports/config.json.template"
        try:
            text = render_template(exports.config_template, values, f"config.json.template of image {label}")
        except SysContainersError as e:
            out.error("template-invalid", _at_line(where, str(e)), str(e))
            return None
    else:
        return None
    try:
        cfg = ocispec.parse_config(text, f"{where} (rendered)" if where.endswith("template")
                                   else where)
    except SysContainersError as e:
        out.error("config-invalid", _at_line(where, str(e)) if where.endswith(".json") else where,
                  str(e))
        return None
    try:
        ocispec.validate_config(cfg, remote=False, run_once=run_once, what=where)
    except SysContainersError as e:
        out.error("config-invalid", where, str(e))
    return cfg      # its privileges are still worth showing


def _at_line(where: str, message: str) -> str:
    match = re.search(r"at line (\d+)", message)
    return f"{where}:{match.group(1)}" if match else where


# ---------------------------------------------------------------------------- hostfs

def _check_hostfs(subject: LintSubject, exports: Exports, values: dict, run_once: bool,
                  out: _Collector) -> tuple[HostFile, ...]:
    manifest = exports.manifest
    hostfs = exports.hostfs
    for old in manifest.rename_files:
        if hostfs is None or not os.path.lexists(hostfs / old.lstrip("/")):
            out.warning("rename-source-missing", "exports/manifest.json",
                        f"renameFiles {old}: hostfs has no {old}, so nothing is renamed")
    if run_once or hostfs is None:
        return ()
    try:
        plan = plan_host_files(hostfs, manifest, values)
    except SysContainersError as e:
        out.error("hostfs-invalid", "exports/hostfs", str(e))
        return ()
    sources = {"/" + str(h.source.relative_to(hostfs)) for h in plan}
    for path in manifest.installed_files_template:
        if path not in sources and path not in {h.dest for h in plan}:
            out.warning("template-file-missing", "exports/manifest.json",
                        f"installedFilesTemplate {path}: no such file in hostfs (nor renamed to it)")
    for entry in plan:
        _check_host_path(entry, subject.host_root, out)
    return plan


def _check_host_path(entry: HostFile, host_root: Path, out: _Collector) -> None:
    parts = entry.dest.strip("/").split("/")
    where = f"exports/hostfs{'/' + str(entry.source).split('/hostfs/', 1)[-1]}"
    top = parts[0]
    if top in MERGED_USR:
        severity = out.error if len(parts) == 1 else out.warning
        severity("hostfs-merged-usr", where,
                 f"{entry.dest}: /{top} is a symlink to /usr/{top} on merged-/usr hosts "
                 f"(Debian 12, Fedora ...); install under /usr/{top} instead")
    elif top in VIRTUAL:
        out.error("hostfs-virtual-fs", where, f"{entry.dest}: /{top} is a kernel filesystem "
                  "on the host; nothing can be installed there")
    elif top in VOLATILE:
        out.warning("hostfs-volatile", where, f"{entry.dest}: /{top} is emptied at boot; "
                    "create run-time files with tmpfiles.template instead")
    on_host = host_root / entry.dest.lstrip("/")
    if entry.kind != "dir" and os.path.lexists(on_host) and not on_host.is_dir():
        out.warning("hostfs-exists-on-host", where,
                    f"{entry.dest} exists on this host: install refuses to replace a file it "
                    "did not install (docs/templates.md, \"Host files\")")


# ---------------------------------------------------------------------------- unit, tmpfiles

def _check_unit(exports: Exports, values: dict, host_files, out: _Collector) -> None:
    where = "exports/service.template" if exports.service_template is not None else "default unit"
    template = unit_template(exports)
    try:
        unit = render_template(template, values, where)
    except SysContainersError as e:
        out.error("template-invalid", _at_line(where, str(e)), str(e))
        return
    try:
        _check_line_safe(template, values, "unit file", continuation=True)
        _check_pidfile(template, values)
    except SysContainersError as e:
        out.error("unit-value-invalid", where, str(e))
        return
    names = template_variables(template)
    if exports.service_template is not None and {"EXEC_STOPPOST", "PIDFILE"} <= names \
            and not re.search(r"^\s*Type\s*=\s*forking\s*$", template, re.M):
        out.warning("unit-not-forking", where, "the unit uses $EXEC_STOPPOST and $PIDFILE "
                    "(runc run -d) but has no Type=forking: a crashed container would read as "
                    "inactive (docs/templates.md, \"The default unit\")")
    if not lintsystemd.available("systemd-analyze"):
        out.notes.append("unit not verified: systemd-analyze is not installed")
        return
    runtime_only = [values.get("RUNTIME", ""), values.get("ATOMIC", ""),
                    values.get("DESTDIR", "") + "/", *(h.dest for h in host_files)]
    try:
        messages = lintsystemd.verify_unit(unit, f"{LINT_NAME}.service", runtime_only)
    except SysContainersError as e:
        out.notes.append(f"unit not verified: {e}")
        return
    for m in messages:
        at = f"{where}:{m.line}" if m.line else where
        if m.line is None:
            out.warning("unit-command-missing", at, f"{m.text} (on this host)")
        elif m.mild:
            out.warning("unit-warning", at, f"systemd-analyze: {m.text}")
        else:
            out.error("unit-invalid", at, f"systemd-analyze: {m.text}")


def _check_tmpfiles(exports: Exports, values: dict, out: _Collector) -> None:
    if exports.tmpfiles_template is None:
        return
    where = "exports/tmpfiles.template"
    try:
        text = render_template(exports.tmpfiles_template, values, where)
    except SysContainersError as e:
        out.error("template-invalid", _at_line(where, str(e)), str(e))
        return
    try:
        _check_line_safe(exports.tmpfiles_template, values, "tmpfiles file", continuation=False)
    except SysContainersError as e:
        out.error("tmpfiles-value-invalid", where, str(e))
        return
    if not lintsystemd.available("systemd-tmpfiles"):
        out.notes.append("tmpfiles lines not parsed: systemd-tmpfiles is not installed")
        return
    try:
        messages = lintsystemd.parse_tmpfiles(text, f"{LINT_NAME}.conf")
    except SysContainersError as e:
        out.notes.append(f"tmpfiles lines not parsed: {e}")
        return
    for m in messages:
        if m.mild:
            out.warning("tmpfiles-warning", f"{where}:{m.line}", f"systemd-tmpfiles: {m.text}")
        else:
            out.error("tmpfiles-invalid", f"{where}:{m.line}", f"systemd-tmpfiles: {m.text}")


# ---------------------------------------------------------------------------- all together

def _render_all(subject: LintSubject, exports: Exports, values: dict, run_once: bool,
                out: _Collector) -> dict | None:
    """The install's own render_deployment, once everything above passed: what the per-file
    checks do not cover (values with newlines in a unit, pid files, renameFiles paths ...).
    An image without a config is rendered with ``{}`` (the generated one needs the runtime)."""
    if out.has_errors() or not values:
        return None
    if exports.config_json is None and exports.config_template is None:
        exports = replace(exports, config_json="{}")
    try:
        rendered = render_deployment(exports, values, _target(subject, exports, run_once))
    except SysContainersError as e:
        out.error("render-failed", "exports", str(e))
        return None
    if rendered.has_container_service and not run_once:
        _check_bind_sources(rendered, out)
    return rendered.config


def _check_bind_sources(rendered, out: _Collector) -> None:
    """Bind-mount sources named after the container exist on no host before install: unless
    the tmpfiles lines or host files create them, install refuses the image on every host
    (the install's own rule, privileges.unavailable; capabilities and SELinux are questions
    of the host, not of the image, and are left out here)."""
    own = [s for s in ocispec.missing_bind_sources(rendered.config, Path("/nonexistent-lint-root"))
           if f"/{LINT_NAME}" in s]
    problems = unavailable(rendered.config, bounding=requested_capabilities(rendered.config),
                           selinux=True, missing_sources=own, tmpfiles=rendered.tmpfiles,
                           host_files=rendered.host_files)
    for problem in problems:
        out.error("bind-source-not-created", "exports/tmpfiles.template",
                  f"install refuses this image on every host: {problem}")
