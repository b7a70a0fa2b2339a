"""``lint IMAGE|DIR``: what an install would say about an image, without installing
(docs/image-authors.md "Lint your image"). The checks are deploy/lint.py; this module finds
what to lint.

- DIR (an argument naming an existing directory): a directory with an ``exports/``
  subdirectory (an image rootfs, or a build context), else the exports directory itself
  (it holds at least one exports file). Labels come from a ``Containerfile`` or
  ``Dockerfile`` next to ``exports/`` (its ``LABEL`` lines), else are not checked. Needs no
  root and no store.
- IMAGE: a stored image, by name or ID prefix. *Decision*: lint never pulls (it is a check of
  what you have; `syscontainers pull` first). Its merged tree is checked out into a temporary
  directory under the state dir (hard links, removed again), as a dry-run build does.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from ..deploy.exports import EXPORTS_DIR, Exports
from ..deploy.lint import EXPORTS_FILES, LintResult, LintSubject, lint_exports
from ..errors import ImageNotFound, SysContainersError, UsageError
from ..images.store import Store
from ..paths import Paths
from .build import own_process
from .mounts import temp_dir

BUILD_FILES = ("Containerfile", "Dockerfile")


@dataclass(frozen=True, kw_only=True)
class LintRequest:
    target: str          # IMAGE (name or ID prefix) or DIR


@dataclass(frozen=True)
class LintReport:
    source: str          # "directory PATH" or "image NAME (ID)"
    result: LintResult

    @property
    def exit_code(self) -> int:
        return 1 if self.result.errors else 0


def lint(paths: Paths, req: LintRequest) -> LintReport:
    path = Path(req.target)
    if path.is_dir():
        return LintReport(f"directory {path}", lint_exports(directory_subject(path)))
    if req.target.startswith(("/", ".")):      # no image name starts so
        raise UsageError(f"{req.target}: " + ("not a directory" if path.exists()
                                               else "no such directory"))
    return _lint_image(paths, req.target)


def directory_subject(path: Path) -> LintSubject:
    """What a DIR argument means (module docstring); UsageError when it has no exports."""
    nested = path / EXPORTS_DIR
    if nested.is_dir() and not nested.is_symlink():
        exports, context = nested, path
    elif any((path / name).exists() or (path / name).is_symlink() for name in EXPORTS_FILES):
        exports, context = path, (path.parent if path.resolve().name == EXPORTS_DIR else None)
    else:
        raise UsageError(f"{path} has neither an exports/ directory nor any exports file "
                         f"({', '.join(EXPORTS_FILES)}); give an image's rootfs, its build "
                         "context or its exports directory")
    labels = containerfile_labels(context) if context is not None else None
    return LintSubject(exports=exports, label=str(path), labels=labels)


def containerfile_labels(context: Path) -> dict[str, str] | None:
    """The LABEL instructions of ``context``'s Containerfile (else Dockerfile); None when
    there is neither. Forms: ``LABEL k=v k2="v 2"`` and the old ``LABEL key value``."""
    for name in BUILD_FILES:
        file = context / name
        if file.is_file():
            break
    else:
        return None
    labels: dict[str, str] = {}
    for instruction in _instructions(file.read_text(encoding="utf-8", errors="replace")):
        keyword, _, rest = instruction.partition(" ")
        if keyword.upper() != "LABEL":
            continue
        try:
            words = shlex.split(rest)
        except ValueError:
            continue
        if words and "=" not in words[0]:
            labels[words[0]] = " ".join(words[1:])
            continue
        labels.update(w.split("=", 1) for w in words if "=" in w)
    return labels


def _instructions(text: str) -> list[str]:
    """Lines joined at a trailing backslash, comments dropped."""
    out, current = [], ""
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        out.append((current + line).strip())
        current = ""
    if current:
        out.append(current.strip())
    return out


def _lint_image(paths: Paths, text: str) -> LintReport:
    store = Store(paths)
    try:
        image = store.resolve(text)
    except ImageNotFound:
        raise ImageNotFound(f"image {text} not found (lint never pulls: `syscontainers pull` "
                            "it first, or give a directory)") from None
    label = image.name or image.id[:12]
    try:
        process, process_error = own_process(store, image, label, Exports()), None
    except SysContainersError as e:
        process, process_error = None, str(e)
    with temp_dir(paths, "lint") as tmp:
        rootfs = tmp / "rootfs"
        store.checkout(image, rootfs)
        subject = LintSubject(exports=rootfs / EXPORTS_DIR, label=label, labels=image.labels,
                              image_process=process, image_process_error=process_error)
        result = lint_exports(subject)
    return LintReport(f"image {label} ({image.id[:12]})", result)
