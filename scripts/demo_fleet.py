#!/usr/bin/env python3
"""Fleet demo (`make demo-fleet`): a rolling update over three systemd test hosts with Ansible.

1. Builds the web image 1.0 and 2.0 (tests/fleet/images.py: busybox httpd; 2.0 cannot start
   on a host whose state needs a migration), starts a registry on 127.0.0.1 and pushes both.
2. Boots three test hosts (tests/testhost: three private systemd instances, each with its own
   store, /etc and journal) and writes an inventory for them (docs/fleet.md).
3. ansible-playbook with the collection in ansible/: install.yml (web 1.0 on every host),
   check.yml (stage 2.0, show the pending update with its diff: check mode), then
   rolling-update.yml (serial 1, max_fail_percentage 0) after marking host 2's state as
   needing a migration: host 1 runs 2.0, host 2's 2.0 fails its health check and syscontainers rolls
   it back to 1.0, the play stops, host 3 is not touched.
4. Prints what each host runs and what it answers.

Everything it started is stopped (by PID) and its temporary directory removed, unless --keep.
Run from the project root (as root): ``.venv/bin/python scripts/demo_fleet.py [--keep]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.registry import Registry, free_port  # noqa: E402
from tests.fleet.fleet import Fleet  # noqa: E402
from tests.fleet.images import MIGRATION_MARKER, push_web, web_layouts  # noqa: E402
from tests.integration.sc_host import SC  # noqa: E402

NAME = "web"


def banner(text: str) -> None:
    print(f"\n=== {text}", flush=True)


def fetch(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            return r.read().decode().strip()
    except OSError as e:
        return f"(no answer: {e})"


def playbook(fleet: Fleet, inventory: Path, name: str, *args: str) -> int:
    banner(f"ansible-playbook -i inventory.yml ansible/examples/{name} {' '.join(args)}".rstrip())
    return fleet.playbook(name, inventory, *args, stdout_callback="default").returncode


def summary(fleet: Fleet, ports: dict[str, int]) -> None:
    banner("what each host runs")
    print(f"{'HOST':8} {'IMAGE':36} {'STATUS':9} ANSWER")
    for name, host in fleet.hosts.items():
        rows = {r["name"]: r for r in json.loads(host.run(SC, "list", "--json").stdout)}
        row = rows.get(NAME, {})
        print(f"{name:8} {row.get('image', '-'):36} {row.get('status', '-'):9} {fetch(ports[name])}")


def demo(work: Path) -> int:
    registry = Registry(work / "registry").start()
    fleet = Fleet(work / "hosts")
    try:
        banner("web 1.0 and 2.0 pushed to a registry on 127.0.0.1")
        refs = push_web(registry, web_layouts(work))
        print("\n".join(refs.values()))
        banner("booting three systemd test hosts: fleet1 fleet2 fleet3")
        fleet.start()
        fleet.trust_registry(registry.host)
        ports = {name: free_port() for name in fleet.names}
        inventory = fleet.inventory(
            hostvars={name: {"web_port": port} for name, port in ports.items()},
            groupvars={"web_name": NAME, "web_image": refs["1.0"], "web_new_image": refs["2.0"],
                       "web_token": "demo-token", "web_settle": 4})
        if playbook(fleet, inventory, "install.yml") != 0:
            return 1
        summary(fleet, ports)
        if playbook(fleet, inventory, "check.yml") != 0:
            return 1
        banner(f"fleet2's state needs a migration 2.0 cannot do (/var/lib/{NAME}/{MIGRATION_MARKER})")
        fleet.hosts["fleet2"].path(f"/var/lib/{NAME}/{MIGRATION_MARKER}").write_text("1.x\n")
        rc = playbook(fleet, inventory, "rolling-update.yml")
        print(f"(ansible-playbook exited {rc}: the play stopped at the failing host)")
        summary(fleet, ports)
        banner("fleet2's journal: the new version (unhealthy) and the rollback")
        print(fleet.hosts["fleet2"].journal(f"{NAME}.service", lines=12))
        return 0 if rc == 2 else 1
    finally:
        fleet.stop()
        registry.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sc-demo-fleet-"))
    try:
        rc = demo(work)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("\ndemo-fleet " + ("finished" if rc == 0 else "FAILED"))
    return rc


if __name__ == "__main__":
    sys.exit(main())
