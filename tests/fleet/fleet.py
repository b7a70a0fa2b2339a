"""Several systemd test hosts at once, as an Ansible inventory (docs/fleet.md, "How the tests
reach their hosts").

``Fleet(workdir, size=3).start()`` boots ``size`` test hosts (tests/testhost: each its own
private root, so its own /var/lib/containers store and checkouts, /etc, journal; its own
``sc-testhost-<pid>-<n>`` cgroups; hostnames ``fleet1``...), writes an inventory that reaches
them through the ``testhost`` connection plugin (nsenter) and runs ``ansible-playbook`` from the
project's venv with the collection in ``ansible/``. ``stop()`` stops every host (idempotent).
The hosts share the machine's network namespace: a registry on 127.0.0.1 serves them all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.testhost.host import REPO_ROOT, Bind, TestHost

VENV_BIN = REPO_ROOT / ".venv" / "bin"
COLLECTIONS = REPO_ROOT / "ansible"
EXAMPLES = COLLECTIONS / "examples"
PLUGINS = Path(__file__).resolve().parent / "connection_plugins"
CALLBACKS = Path(__file__).resolve().parent / "callback_plugins"


class Fleet:
    def __init__(self, workdir: Path, size: int = 3, prefix: str = "fleet"):
        self.workdir = Path(workdir)
        self.names = [f"{prefix}{i}" for i in range(1, size + 1)]
        self.hosts: dict[str, TestHost] = {}

    def start(self) -> "Fleet":
        try:
            for name in self.names:
                host = TestHost(self.workdir / name, binds=[Bind(REPO_ROOT)], hostname=name)
                self.hosts[name] = host
                host.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for host in self.hosts.values():
            host.stop()

    def trust_registry(self, registry_host: str) -> None:
        """Mark the test registry plain-HTTP on every host, as an operator would."""
        for host in self.hosts.values():
            conf = host.path("/etc/containers/registries.conf")
            conf.parent.mkdir(parents=True, exist_ok=True)
            conf.write_text(f'[[registry]]\nlocation = "{registry_host}"\ninsecure = true\n')

    def inventory(self, hostvars: dict[str, dict] | None = None, groupvars: dict | None = None) -> Path:
        """An inventory (JSON is YAML) with every host of the fleet in group ``fleet``."""
        hosts = {}
        for name, host in self.hosts.items():
            hosts[name] = {
                "ansible_connection": "testhost",
                "ansible_testhost_pid": host.pid,
                "ansible_testhost_cgroups": ":".join(str(d) for d in host.cgroup_dirs),
                "ansible_python_interpreter": "/usr/bin/python3",
                **((hostvars or {}).get(name, {})),
            }
        inv = {"all": {"children": {"fleet": {"hosts": hosts, "vars": groupvars or {}}}}}
        path = self.workdir / "inventory.yml"
        path.write_text(json.dumps(inv, indent=1))
        return path

    def env(self, stdout_callback: str = "fleet_json") -> dict[str, str]:
        home = self.workdir / "ansible-home"
        home.mkdir(exist_ok=True)
        return {**os.environ,
                "ANSIBLE_HOME": str(home), "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
                "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
                "ANSIBLE_CONNECTION_PLUGINS": str(PLUGINS),
                "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS),
                "ANSIBLE_STDOUT_CALLBACK": stdout_callback,
                "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0",
                "ANSIBLE_HOST_KEY_CHECKING": "0", "ANSIBLE_PIPELINING": "1", "ANSIBLE_DEPRECATION_WARNINGS": "0",
                # the hosts find the CLI on PATH, as on a real fleet (connection plugin)
                "ANSIBLE_TESTHOST_PATH_EXTRA": str(VENV_BIN)}

    def playbook(self, playbook: str | Path, inventory: Path, *args: str,
                 stdout_callback: str = "fleet_json", timeout: float = 600) -> subprocess.CompletedProcess:
        path = Path(playbook)
        if not path.is_absolute():
            path = EXAMPLES / path
        cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(path), *args]
        if stdout_callback == "fleet_json":
            return subprocess.run(cmd, capture_output=True, text=True,
                                  env=self.env(stdout_callback), timeout=timeout)
        sys.stdout.flush()
        return subprocess.run(cmd, text=True, env=self.env(stdout_callback), timeout=timeout)


    def tasks(self, hosts: str, tasks: list[dict], inventory: Path) -> list[dict[str, dict]]:
        """Run ``tasks`` (each ``{MODULE: ARGS, ...keywords}``) as one play on ``hosts``, each
        with ``ignore_errors``; for each task, host -> its result."""
        named = [{"name": f"task {i}", "ignore_errors": True, **t} for i, t in enumerate(tasks)]
        play = [{"name": "tasks", "hosts": hosts, "gather_facts": False, "tasks": named}]
        path = self.workdir / "tasks.yml"
        path.write_text(json.dumps(play, indent=1))
        report = results(self.playbook(path, inventory))
        return [task_results(report, t["name"]) for t in named]


def results(cp: subprocess.CompletedProcess) -> dict:
    """The fleet_json callback's report: ``{"plays": [...], "stats": {host: {...}}}``."""
    try:
        return json.loads(cp.stdout)
    except ValueError:
        raise AssertionError(f"ansible-playbook printed no JSON (exit {cp.returncode}):\n"
                             f"{cp.stdout[-3000:]}\n{cp.stderr[-3000:]}") from None


def task_results(report: dict, task_name: str) -> dict[str, dict]:
    """host -> result of the task named ``task_name`` (every play of the run)."""
    found: dict[str, dict] = {}
    for play in report["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"] == task_name:
                found.update(task["hosts"])
    return found
