"""Many installed containers at once, for the scale curves (bench only, never the product).

Installing a container with the CLI costs ~0.7 s (pull check, checkout, render, one
``daemon-reload`` that itself grows with the number of units loaded): 1000 containers that way
take well over ten minutes. Installs cannot run side by side either (every writing verb takes
the host lock, docs/operations.md "Crashes and concurrency"). So the benchmark installs a few
containers with the CLI and then replicates the on-disk state of one of them (TEMPLATE) under
new names, exactly what ``install`` leaves (docs/formats.md "Deployments", "The info file"):

- ``CHECKOUTS/NAME.0/``: ``rootfs/`` hard-linked to the template's (the same repository
  objects, as a checkout is), and ``info``, ``config.json``, ``NAME.service``,
  ``tmpfiles-NAME.conf`` with every occurrence of the template's name replaced (NAME,
  DESTDIR, PIDFILE, EXEC_*, the unit's paths) and a fresh ``UUID``; the info file's
  ``config-checksum`` is recomputed over the new config.json (list's drift check);
- ``CHECKOUTS/NAME`` -> ``CHECKOUTS/NAME.0`` (absolute symlink) and ``CHECKOUTS/.NAME.history``;
- the unit in ``/etc/systemd/system/NAME.service``, its enablement links (the template's
  ``*.wants/`` links), its tmpfiles snippet in ``/etc/tmpfiles.d/NAME.conf``;

then ONE ``systemd-tmpfiles --create`` of the new snippets and ONE ``systemctl
daemon-reload``. Modes are the template's (0700 deployment dir, 0600 files). The result is
what ``list``, ``update`` and ``verify`` read; bench_scale.py checks ``list --json`` sees every
clone and ``verify`` accepts one. Runs inside the test host (as root):

    python bench/scale_clone.py CHECKOUTS TEMPLATE NAME [NAME ...]
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

UNIT_DIR = Path("/etc/systemd/system")
TMPFILES_DIR = Path("/etc/tmpfiles.d")


def _copy_text(src: Path, dst: Path, replace) -> None:
    """``src`` rewritten by ``replace`` into ``dst`` with ``src``'s mode."""
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, src.stat().st_mode & 0o7777)
    with os.fdopen(fd, "w") as f:
        f.write(replace(src.read_text()))


def clone(checkouts: Path, template: str, name: str) -> Path | None:
    """One more installed container ``name`` like ``template``; returns its tmpfiles
    snippet (None when the template has none)."""
    src = Path(os.readlink(checkouts / template))
    new_uuid = str(uuid.uuid4())
    old_uuid = json.loads((src / "info").read_text())["values"].get("UUID") or new_uuid

    def replace(text: str) -> str:
        return text.replace(template, name).replace(old_uuid, new_uuid)

    dep = checkouts / replace(src.name)
    dep.mkdir(mode=src.stat().st_mode & 0o7777)
    os.chmod(dep, src.stat().st_mode & 0o7777)
    shutil.copytree(src / "rootfs", dep / "rootfs", symlinks=True, copy_function=os.link)
    for f in src.iterdir():
        if f.name not in ("rootfs", "info"):
            _copy_text(f, dep / replace(f.name), replace)
    info = json.loads(replace((src / "info").read_text()))
    config = dep / "config.json"
    if config.exists() and info.get("config-checksum"):
        info["config-checksum"] = hashlib.sha256(config.read_bytes()).hexdigest()
    fd = os.open(dep / "info", os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                 (src / "info").stat().st_mode & 0o7777)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f, indent=4)
    history = checkouts / f".{template}.history"
    if history.exists():
        _copy_text(history, checkouts / f".{name}.history", replace)
    _copy_text(UNIT_DIR / f"{template}.service", UNIT_DIR / f"{name}.service", replace)
    for wants in UNIT_DIR.glob(f"*.wants/{template}.service"):
        os.symlink(replace(os.readlink(wants)), wants.parent / f"{name}.service")
    os.symlink(str(dep), checkouts / name)
    snippet = TMPFILES_DIR / f"{template}.conf"
    if not snippet.exists():
        return None
    _copy_text(snippet, TMPFILES_DIR / f"{name}.conf", replace)
    return TMPFILES_DIR / f"{name}.conf"


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: scale_clone.py CHECKOUTS TEMPLATE NAME [NAME ...]", file=sys.stderr)
        return 2
    checkouts, template, names = Path(argv[0]), argv[1], argv[2:]
    snippets = [s for s in (clone(checkouts, template, n) for n in names) if s is not None]
    if snippets:
        subprocess.run(["systemd-tmpfiles", "--create", *map(str, snippets)], check=True)
    subprocess.run(["systemctl", "daemon-reload"], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
