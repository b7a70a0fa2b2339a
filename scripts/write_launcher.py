"""Writes the command ``.venv/bin/syscontainers`` over the console script pip made
(scripts/install-deps.sh runs it after every pip install; idempotent).

Two pieces (docs/performance.md, "The command's front"):

- the launcher, ``.venv/libexec/syscontainers.py``: Python with ``-S`` (pip's script runs
  the venv's Python with its site step, ~15-20 ms of .pth files before the first line of
  ours) and only this checkout's ``src`` on the path. The plain start/stop/status path needs
  nothing else; every other command line adds the site directories before it goes on
  (syscontainers/sitedirs.py). It sets ``sys.argv[0]`` to the command, so that what names
  the command (the ATOMIC value, the auto-update timer's unit) names the front.
- the front, ``.venv/bin/syscontainers``: src/front/*.c compiled with gcc, which starts the
  systemctl process of a plain start/stop/status before it execs the launcher (and prints a
  plain status itself).

Usage: ``python scripts/write_launcher.py VENV``. Without gcc (``--no-front``, or gcc
missing) the launcher itself is written as the command, as before the front existed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FRONT_SOURCES = sorted(str(p) for p in (REPO / "src/front").glob("*.c"))

TEMPLATE = '''#!{python} -S
# Written by scripts/write_launcher.py (not pip): Python without its site step, see there.
import sys
sys.path.insert(0, {src!r})
{argv0}from syscontainers.cli.__main__ import main
if __name__ == "__main__":
    sys.exit(main())
'''


def _replace(target: Path, write) -> None:
    """Write through a temporary file in the same directory, then rename: a command that is
    running (or being run) never sees half a file."""
    tmp = target.with_name(f".{target.name}.tmp")
    write(tmp)
    tmp.chmod(0o755)
    os.replace(tmp, target)


def write_script(target: Path, python: Path, command: Path | None) -> None:
    """The Python launcher at ``target``; ``command``: the front that runs it (None: the
    launcher is the command itself)."""
    argv0 = f"sys.argv[0] = {str(command)!r}\n" if command else ""
    text = TEMPLATE.format(python=python, src=str(REPO / "src"), argv0=argv0)
    _replace(target, lambda tmp: tmp.write_text(text))


def build_front(target: Path, python: Path, launcher: Path) -> None:
    """gcc src/front/*.c into ``target`` with the paths it execs (C string literals:
    JSON's escapes are C's for these ASCII paths)."""
    def compile_to(tmp: Path) -> None:
        subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-Werror",
                        f"-DPYTHON={json.dumps(str(python))}",
                        f"-DLAUNCHER={json.dumps(str(launcher))}",
                        "-o", str(tmp), *FRONT_SOURCES], check=True)
    _replace(target, compile_to)


def main(argv: list[str]) -> int:
    args = [a for a in argv if a != "--no-front"]
    venv_dir = Path(args[0] if args else ".venv").absolute()   # not resolved: python is a link
    python, command = venv_dir / "bin" / "python3", venv_dir / "bin" / "syscontainers"
    if "--no-front" in argv or shutil.which("gcc") is None:
        if "--no-front" not in argv:
            print("note: no gcc: the command runs without its front (start, stop and status "
                  "wait for Python to load first)", file=sys.stderr)
        write_script(command, python, None)
        return 0
    launcher = venv_dir / "libexec" / "syscontainers.py"
    launcher.parent.mkdir(exist_ok=True)
    write_script(launcher, python, command)
    build_front(command, python, launcher)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
