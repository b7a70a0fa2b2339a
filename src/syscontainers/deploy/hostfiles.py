"""Host files: ``/exports/hostfs`` installed onto the host (docs/templates.md, "Host files";
docs/operations.md, "System packages").

Three steps, so that a deployment can be fully validated before anything is written:

- :func:`plan_host_files` (pure, reads the image's hostfs): what would be installed where —
  ``renameFiles`` applied (its new paths are templates), ``installedFilesTemplate`` contents
  rendered, every path checked. Nothing is written.
- :func:`install_host_files`: writes a plan under ``root`` (the host's ``/``; tests pass a temp
  dir). All or nothing: every conflict is found before the first write, and a failure while
  writing undoes what was written. ``previous`` is the set this container installed before (the
  info file's ``installed-files-checksum``): its unchanged files are replaced, its files absent
  from the new plan removed. Returns :class:`InstalledFiles` for the info file.
- :func:`remove_host_files`: removes an installed set (uninstall).

Ownership rules: a host file is *ours* when it is in ``previous``/``installed`` and its content
still has the recorded checksum. A file we did not install is never clobbered (HostFileConflict,
nothing written). A file of ours the operator changed is never overwritten or removed: it is
left as is and reported in ``kept``; on update it stays recorded with its original checksum, so
it is still recognised (and managed again once it matches).

Checksums: sha256 hex of the content for files; sha256 of the link text for symlinks (an
atomic-written record, the checksum of the link's target content, is accepted too); ``"0"`` for
directories we created (empty hostfs dirs and missing parents), removed again when empty.

Files are always copied, never hard-linked, even with ``useLinks``: a link into the deployment
shares the inode with the OSTree repository's object, so an edit of the host file would
silently corrupt the image store.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from ..errors import ConfigError, HostFileConflict, HostFileError
from ..fileops import unlink_quiet
from .exports import ExportsManifest
from .template import render_template

DIR_CHECKSUM = "0"
MAX_TEMPLATE_SIZE = 4 * 1024 * 1024


@dataclass(frozen=True)
class HostFile:
    """One entry to install. ``dest`` is the absolute host path (after renameFiles)."""

    dest: str
    kind: str                       # "file", "symlink" or "dir" (an empty dir of hostfs)
    source: Path                    # the entry inside hostfs
    mode: int = 0o644               # permission bits (files, dirs)
    content: bytes | None = None    # rendered content of a template; None: copy ``source``
    link_target: str | None = None  # for symlinks


@dataclass(frozen=True)
class InstalledFiles:
    """What an install left on the host, for the info file."""

    checksums: dict[str, str]       # installed-files-checksum: host path -> checksum
    kept: tuple[str, ...] = ()      # paths changed by the operator, left untouched

    @property
    def paths(self) -> list[str]:   # installed-files
        return list(self.checksums)


# ---------------------------------------------------------------------------- planning

def plan_host_files(hostfs: Path | None, manifest: ExportsManifest,
                    values: Mapping[str, str]) -> tuple[HostFile, ...]:
    """Everything under ``hostfs`` as HostFile records, sorted by destination.

    ConfigError for a rendered renameFiles path that is not a clean absolute path, two entries
    with one destination, or an entry that is not a file, symlink or directory (a device, a
    fifo); TemplateError for a template without its values.
    """
    if hostfs is None:
        return ()
    renames = rendered_renames(manifest, values)
    templates = set(manifest.installed_files_template)
    plan: dict[str, HostFile] = {}
    for host_path, source, st in _walk(Path(hostfs)):
        dest = rename_path(host_path, renames)
        if dest in plan:
            raise ConfigError(f"hostfs: {host_path} and another file both install {dest}")
        plan[dest] = _entry(host_path, dest, source, st, host_path in templates or dest in templates,
                            values)
    return tuple(plan[d] for d in sorted(plan))


def rendered_renames(manifest: ExportsManifest, values: Mapping[str, str]) -> dict[str, str]:
    """renameFiles with its new paths rendered and checked (stored as rename-installed-files)."""
    out = {}
    for old, new in manifest.rename_files.items():
        out[_clean_host_path(old, "renameFiles key")] = _clean_host_path(
            render_template(new, values, f"renameFiles of manifest.json ({old})"),
            f"renameFiles value for {old}")
    return out


def rename_path(path: str, renames: Mapping[str, str]) -> str:
    """Apply renames component by component: renaming a directory moves what is below it."""
    current = ""
    for part in path.strip("/").split("/"):
        current = renames.get(f"{current}/{part}", f"{current}/{part}")
    return current or "/"


def _clean_host_path(path: str, what: str) -> str:
    bad = (not path.startswith("/") or path == "/" or any(c in path for c in "\n\r\0")
           or any(part in ("", ".", "..") for part in path[1:].split("/")))
    if bad:
        raise ConfigError(f"{what}: {path!r} is not a clean absolute path")
    return path


def _walk(hostfs: Path):
    """(host path, source path, lstat) for each file, symlink and *empty* dir of hostfs."""
    for top, dirs, files in os.walk(hostfs):
        rel = os.path.relpath(top, hostfs)
        base = "/" if rel == "." else "/" + rel
        for name in sorted(dirs + files):
            source = Path(top) / name
            st = os.lstat(source)
            if stat.S_ISDIR(st.st_mode) and any(os.scandir(source)):
                continue  # a non-empty dir is created as the parent of its entries
            yield os.path.join(base, name), source, st


def _entry(host_path: str, dest: str, source: Path, st: os.stat_result, is_template: bool,
           values: Mapping[str, str]) -> HostFile:
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        return HostFile(dest, "symlink", source, link_target=os.readlink(source))
    if stat.S_ISDIR(st.st_mode):
        return HostFile(dest, "dir", source, mode=mode)
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"hostfs: {host_path} is not a regular file, symlink or directory")
    if not is_template:
        return HostFile(dest, "file", source, mode=mode)
    if st.st_size > MAX_TEMPLATE_SIZE:
        raise ConfigError(f"hostfs: template {host_path} is too large")
    try:
        text = source.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"hostfs: template {host_path} is not UTF-8 text") from None
    rendered = render_template(text, values, f"hostfs template {host_path}")
    return HostFile(dest, "file", source, mode=mode, content=rendered.encode("utf-8"))


# ---------------------------------------------------------------------------- checksums

def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _link_checksum(target: str) -> str:
    return hashlib.sha256(os.fsencode(target)).hexdigest()


def is_unchanged(path: Path, recorded: str) -> bool:
    """Whether the entry at ``path`` still is what we recorded (missing counts as changed)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISDIR(st.st_mode):
        return recorded == DIR_CHECKSUM
    if stat.S_ISLNK(st.st_mode):
        if recorded == _link_checksum(os.readlink(path)):
            return True
        return os.path.isfile(path) and recorded == _sha256_file(path)  # atomic's records
    return stat.S_ISREG(st.st_mode) and recorded == _sha256_file(path)


def _on_host(root: Path, host_path: str) -> Path:
    return Path(root) / host_path.lstrip("/")


def on_host(host_path: str, root: Path = Path("/")) -> Path:
    """Where a recorded host path is (``root``: the host's ``/``; tests pass a temp dir)."""
    return _on_host(root, host_path)


# ---------------------------------------------------------------------------- install

@dataclass(frozen=True)
class _Step:
    entry: HostFile
    action: str          # "create", "replace", "keep" (operator's change), "exists" (a dir)


def install_host_files(plan: tuple[HostFile, ...], root: Path = Path("/"),
                       previous: Mapping[str, str] | None = None) -> InstalledFiles:
    """Install ``plan`` under ``root``; see the module docstring for the rules.

    HostFileConflict before any write when a destination (or one of its parents) is taken by
    something that is not ours. On any failure while writing, everything written is undone.
    """
    root, previous = Path(root), dict(previous or {})
    parents = _missing_parents(plan, root)
    steps = [_decide(entry, root, previous) for entry in plan]
    journal = _Journal()
    checksums: dict[str, str] = {}
    current = ""
    try:
        for parent in parents:
            current = parent
            os.mkdir(_on_host(root, parent), 0o755)
            journal.add(lambda p=_on_host(root, parent): os.rmdir(p))
            checksums[parent] = DIR_CHECKSUM
        for step in steps:
            current = step.entry.dest
            checksums.update(_apply(step, root, previous, journal))
    except BaseException as e:
        journal.undo()
        if isinstance(e, OSError):
            raise HostFileError(f"cannot install {current}: {e.strerror or e}") from None
        raise
    journal.commit()
    checksums.update(_our_existing_parents(plan, previous, root))
    kept = [s.entry.dest for s in steps if s.action == "keep"]
    kept += _remove_stale(previous, checksums, root)
    return InstalledFiles(checksums, tuple(kept))


def _decide(entry: HostFile, root: Path, previous: Mapping[str, str]) -> _Step:
    path = _on_host(root, entry.dest)
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return _Step(entry, "create")
    if stat.S_ISDIR(st.st_mode):
        if entry.kind == "dir":
            return _Step(entry, "exists")
        raise HostFileConflict(f"cannot install {entry.dest}: a directory is in the way")
    if entry.kind == "dir":
        raise HostFileConflict(f"cannot create directory {entry.dest}: a file is in the way")
    if entry.dest not in previous:
        raise HostFileConflict(
            f"cannot install {entry.dest}: the file exists and was not installed by this "
            "container; move it away first")
    if not is_unchanged(path, previous[entry.dest]):
        return _Step(entry, "keep")
    return _Step(entry, "replace")


def _missing_parents(plan: tuple[HostFile, ...], root: Path) -> list[str]:
    """Parent directories to create, shallowest first; HostFileConflict for a non-dir parent."""
    missing: set[str] = set()
    for entry in plan:
        parent = os.path.dirname(entry.dest)
        while parent != "/" and parent not in missing:
            path = _on_host(root, parent)
            if os.path.isdir(path):  # follows host symlinks (e.g. /var/run -> /run): fine
                break
            if os.path.lexists(path):
                raise HostFileConflict(f"cannot install {entry.dest}: {parent} is not a directory")
            missing.add(parent)
            parent = os.path.dirname(parent)
    return sorted(missing, key=lambda p: (p.count("/"), p))


def _our_existing_parents(plan: tuple[HostFile, ...], previous: Mapping[str, str],
                          root: Path) -> dict[str, str]:
    """Directories we created in an earlier install that still hold entries of this plan."""
    ours = {}
    for entry in plan:
        parent = os.path.dirname(entry.dest)
        while parent != "/":
            if previous.get(parent) == DIR_CHECKSUM and os.path.isdir(_on_host(root, parent)):
                ours[parent] = DIR_CHECKSUM
            parent = os.path.dirname(parent)
    return ours


def _apply(step: _Step, root: Path, previous: Mapping[str, str], journal: "_Journal") -> dict:
    entry, path = step.entry, _on_host(root, step.entry.dest)
    if step.action == "keep":
        return {entry.dest: previous[entry.dest]}
    if step.action == "exists":
        return {entry.dest: DIR_CHECKSUM} if entry.dest in previous else {}
    if entry.kind == "dir":
        os.mkdir(path, entry.mode)
        os.chmod(path, entry.mode)  # mkdir's mode is filtered by the umask
        journal.add(lambda: os.rmdir(path))
        return {entry.dest: DIR_CHECKSUM}
    tmp = path.with_name(f".{path.name}.sc-new")
    unlink_quiet(tmp)  # a leftover of a crashed run
    checksum = _write_new(entry, tmp)
    try:
        if step.action == "replace":
            backup = path.with_name(f".{path.name}.sc-old")
            unlink_quiet(backup)
            os.link(path, backup, follow_symlinks=False)
            journal.add(lambda: os.rename(backup, path), cleanup=lambda: os.unlink(backup))
        else:
            journal.add(lambda: os.unlink(path))
        os.rename(tmp, path)
    except BaseException:
        unlink_quiet(tmp)
        raise
    return {entry.dest: checksum}


def _write_new(entry: HostFile, tmp: Path) -> str:
    """Create ``tmp`` with the entry's content; return its checksum."""
    if entry.kind == "symlink":
        os.symlink(entry.link_target, tmp)
        return _link_checksum(entry.link_target)
    h = hashlib.sha256()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            if entry.content is not None:
                out.write(entry.content)
                h.update(entry.content)
            else:
                with open(os.open(entry.source, os.O_RDONLY | os.O_NOFOLLOW), "rb") as src:
                    for chunk in iter(lambda: src.read(1 << 20), b""):
                        out.write(chunk)
                        h.update(chunk)
            os.fchmod(out.fileno(), entry.mode)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        unlink_quiet(tmp)
        raise
    return h.hexdigest()


def _remove_stale(previous: Mapping[str, str], current: Mapping[str, str], root: Path) -> list[str]:
    """Remove what ``previous`` installed and the new set does not; return the kept paths."""
    stale = {p: c for p, c in previous.items() if p not in current}
    return remove_host_files(stale, root)


# ---------------------------------------------------------------------------- remove

def remove_host_files(installed: Mapping[str, str], root: Path = Path("/")) -> list[str]:
    """Remove an installed set; return the paths kept because the operator changed them.

    Files and symlinks go when unchanged; already missing ones are fine. Directories we
    created (``"0"``) go when empty, deepest first. Can be run again after an interruption.
    """
    root = Path(root)
    kept: list[str] = []
    for host_path, recorded in installed.items():
        if recorded == DIR_CHECKSUM:
            continue
        path = _on_host(root, host_path)
        if not os.path.lexists(path):
            continue
        if is_unchanged(path, recorded):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as e:
                raise HostFileError(f"cannot remove {host_path}: {e.strerror or e}") from None
        else:
            kept.append(host_path)
    dirs = [p for p, c in installed.items() if c == DIR_CHECKSUM]
    for host_path in sorted(dirs, key=lambda p: p.count("/"), reverse=True):
        path = _on_host(root, host_path)
        if os.path.isdir(path) and not os.path.islink(path):
            try:
                os.rmdir(path)
            except OSError:
                pass  # not empty: someone put something there; it stays with its dir
        elif os.path.lexists(path):
            kept.append(host_path)
    return kept


# ---------------------------------------------------------------------------- undo journal

class _Journal:
    """Undo actions for a multi-file write; cleanups (backup removal) run on commit."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []
        self._cleanup: list[Callable[[], None]] = []

    def add(self, undo: Callable[[], None], cleanup: Callable[[], None] | None = None) -> None:
        self._undo.append(undo)
        if cleanup:
            self._cleanup.append(cleanup)

    def undo(self) -> None:
        for action in reversed(self._undo):
            try:
                action()
            except OSError:
                pass  # best effort: report the original error, not the undo's

    def commit(self) -> None:
        for action in self._cleanup:
            try:
                action()
            except OSError:
                pass


def planned_record(plan: tuple[HostFile, ...], root: Path = Path("/")) -> dict[str, str]:
    """The record :func:`install_host_files` will return for ``plan`` on an untouched host.

    Written into the info file BEFORE the files are installed, so that a crash in between
    leaves a record from which the next run removes exactly what was ours.
    """
    record = {parent: DIR_CHECKSUM for parent in _missing_parents(plan, root)}
    for entry in plan:
        if entry.kind == "dir":
            record[entry.dest] = DIR_CHECKSUM
        elif entry.kind == "symlink":
            record[entry.dest] = _link_checksum(entry.link_target or "")
        elif entry.content is not None:
            record[entry.dest] = hashlib.sha256(entry.content).hexdigest()
        else:
            record[entry.dest] = _sha256_file(entry.source)
    return record
