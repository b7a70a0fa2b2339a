"""The systemd side of ``lint`` (docs/image-authors.md "Lint your image"): a rendered unit
checked by ``systemd-analyze verify``, rendered tmpfiles lines parsed by ``systemd-tmpfiles``.

Both tools run on temporary copies and never touch the host: the unit is verified as a
file outside the unit search path (no daemon is asked, no systemd needs to be running), and
the tmpfiles file is applied with ``--root`` to an empty temporary directory (holding a copy
of the host's passwd/group, so user and group names resolve as on this host). Only the
messages that name a line of the file are kept (``FILE:LINE: message``), plus the unit's
"Command ... is not executable" for commands that should exist now — the runtime, the
syscontainers executable, files the image's hostfs installs and the deployment directory
exist only on the installed host, so a missing one of those is no finding.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..proc import run

_TIMEOUT = 60
# systemd's own wording for a line it parsed but whose setting is merely outdated.
_MILD = ("obsolete", "deprecated", "Failed to resolve user", "Failed to resolve group")
_NOT_EXECUTABLE = re.compile(r"Command (\S+) is not executable")


@dataclass(frozen=True)
class ToolMessage:
    line: int | None         # line of the checked file, None for a message about the unit
    text: str
    mild: bool               # systemd goes on as intended (outdated wording, unknown user here)


def verify_unit(unit_text: str, unit_name: str, runtime_only: Iterable[str]) -> list[ToolMessage]:
    """``systemd-analyze verify`` of ``unit_text`` saved as ``unit_name``. ``runtime_only``:
    paths (or path prefixes ending in "/") that exist only on an installed host."""
    allowed = tuple(runtime_only)
    with tempfile.TemporaryDirectory(prefix="syscontainers-lint-") as tmp:
        path = Path(tmp) / unit_name
        path.write_text(unit_text, encoding="utf-8")
        res = run(["systemd-analyze", "verify", "--man=no", str(path)], check=False,
                  timeout=_TIMEOUT, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                         "SYSTEMD_LOG_COLOR": "0", "LANG": "C"})
        out = []
        for line in (res.stderr + res.stdout).splitlines():
            found = _file_message(line, str(path))
            if found is not None:
                out.append(found)
                continue
            command = _NOT_EXECUTABLE.search(line)
            if command and not _runtime_only(command.group(1), allowed):
                out.append(ToolMessage(None, line.split(": ", 1)[-1], True))
        return out


def _runtime_only(command: str, allowed: tuple[str, ...]) -> bool:
    return any(command == a or (a.endswith("/") and command.startswith(a)) for a in allowed)


def parse_tmpfiles(text: str, name: str) -> list[ToolMessage]:
    """Every complaint of ``systemd-tmpfiles`` about ``text`` (saved as ``name``)."""
    with tempfile.TemporaryDirectory(prefix="syscontainers-lint-") as tmp:
        root = Path(tmp) / "root"
        (root / "etc").mkdir(parents=True)
        for db in ("passwd", "group"):
            if Path("/etc", db).is_file():
                shutil.copyfile(Path("/etc", db), root / "etc" / db)
        conf = Path(tmp) / name
        conf.write_text(text, encoding="utf-8")
        res = run(["systemd-tmpfiles", f"--root={root}", "--create", str(conf)], check=False,
                  timeout=_TIMEOUT, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                         "SYSTEMD_LOG_COLOR": "0", "LANG": "C"})
        return [m for m in (_file_message(line, str(conf)) for line in res.stderr.splitlines())
                if m is not None]


def _file_message(line: str, path: str) -> ToolMessage | None:
    prefix = path + ":"
    if not line.startswith(prefix):
        return None
    number, _, text = line[len(prefix):].partition(":")
    if not number.isdigit():
        return None
    text = text.strip()
    return ToolMessage(int(number), text, any(m in text for m in _MILD))


def available(tool: str) -> bool:
    return shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin") is not None

