"""update --check: is an update available, and what would it change? (docs/operations.md,
"Updates: what is checked, --check, --offline, exit codes").

Reads only: the source is asked for its manifest (no blob is fetched), no lock is taken, and
the store and the deployments are not changed. The files the update would render are rendered
like ``update --display`` does (a throwaway dir, removed) when the image to render is in the
store: the installed one (same image, other values), or a newer one pulled earlier. A newer
image whose layers are not here cannot be rendered without fetching them; the report says so.
(As for --display, an image stored by atomic, which has no merged tree yet, gets it built.)
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from ..deploy import deployment as dl
from ..deploy.privileges import Privilege, not_allowed
from ..deploy.values import carried_values, mask_text, mask_values
from ..images.store import Store
from ..paths import Paths
from . import build as b
from ..fileops import read_or_none
from .images import Answers, available_id, content, manifest_content
from .update import Found, UpdateRequest, _build_request, _live, ask_ahead, find_target

# values that differ between NAME.0 and NAME.1 by construction: not what an operator asks about
_PER_DEPLOYMENT = ("DESTDIR", "EXEC_START", "EXEC_STOP", "EXEC_STOPPOST", "EXEC_STARTPRE")
DIR_CHECKSUM = "0"


@dataclass
class CheckReport:
    name: str
    current_id: str
    current_image: str
    available_id: str
    available_image: str
    asked: str | None                    # the reference asked; None: --offline
    same_image: bool                     # same config and layers as the installed image
    values: dict[str, list] = field(default_factory=dict)     # NAME: [installed, new]
    files: list[str] | None = None       # rendered files that would change; None: not known
    diffs: list[str] = field(default_factory=list)
    # what the new deployment asks of the host (docs/operations.md "Privileges in update
    # --check"); None: not known (nothing rendered: up to date, or the layers are not stored)
    privileges: list[Privilege] | None = None
    needs_allow: list[str] | None = None       # dangerous, not allowed: update would refuse
    host_cannot_grant: list[str] | None = None

    @property
    def update_available(self) -> bool:
        return not self.same_image or bool(self.values)

    def as_json(self) -> dict:
        return {"container": self.name, "current": self.current_id,
                "current_image": self.current_image, "available": self.available_id,
                "available_image": self.available_image, "asked": self.asked,
                "same_image": self.same_image, "update_available": self.update_available,
                "values": self.values, "files": self.files,
                **({"diff": "".join(self.diffs)} if self.diffs else {}),
                "privileges": None if self.privileges is None else [
                    {"name": p.name, "detail": p.detail, "dangerous": p.dangerous}
                    for p in self.privileges],
                "needs_allow": self.needs_allow, "host_cannot_grant": self.host_cannot_grant}


def available(info: dl.InstallInfo, found: Found) -> tuple[str, bool]:
    """(the available image's ID, whether it is the installed image: same ID, or the same
    config and layers — a re-encoded manifest is no update, docs/operations.md "Updates")."""
    if found.manifest is None:
        avail = found.image.id
        return avail, avail == info.revision or (
            found.current is not None and content(found.current) == content(found.image))
    avail = available_id(found.manifest)
    return avail, avail == info.revision or (
        found.current is not None and manifest_content(found.manifest) == content(found.current))


def check(paths: Paths, req: UpdateRequest, diff: bool = False,
          answers: Answers | None = None) -> CheckReport:
    """Raises SourceUnavailable when the source cannot be asked (and not ``req.offline``).
    ``answers``: the sources as asked ahead (update --check --all)."""
    cur = _live(paths, req.name)
    info = cur.read_info()
    store = Store(paths)
    found = find_target(store, info, req, answers)
    avail, same = available(info, found)
    report = CheckReport(req.name, info.revision, info.image, avail,
                         found.image_name if req.rebase else info.image,
                         None if found.manifest is None else found.access.reference, same)
    image = found.current if same else found.image
    if same and all(info.values.get(k) == v for k, v in req.set_values.items()):
        # what update would call "Latest version already installed.": nothing to render
        report.files = []
        return report
    secrets = set(info.secret_values) | set(req.secret_names)
    if image is None:          # a newer image whose layers are not in the store
        new_values = carried_values(info.values, req.set_values)
        report.values = _changed_values(info.values, {**info.values, **new_values}, secrets)
        return report
    built = b.build(paths, store, _build_request(paths, req, cur, info, image, report.available_image),
                    dl.other(paths, cur), dry_run=True)
    report.values = _changed_values(info.values, built.info.values, secrets)
    _add_privileges(report, built)
    report.files, diffs = _changed_files(paths, cur, info, built, diff)
    # a secret is never printed, not even inside a diff of config.json (docs/operations.md)
    everything = {**info.values, **built.info.values}
    report.diffs = [mask_text(mask_text(d, info.values, secrets), everything, secrets) for d in diffs]
    return report


def _add_privileges(report: CheckReport, built: b.Built) -> None:
    """As install prints them; ``built.info`` holds the names this container was granted
    plus the --allow of this check (update.py ``_granted``)."""
    report.privileges = sorted(built.privileges)
    missing = not_allowed(built.privileges, built.info.allowed_privileges or ())
    report.needs_allow = list(dict.fromkeys(p.name for p in missing))
    report.host_cannot_grant = list(built.unavailable)


def _changed_values(old: dict, new: dict, secrets: set[str]) -> dict[str, list]:
    shown_old, shown_new = mask_values(old, secrets), mask_values(new, secrets)
    return {k: [shown_old.get(k), shown_new.get(k)] for k in sorted(set(old) | set(new))
            if old.get(k) != new.get(k) and k not in _PER_DEPLOYMENT}


def _changed_files(paths: Paths, cur: dl.Deployment, info: dl.InstallInfo, built: b.Built,
                   diff: bool) -> tuple[list[str], list[str]]:
    r = built.rendered
    pairs = (("config.json", cur.path / "config.json", read_or_none(cur.path / "config.json"),
              r.config_json),
             ("unit", paths.unit_file(cur.name), read_or_none(cur.unit_copy), r.unit),
             ("tmpfiles", paths.tmpfiles_file(cur.name), read_or_none(cur.tmpfiles_copy),
              r.tmpfiles))
    files, diffs = [], []
    for label, path, old, new in pairs:
        if old != new:
            files.append(label)
            if diff:
                diffs.append(_diff(str(path), old, new))
    for path in _changed_host_files(info, built.info):
        files.append(f"host file {path}")
        if diff:
            diffs.append(_host_file_diff(path, built))
    return files, diffs


def _changed_host_files(old: dl.InstallInfo, new: dl.InstallInfo) -> list[str]:
    """Host files (not directories) added, removed or with other content."""
    a = {p: c for p, c in old.installed_files_checksum.items() if c != DIR_CHECKSUM}
    z = {p: c for p, c in new.installed_files_checksum.items() if c != DIR_CHECKSUM}
    return sorted(p for p in set(a) | set(z) if a.get(p) != z.get(p))


def _diff(path: str, old: str | None, new: str | None) -> str:
    lines = difflib.unified_diff((old or "").splitlines(keepends=True),
                                 (new or "").splitlines(keepends=True),
                                 fromfile=f"{path} (installed)" if old is not None else "/dev/null",
                                 tofile=f"{path} (update)" if new is not None else "/dev/null")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _host_file_diff(path: str, built: b.Built) -> str:
    """Templated host files are rendered in memory: their diff against the host's copy is
    shown; copied files are only named (their source was in the throwaway render dir)."""
    entry = next((h for h in built.rendered.host_files if h.dest == path), None)
    try:
        old = read_or_none(Path(path))
    except (UnicodeDecodeError, OSError):
        return f"--- {path}: content changes (not text; no diff shown)\n"
    if entry is None:
        return _diff(path, old, None)
    if entry.content is None:
        return f"--- {path}: content changes (a copied file; no diff shown)\n"
    try:
        return _diff(path, old, entry.content.decode())
    except UnicodeDecodeError:
        return f"--- {path}: binary content changes\n"


@dataclass(frozen=True)
class Unchecked:
    """A container ``update --check --all`` could not check (its row, not the end)."""

    name: str
    reason: str
    update_available = None

    def as_json(self) -> dict:
        return {"container": self.name, "update_available": None, "unchecked": self.reason}


def check_all(paths: Paths, req: UpdateRequest, diff: bool = False) -> list[CheckReport | Unchecked]:
    """``update --check --all``: every installed container with ``req``'s values and
    options (``name`` replaced by each container's); the sources are asked first, at once
    (update.ask_ahead), then each container is checked in turn, in name order."""
    from dataclasses import replace

    from ..errors import SysContainersError

    names = dl.installed_names(paths)
    answers = ask_ahead(paths, names, req, skip_pinned=False)
    reports: list[CheckReport | Unchecked] = []
    for name in names:
        try:
            reports.append(check(paths, replace(req, name=name), diff=diff, answers=answers))
        except SysContainersError as e:
            reports.append(Unchecked(name, str(e)))
    return reports
