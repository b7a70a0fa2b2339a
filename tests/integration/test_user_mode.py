"""User mode end to end on the real systemd test host (docs/operations.md, "User mode").

Everything runs as an unprivileged login user of the test host (with /etc/subuid and
/etc/subgid ranges and its own ``user@UID.service``): the images go into the user's bare-user
repo under ~/.local/share/containers/atomic, the units into ~/.config/systemd/user (the user
manager), and runc runs rootless, the container's root being the user in a user namespace.
The example httpd binds 127.0.0.1 only (the example config says so): it shares the machine's network.
"""

from __future__ import annotations

import json
import stat
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from syscontainers.lifecycle.history import MESSAGE_ID
from tests.fixtures.examples import config_template, example_spec
from tests.fixtures.images import File, ImageSpec, build_oci_layout
from tests.integration.sc_host import SC, ScResult, free_port, http_get, port_closed
from tests.testhost.host import TestHost

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.registry]

USER, UID = "scuser", 1050     # a uid of its own: other tests' users start at 1000
HOME = Path(f"/home/{USER}")
DATA = HOME / ".local/share"
CHECKOUTS = DATA / "containers/atomic"
UNITS = HOME / ".config/systemd/user"
TMPFILES = DATA / "containers/tmpfiles"
STATE = HOME / ".data"           # STATE_DIRECTORY in user mode


@dataclass
class ScUser:
    """``syscontainers`` run by USER inside the test host (user mode by default)."""

    host: TestHost

    def sc(self, *args: str, timeout: float = 180) -> ScResult:
        cp = self.host.run_as_user(USER, SC, *args, check=False, timeout=timeout)
        return ScResult(cp.returncode, cp.stdout, cp.stderr)

    def ok(self, *args: str, **kw) -> ScResult:
        r = self.sc(*args, **kw)
        assert r.code == 0, (f"syscontainers {' '.join(args)} failed ({r.code}):\n{r.text}\n"
                             f"--- the user's journal ---\n{self.journal()}")
        return r

    def as_user(self, *cmd: str, check: bool = True) -> str:
        return self.host.run_as_user(USER, *cmd, check=check).stdout

    def systemctl(self, *args: str) -> str:
        return self.as_user("systemctl", "--user", *args, check=False).strip()

    def journal(self, lines: int = 60) -> str:
        """The user manager's and its services' messages (read as root: no per-user journal
        file exists in the test host's volatile journal)."""
        return self.host.run("journalctl", "--no-pager", "-n", str(lines), f"_UID={UID}",
                             check=False).stdout

    def exists(self, inside: Path) -> bool:
        return self.host.run("test", "-e", str(inside), "-o", "-L", str(inside),
                             check=False).returncode == 0

    def read(self, inside: Path) -> str:
        return self.host.run("cat", str(inside)).stdout

    def listing(self) -> dict[str, dict]:
        return {row["name"]: row for row in json.loads(self.ok("list", "--json").out)}

    def status(self, name: str) -> str:
        return self.listing().get(name, {}).get("status", "absent")

    def link(self, name: str) -> str:
        return self.host.run("readlink", str(CHECKOUTS / name)).stdout.strip()

    def not_owned_by_user(self) -> list[str]:
        """Paths under the user's home that the user does not own (root must write nothing)."""
        return self.host.run("find", str(HOME), "!", "-user", USER).stdout.split()

    def traces(self, name: str) -> list[str]:
        """Everything of container ``name`` left in the user's dirs and manager."""
        left = [str(p) for p in (
            CHECKOUTS / name, CHECKOUTS / f"{name}.0", CHECKOUTS / f"{name}.1",
            UNITS / f"{name}.service", UNITS / f"default.target.wants/{name}.service",
            UNITS / f"multi-user.target.wants/{name}.service", TMPFILES / f"{name}.conf")
            if self.exists(p)]
        left += [e for e in self.host.run("ls", "-A", str(CHECKOUTS), check=False).stdout.split()
                 if e.startswith(f".{name}.") and e != f".{name}.history"]    # kept: it is history
        if self.systemctl("show", "-p", "LoadState", "--value", f"{name}.service") != "not-found":
            left.append(f"{name}.service still loaded in the user manager")
        return left

    def main_pid(self, name: str) -> int:
        return int(self.systemctl("show", "-p", "MainPID", "--value", f"{name}.service"))


def _httpd_only() -> str:
    cfg = json.loads(config_template())
    cfg["process"]["args"] = ["/usr/sbin/httpd", "-f", "-p", "$PORT", "-h", "/srv"]
    return json.dumps(cfg)


@pytest.fixture(scope="module")
def images(registry, tmp_path_factory):
    root = tmp_path_factory.mktemp("user-mode-images")
    web = example_spec(index_html="hello user v1\n")
    specs = {
        "v1": web,
        "v2": example_spec(index_html="hello user v2\n"),
        # setuid/setgid files and root-owned files, as real images have them
        "suid": replace(web, layers=[*web.layers, {
            "usr/bin/suidtool": File("#!/bin/sh\n", mode=0o4755),
            "usr/bin/sgidtool": File("#!/bin/sh\n", mode=0o2755, gid=42)}]),
        # httpd itself as the process: its exit status (1 when it cannot bind) is the unit's
        "plain": replace(web, exports={**web.exports, "config.json.template": _httpd_only()}),
        "tool": ImageSpec(layers=[{"etc/motd": "user tool\n"}], cmd=[
            "/bin/sh", "-c", "cat /etc/motd; id -u; cat /proc/self/uid_map; exit 7"]),
    }
    return {tag: registry.push(build_oci_layout(spec, root / tag, tag).layout, tag, "user/web")
            for tag, spec in specs.items()}


@pytest.fixture(scope="module")
def usc(testhost, registry):
    """USER's syscontainers; the test registry marked plain-HTTP in the user's own
    registries.conf, as a user without root would do it."""
    testhost.start_user(USER, UID)
    conf_dir = HOME / ".config/containers"
    testhost.run_as_user(USER, "mkdir", "-p", str(conf_dir))
    testhost.run_as_user(USER, "tee", str(conf_dir / "registries.conf"),
                         input=f'[[registry]]\nlocation = "{registry.host}"\ninsecure = true\n')
    sc = ScUser(testhost)
    yield sc
    for name in sc.listing():          # a failed test's leftovers
        sc.sc("uninstall", name)


def test_system_flag_is_refused(usc):
    r = usc.sc("--system", "list")
    assert r.code != 0 and r.err == "error: Only root can use --system\n", r.text
    assert r.out == ""


def test_pull_into_the_users_bare_user_repo(usc, images):
    root_refs = usc.host.run("sh", "-c", "find /var/lib/containers/atomic/.storage/ostree/refs "
                             "-type f 2>/dev/null | sort", check=False).stdout
    r = usc.ok("pull", images["v1"])
    assert images["v1"] in r.out
    assert "mode=bare-user" in usc.read(CHECKOUTS / "repo/config")
    rows = {n: row for row in json.loads(usc.ok("images", "list", "--json").out)
            for n in row["names"]}
    assert rows[images["v1"]]["type"] == "user"
    assert usc.not_owned_by_user() == []
    # root's store is untouched
    assert usc.host.run("sh", "-c", "find /var/lib/containers/atomic/.storage/ostree/refs "
                        "-type f 2>/dev/null | sort", check=False).stdout == root_refs


def test_install_start_list_stop_uninstall(usc, images):
    port = free_port()
    r = usc.ok("install", "--name", "uweb1", "--set", f"PORT={port}", images["v1"])
    assert "installed uweb1" in r.out
    # files in the user's dirs, unit enabled in the user manager
    unit = usc.read(UNITS / "uweb1.service")
    assert "--systemd-cgroup" not in unit
    assert f"PIDFile=/run/user/{UID}/container-uweb1.pid" in unit
    assert "WantedBy=default.target" in unit.splitlines()
    assert usc.systemctl("is-enabled", "uweb1.service") == "enabled"
    assert usc.exists(UNITS / "default.target.wants/uweb1.service")
    assert usc.link("uweb1") == str(CHECKOUTS / "uweb1.0")
    assert usc.exists(TMPFILES / "uweb1.conf")
    assert usc.exists(STATE / "uweb1")                       # tmpfiles --user created it
    info = json.loads(usc.read(CHECKOUTS / "uweb1.0/info"))
    # private to the user (docs/operations.md "File modes and secrets")
    for path, mode in (("uweb1.0", "700"), ("uweb1.0/info", "600"), ("uweb1.0/config.json", "600")):
        assert usc.host.run("stat", "-c", "%a %U", str(CHECKOUTS / path)).stdout.split() == [mode, USER]
    assert info["values"]["STATE_DIRECTORY"] == str(STATE)
    assert info["values"]["RUN_DIRECTORY"] == f"/run/user/{UID}"
    assert info["values"]["CONF_DIRECTORY"] == str(HOME / ".config")
    cfg = json.loads(usc.read(CHECKOUTS / "uweb1.0/config.json"))
    namespaces = {ns["type"] for ns in cfg["linux"]["namespaces"]}
    assert namespaces == {"pid", "ipc", "uts", "mount", "user"}      # no network: the host's
    assert cfg["linux"]["uidMappings"][0] == {"containerID": 0, "hostID": UID, "size": 1}
    assert cfg["linux"]["uidMappings"][1]["containerID"] == 1   # the user's /etc/subuid range
    assert usc.not_owned_by_user() == []
    assert usc.status("uweb1") == "inactive"

    usc.ok("start", "uweb1")
    assert http_get(port) == "hello user v1\n"
    row = usc.listing()["uweb1"]
    assert row["status"] == "running" and row["type"] == "user"
    assert row["image"] == images["v1"]
    # the container's root is the user, in a user namespace with the subordinate range
    pid = usc.main_pid("uweb1")
    assert usc.host.run("ps", "-o", "user=", "-p", str(pid)).stdout.strip() == USER
    uid_map = usc.host.run("cat", f"/proc/{pid}/uid_map").stdout.split()
    assert uid_map[:3] == ["0", str(UID), "1"] and uid_map[3] == "1"
    r = usc.ok("exec", "uweb1", "/bin/sh", "-c", "id -u; cat /srv/index.html")
    assert r.out == "0\nhello user v1\n"

    usc.ok("stop", "uweb1")
    assert usc.status("uweb1") == "inactive" and port_closed(port)
    usc.ok("start", "uweb1")
    http_get(port)

    usc.ok("uninstall", "uweb1")          # running: stopped, disabled, removed
    assert port_closed(port)
    assert usc.traces("uweb1") == []
    assert "uweb1" not in usc.listing()
    assert usc.as_user("runc", "list", "-q").strip() == ""


def test_update_rebase_and_rollback(usc, images):
    port = free_port()
    usc.ok("install", "--name", "uweb2", "--set", f"PORT={port}", images["v1"])
    usc.ok("start", "uweb2")
    assert http_get(port) == "hello user v1\n"

    r = usc.ok("update", "--rebase", images["v2"], "uweb2")
    assert "updated uweb2" in r.out
    assert usc.link("uweb2") == str(CHECKOUTS / "uweb2.1")
    assert http_get(port) == "hello user v2\n"
    row = usc.listing()["uweb2"]
    assert row["image"] == images["v2"] and row["status"] == "running"
    assert "WantedBy=default.target" in usc.read(UNITS / "uweb2.service")

    r = usc.ok("rollback", "uweb2")
    assert usc.link("uweb2") == str(CHECKOUTS / "uweb2.0")
    assert http_get(port) == "hello user v1\n"
    assert usc.listing()["uweb2"]["image"] == images["v1"]
    assert usc.not_owned_by_user() == []

    usc.ok("uninstall", "uweb2")
    assert port_closed(port) and usc.traces("uweb2") == []

    # the history, in the user's checkouts and the journal (docs/operations.md "History")
    got = json.loads(usc.ok("history", "uweb2", "--json").out)
    assert [(x["verb"], x["result"]) for x in got][-4:] == [
        ("install", "ok"), ("update", "ok"), ("rollback", "ok"), ("uninstall", "ok")]
    assert usc.host.run("stat", "-c", "%a %U", str(CHECKOUTS / ".uweb2.history")).stdout.split() \
        == ["600", USER]
    deadline = time.monotonic() + 30
    while True:
        out = usc.host.run("journalctl", "--no-pager", "-o", "json", f"_UID={UID}",
                           f"MESSAGE_ID={MESSAGE_ID}", "SYSCONTAINERS_CONTAINER=uweb2",
                           check=False).stdout
        verbs = [json.loads(line)["SYSCONTAINERS_VERB"] for line in out.splitlines() if line]
        if len(verbs) >= 4 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert verbs[-4:] == ["install", "update", "rollback", "uninstall"]


def test_health_check_and_gate_run_rootless(usc, images):
    """The exec probe reaches the rootless container (runc exec with the user's own state
    root), and the controlled update's gate uses it (docs/operations.md "Health checks")."""
    port = free_port()
    usc.ok("install", "--name", "uweb3", "--set", f"PORT={port}", "--health-cmd",
           "cat /srv/index.html", "--health-interval", "1", images["v1"])
    usc.ok("start", "uweb3")
    http_get(port)
    r = usc.ok("healthcheck", "uweb3")
    assert r.out == "uweb3: healthy (exec /bin/sh -c cat /srv/index.html): hello user v1\n"
    assert usc.listing()["uweb3"]["health"] == "healthy"
    r = usc.sc("update", "uweb3", "--rebase", images["v2"], "--controlled",
               "--health-cmd", "grep -q v1 /srv/index.html", "--health-retries", "2",
               "--health-interval", "1")
    assert r.code == 1 and "failed its health check (exec /bin/sh -c grep -q v1 " \
        "/srv/index.html) 2 times in a row; last probe: exit status 1" in r.err, r.text
    assert usc.link("uweb3") == str(CHECKOUTS / "uweb3.0") and http_get(port) == "hello user v1\n"
    r = usc.ok("update", "uweb3", "--rebase", images["v2"], "--controlled")
    assert "uweb3 is healthy (exec /bin/sh -c cat /srv/index.html)" in r.out
    assert http_get(port) == "hello user v2\n"
    usc.ok("uninstall", "uweb3")
    assert usc.traces("uweb3") == []


def test_setuid_bits_are_dropped_and_files_belong_to_the_user(usc, images):
    usc.ok("install", "--name", "usuid", "--set", f"PORT={free_port()}", images["suid"])
    rootfs = CHECKOUTS / "usuid.0/rootfs/usr/bin"
    for tool in ("suidtool", "sgidtool"):
        out = usc.host.run("stat", "-c", "%a %U %G", str(rootfs / tool)).stdout.split()
        mode = int(out[0], 8)
        assert not mode & (stat.S_ISUID | stat.S_ISGID), (tool, out)
        assert mode & 0o111 and out[1:] == [USER, USER], (tool, out)
    usc.ok("uninstall", "usuid")
    assert usc.traces("usuid") == []


def storage_leftovers(usc: ScUser) -> list[str]:
    out = usc.host.run("sh", "-c", f"ls -A {CHECKOUTS}/.syscontainers/tmp 2>/dev/null; "
                       f"findmnt -rn -o TARGET | grep {HOME} || true").stdout
    return out.split()


def test_run_once(usc, images):
    usc.ok("pull", images["tool"])        # so that the run prints only the container's output
    r = usc.sc("run", images["tool"])
    assert r.code == 7, r.text
    lines = r.out.splitlines()
    assert lines[0] == "user tool" and lines[1] == "0"          # root inside ...
    assert lines[2].split() == ["0", str(UID), "1"]              # ... is the user outside
    # an image with exports: config, tmpfiles (--user) rendered for the user, then removed
    r = usc.sc("run", "--set", "PORT=1", images["v1"], "/bin/sh", "-c",
               "cat /srv/index.html; touch /data/x && echo data-writable")
    assert r.code == 0 and r.out == "hello user v1\ndata-writable\n", r.text
    assert storage_leftovers(usc) == []
    assert usc.as_user("runc", "list", "-q").strip() == ""
    assert usc.not_owned_by_user() == []


def test_a_privileged_port_is_refused_and_the_unit_fails(usc, images):
    """The container's root is not root on the host's network: a port < 1024 cannot be bound.
    The unit ends failed (detached runc reports success, then the process dies)."""
    usc.ok("install", "--name", "ulow", "--set", "PORT=80", images["plain"])
    usc.sc("start", "ulow")
    deadline = time.monotonic() + 30
    while usc.status("ulow") != "failed" and time.monotonic() < deadline:
        time.sleep(0.3)
    assert usc.status("ulow") == "failed", usc.journal()
    assert "bind: Permission denied" in usc.journal()
    assert "bind: Permission denied" in usc.ok("logs", "ulow").out   # the user's own journal
    usc.ok("uninstall", "ulow")
    assert usc.traces("ulow") == []


def test_uninstall_leaves_no_rootless_container_behind(usc, registry, tmp_path):
    """A unit that never gets ready (Type=notify, SIGTERM ignored): systemd kills the rootless
    runc and its state stays in $XDG_RUNTIME_DIR/runc; uninstall removes it."""
    from tests.integration.test_service_state import NOTREADY_UNIT, STUBBORN, with_process
    spec = with_process(example_spec(), STUBBORN, NOTREADY_UNIT.format(exec_start="$EXEC_START"))
    ref = registry.push(build_oci_layout(spec, tmp_path / "nr", "nr").layout, "nr", "user/notready")
    usc.ok("install", "--name", "unr1", ref)
    try:
        usc.systemctl("start", "--no-block", "unr1.service")
        deadline = time.monotonic() + 30
        while usc.host.run_as_user(USER, "runc", "state", "unr1", check=False).returncode != 0:
            assert time.monotonic() < deadline, usc.journal()
            time.sleep(0.3)
        assert f"/run/user/{UID}/runc/unr1" in usc.as_user("sh", "-c", "ls -d $XDG_RUNTIME_DIR/runc/*")
        assert "uninstalled unr1" in usc.ok("uninstall", "unr1").out
        assert usc.host.run_as_user(USER, "runc", "state", "unr1", check=False).returncode != 0
        assert "unr1" not in usc.as_user("runc", "list", "-q").split()
        assert usc.traces("unr1") == []
    finally:
        usc.sc("uninstall", "unr1")
