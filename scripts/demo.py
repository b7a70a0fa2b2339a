#!/usr/bin/env python3
"""End-to-end demo of image handling (first version: pull and the images verbs).

Builds the example image (busybox httpd with an /exports set) in Python, starts a registry on
127.0.0.1 on a free port, pushes the image, then runs, as an operator would:

    syscontainers pull http:127.0.0.1:PORT/demo/httpd:1.0
    syscontainers images list / inspect / info

Everything lives in one temporary directory (checkouts and OSTree repo given with
--checkout-path / --repo), so the machine's own state is never touched; the registry this script
started is always stopped (by its PID) and the directory removed, unless --keep.

Run from the project root: ``.venv/bin/python scripts/demo.py [--keep]``.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.fixtures.examples import example_spec  # noqa: E402
from tests.fixtures.images import build_oci_layout  # noqa: E402
from tests.fixtures.registry import Registry  # noqa: E402


def banner(text: str) -> None:
    print(f"\n=== {text}", flush=True)


class Cli:
    """Runs ``syscontainers`` against the demo's private checkouts and repo."""

    def __init__(self, work: Path):
        self.flags = ["--checkout-path", str(work / "checkouts"), "--repo", str(work / "repo")]

    def __call__(self, *args: str, check: bool = True) -> int:
        shown = " ".join(shlex.quote(a) for a in args)
        print(f"$ syscontainers {shown}", flush=True)
        rc = subprocess.run([sys.executable, "-m", "syscontainers.cli", *self.flags, *args]).returncode
        if check and rc != 0:
            raise SystemExit(f"demo failed: `syscontainers {shown}` exited with {rc}")
        return rc


def build_image(work: Path) -> Path:
    banner("Building the example image (busybox httpd, /exports templates) as an OCI layout")
    layout = work / "layout"
    built = build_oci_layout(example_spec(required=("GREETING",)), layout, "1.0")
    print(f"layers: {len(built.layers)}, manifest digest {built.manifest.digest}")
    return layout


def demo(work: Path) -> None:
    layout = build_image(work)
    registry = Registry(work / "registry")
    try:
        registry.start()
        banner(f"Registry started on {registry.host} (pid {registry.proc.pid})")
        image = registry.push(layout, "1.0", "demo/httpd")
        print(f"pushed {image}")
        cli = Cli(work)
        banner("Pull (plain-HTTP registry: the http: prefix)")
        cli("pull", f"http:{image}")
        banner("Pull again: already present, nothing fetched")
        cli("pull", f"http:{image}")
        banner("Images in the store")
        cli("images", "list")
        banner("One image in detail (labels from the image config)")
        cli("images", "inspect", image)
        banner("Template variables: what --set may or must give at install")
        cli("images", "info", image)
        banner("Checksums of every file of the image")
        cli("images", "verify", image)
        banner("An unknown image is one clear error line")
        cli("pull", f"http:{registry.host}/demo/missing:1", check=False)
    finally:
        registry.stop()
        print(f"\nregistry (pid {registry.proc.pid if registry.proc else '-'}) stopped")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="syscontainers-demo-"))
    try:
        demo(work)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("\ndemo finished")
    return 0


if __name__ == "__main__":
    sys.exit(main())
