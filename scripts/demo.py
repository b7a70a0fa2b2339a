#!/usr/bin/env python3
"""End-to-end demo: images, then a real service in a throwaway systemd test host.

1. Builds the example image (busybox httpd with an /exports set) in Python, starts a registry on
   127.0.0.1 on a free port and pushes versions 1.0 and 2.0 of it.
2. Image verbs against a private store (--checkout-path / --repo in a temporary directory):
   pull, pull again (nothing fetched), images list / inspect / info / verify, an error.
3. Boots a real systemd as PID 1 of private namespaces (the test host, tests/testhost: its own
   /etc, /var, /run; the machine's services are never touched) and, inside it, as an operator
   would: install → start → talk to the service from the machine → list → update --check →
   update to 2.0 → rollback → history → auto-update --dry-run → stop → uninstall.

The registry and the test host this script started are always stopped (by PID) and the
temporary directory removed, unless --keep. Run from the project root (as root):
``.venv/bin/python scripts/demo.py [--keep]``.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.fixtures.examples import example_spec  # noqa: E402
from tests.fixtures.images import build_oci_layout  # noqa: E402
from tests.fixtures.registry import Registry  # noqa: E402
from tests.testhost.host import REPO_ROOT, Bind, TestHost  # noqa: E402

SC_INSIDE = str(REPO_ROOT / ".venv/bin/syscontainers")


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


class HostCli:
    """Runs ``syscontainers`` inside the test host, with its default (system) paths."""

    def __init__(self, host: TestHost):
        self.host = host

    def __call__(self, *args: str, check: bool = True) -> int:
        shown = " ".join(shlex.quote(a) for a in args)
        print(f"testhost# syscontainers {shown}", flush=True)
        cp = self.host.run(SC_INSIDE, *args, check=False)
        sys.stdout.write(cp.stdout + cp.stderr)
        if check and cp.returncode != 0:
            raise SystemExit(f"demo failed: `syscontainers {shown}` exited with {cp.returncode}")
        return cp.returncode


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def talk(port: int) -> None:
    deadline = time.monotonic() + 15
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                print(f"machine$ curl http://127.0.0.1:{port}/  ->  {r.read().decode().strip()}")
                return
        except OSError as e:
            if time.monotonic() > deadline:
                raise SystemExit(f"demo failed: the service does not answer on port {port}: {e}")
            time.sleep(0.2)


def build_images(work: Path) -> dict[str, Path]:
    banner("Building the example image (busybox httpd, /exports templates) as OCI layouts")
    layouts = {}
    for version, text in (("1.0", "hello from version 1.0\n"), ("2.0", "hello from version 2.0\n")):
        built = build_oci_layout(example_spec(required=("GREETING",), index_html=text),
                                 work / f"layout-{version}", version)
        print(f"{version}: {len(built.layers)} layers, manifest digest {built.manifest.digest}")
        layouts[version] = built.layout
    return layouts


def images_part(work: Path, registry: Registry, image: str) -> None:
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


def service_part(work: Path, registry: Registry, images: dict[str, str]) -> None:
    banner("Booting a throwaway systemd test host (private /etc, /var, /run; real systemd 252)")
    host = TestHost(work / "testhost", binds=[Bind(REPO_ROOT)])
    try:
        host.start()
        print(f"booted in {host.boot_seconds:.2f} s (systemd is PID {host.pid} of its namespace)")
        conf = host.path("/etc/containers/registries.conf")
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(f'[[registry]]\nlocation = "{registry.host}"\ninsecure = true\n')
        print(f"marked {registry.host} as a plain-HTTP registry in the host's registries.conf")
        sc, port = HostCli(host), free_port()
        banner("Install the image as a service (enabled, not started)")
        sc("install", "--name", "demo-web", "--set", f"PORT={port}", "--set", "GREETING=hi",
           images["1.0"])
        banner("Start it and talk to it")
        sc("start", "demo-web")
        talk(port)
        sc("list")
        banner("Is an update available? (the registry is asked for the manifest only; "
               "exit 0 = up to date, 100 = available, 1 = could not check)")
        sc("update", "demo-web", "--check")
        rc = sc("update", "demo-web", "--check", "--rebase", images["2.0"], check=False)
        print(f"(exit {rc})")
        banner("Update to 2.0 (the other deployment; the link switches atomically)")
        sc("update", "demo-web", "--rebase", images["2.0"])
        talk(port)
        banner("Roll back to 1.0")
        sc("rollback", "demo-web")
        talk(port)
        banner("What was done to it (also in the journal: journalctl MESSAGE_ID=...)")
        sc("history", "demo-web")
        banner("Unattended updates: a policy, then what auto-update would do (exit 0 = "
               "nothing to update, 100 = updates available, 1 = a container could not be checked)")
        sc("update", "demo-web", "--auto-update=registry")
        rc = sc("auto-update", "--dry-run", check=False)
        print(f"(exit {rc})")
        banner("Stop and uninstall")
        sc("stop", "demo-web")
        sc("list")
        sc("uninstall", "demo-web")
        left = host.run("ls", "-A", "/var/lib/containers/atomic", check=False).stdout.split()
        print(f"left in /var/lib/containers/atomic: "
              f"{[e for e in left if e not in ('.storage', '.demo-web.history')] or 'nothing'} "
              "(the history file .demo-web.history is kept)")
    finally:
        host.stop()
        print("test host stopped")


def demo(work: Path) -> None:
    layouts = build_images(work)
    registry = Registry(work / "registry")
    try:
        registry.start()
        banner(f"Registry started on {registry.host} (pid {registry.proc.pid})")
        images = {v: registry.push(layout, v, "demo/httpd") for v, layout in layouts.items()}
        print("pushed " + ", ".join(images.values()))
        images_part(work, registry, images["1.0"])
        service_part(work, registry, images)
    finally:
        registry.stop()
        print(f"\nregistry (pid {registry.proc.pid if registry.proc else '-'}) stopped")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="syscontainers-demo-", dir="/var/tmp"))
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
