"""Helpers for tests that drive syscontainers inside the systemd test host.

``ScHost`` runs ``<repo>/.venv/bin/syscontainers`` inside a booted test host (system mode,
default paths: /var/lib/containers/atomic, /etc/systemd/system ... all private to the host),
reads its files from the machine side, and fetches from services it runs (they share the
machine's network namespace and bind 127.0.0.1).
"""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.testhost.host import REPO_ROOT, TestHost

SC = str(REPO_ROOT / ".venv/bin/syscontainers")
# what runs once the front has handed a line to Python (docs/architecture.md "The command's front")
LAUNCHER = str(REPO_ROOT / ".venv/libexec/syscontainers.py")
CHECKOUTS = Path("/var/lib/containers/atomic")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ScResult:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@dataclass
class ScHost:
    host: TestHost

    def sc(self, *args: str, env: dict | None = None, timeout: float = 180) -> ScResult:
        from tests.conftest import OFFLINE_ENV   # hermetic: nothing outside this machine
        cp = self.host.run(SC, *args, check=False, env={**OFFLINE_ENV, **(env or {})},
                           timeout=timeout)
        return ScResult(cp.returncode, cp.stdout, cp.stderr)

    def ok(self, *args: str, **kw) -> ScResult:
        r = self.sc(*args, **kw)
        assert r.code == 0, f"syscontainers {' '.join(args)} failed ({r.code}):\n{r.text}"
        return r

    def path(self, inside: str | Path) -> Path:
        return self.host.path(inside)

    def exists(self, inside: str | Path) -> bool:
        return self.host.run("test", "-e", str(inside), check=False).returncode == 0 or \
            self.host.run("test", "-L", str(inside), check=False).returncode == 0

    def listing(self) -> dict[str, dict]:
        return {row["name"]: row for row in json.loads(self.ok("list", "--json").out)}

    def status(self, name: str) -> str:
        return self.listing().get(name, {}).get("status", "absent")

    def wait_status(self, name: str, want: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        status = self.status(name)
        while status != want and time.monotonic() < deadline:
            time.sleep(0.3)
            status = self.status(name)
        return status

    def traces(self, name: str) -> list[str]:
        """Everything of container ``name`` left on the host."""
        left = []
        for p in (CHECKOUTS / name, CHECKOUTS / f"{name}.0", CHECKOUTS / f"{name}.1",
                  Path(f"/etc/systemd/system/{name}.service"), Path(f"/etc/tmpfiles.d/{name}.conf"),
                  Path(f"/etc/systemd/system/multi-user.target.wants/{name}.service")):
            if self.exists(p):
                left.append(str(p))
        return left + self.dot_leftovers(name)

    def dot_leftovers(self, name: str, checkouts: str | Path = CHECKOUTS) -> list[str]:
        """The dot entries of container ``name`` in ``checkouts`` (partial/old dirs, temporary
        links, markers); its history file is no leftover: it outlives the container
        (docs/formats.md "The history file")."""
        out = self.host.run("ls", "-a", str(checkouts), check=False).stdout.split()
        return [e for e in out if e.startswith(f".{name}.") and e != f".{name}.history"]


def http_get(port: int, timeout: float = 15) -> str:
    """GET http://127.0.0.1:PORT/ retrying until the service answers (detached start)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                return r.read().decode()
        except OSError as e:
            last = e
            time.sleep(0.2)
    raise AssertionError(f"nothing answers on 127.0.0.1:{port}: {last}")


def port_closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def trust_registry(host: TestHost, registry_host: str) -> None:
    """Mark the test registry insecure (plain HTTP) in the test host's registries.conf, the way
    an operator would."""
    conf = host.path("/etc/containers/registries.conf")
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(f'[[registry]]\nlocation = "{registry_host}"\ninsecure = true\n')
