"""Writes ``.venv/bin/syscontainers`` over the console script pip made (scripts/install-deps.sh
runs it after every pip install; idempotent).

pip's script runs the venv's Python with its site step, ~15-20 ms of .pth files before the
first line of ours; this launcher starts Python with ``-S`` and puts only this checkout's
``src`` on the path. The plain start/stop path needs nothing else; every other command line
adds the site directories before it goes on (syscontainers/sitedirs.py; docs/performance.md,
"start, stop, status"). Usage: ``python scripts/write_launcher.py VENV``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

TEMPLATE = '''#!{python} -S
# Written by scripts/write_launcher.py (not pip): Python without its site step, see there.
import sys
sys.path.insert(0, {src!r})
from syscontainers.cli.__main__ import main
if __name__ == "__main__":
    sys.exit(main())
'''


def main(venv: str) -> int:
    repo = Path(__file__).resolve().parent.parent
    venv_dir = Path(venv).absolute()      # not resolved: the venv's python is a symlink
    target = venv_dir / "bin" / "syscontainers"
    text = TEMPLATE.format(python=venv_dir / "bin" / "python3", src=str(repo / "src"))
    tmp = target.with_name(".syscontainers.tmp")
    tmp.write_text(text)
    tmp.chmod(0o755)
    os.replace(tmp, target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".venv"))
