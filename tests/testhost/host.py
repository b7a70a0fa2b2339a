"""A real systemd booted as PID 1 of private namespaces: the "test host".

Contract:
- ``TestHost(state_dir, binds).start()`` boots systemd in new PID, mount, cgroup, UTS and IPC
  namespaces (the network namespace is the machine's) from a private root under
  ``state_dir/root``, and returns once ``systemctl is-system-running`` says running or
  degraded. Nothing it does changes the machine: /usr, /sys and (while booting) /proc/sys are
  read-only, /dev and /run are private, systemd manages only its own ``sc-testhost-<id>``
  cgroups, and the units that touch the kernel or hardware are masked (see rootfs.py).
- ``run`` executes a command inside (``nsenter -t PID -a``) with a clean environment.
- ``stop()`` is idempotent and never raises: it asks systemd to exit, SIGKILLs it (after
  checking it is still the same process) if it lingers, kills whatever is left in its
  cgroups, removes them deepest first and removes ``state_dir``.

How it works, and why each step is there: docs/testing.md.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Mapping, Sequence

from . import cgroups, rootfs

REPO_ROOT = Path(__file__).resolve().parents[2]
BOOT_SCRIPT = Path(__file__).resolve().with_name("boot.py")
SYSTEM_PYTHON = "/usr/bin/python3"   # the machine's Python: the boot script needs no venv
INSIDE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_PR_SET_PDEATHSIG = 1
_serial = count()


class TestHostError(Exception):
    """The test host could not boot, or a command inside it failed."""

    __test__ = False


class CommandFailed(subprocess.CalledProcessError):
    """A command run inside the test host failed; str() shows its output."""

    def __str__(self) -> str:
        tail = "\n".join((self.stderr or self.stdout or "").strip().splitlines()[-15:])
        return f"{super().__str__()}\n{tail}"


@dataclass(frozen=True)
class Bind:
    """A machine path made visible inside the test host at ``target`` (same path by default)."""

    source: Path
    target: Path | None = None
    readonly: bool = False

    @property
    def inside(self) -> Path:
        return Path(self.target or self.source)


# Where a bind must not go: these are mounted over (or read-only) inside.
_NO_BIND_UNDER = ("/usr", "/proc", "/sys", "/dev", "/run")


def _as_bind(b: Bind | tuple) -> Bind:
    bind = b if isinstance(b, Bind) else Bind(Path(b[0]), Path(b[1]) if len(b) > 1 else None)
    inside = str(bind.inside)
    if not bind.inside.is_absolute() or any(
            inside == p or inside.startswith(p + "/") for p in _NO_BIND_UNDER):
        raise TestHostError(f"cannot bind {bind.source} at {inside} inside a test host")
    return bind


def _start_time(pid: int) -> int | None:
    """The start time of ``pid`` (field 22 of /proc/PID/stat), None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


class TestHost:
    """One booted systemd in private namespaces; see the module docstring."""

    __test__ = False   # not a pytest test class
    EXIT_GRACE = 5.0   # seconds systemd gets to exit cleanly at stop() before SIGKILL

    def __init__(self, state_dir: Path, binds: Sequence[Bind | tuple] = (),
                 hostname: str = "testhost"):
        self.state_dir = Path(state_dir)
        self.root = self.state_dir / "root"
        self.binds = [_as_bind(b) for b in binds]
        self.hostname = hostname
        self.ident = f"{os.getpid()}-{next(_serial)}"
        self.pid: int | None = None
        self.boot_seconds: float | None = None
        self.stop_seconds: float | None = None
        self.failed_at_boot: str = ""
        self._cgroups: cgroups.SubCgroups | None = None
        self._launcher: subprocess.Popen | None = None
        self._pid_start: int | None = None
        self._created_state = False
        self._users: dict[str, int] = {}

    # ---- boot -------------------------------------------------------------------------

    def start(self, timeout: float = 60) -> None:
        """Boot; return when systemd says running or degraded. On failure, clean up and raise."""
        if self._launcher is not None:
            raise TestHostError("test host already started")
        began = time.monotonic()
        try:
            self._prepare()
            self._launch()
            self._wait_running(began + timeout)
            # Booted: lift the read-only /proc/sys, so containers with a user namespace can
            # mount their own proc (the kernel wants an unobstructed /proc for that).
            self.run("umount", "--lazy", "/proc/sys")
        except BaseException as e:
            console = self.console_log()
            self.stop()
            if isinstance(e, TestHostError):
                raise TestHostError(f"{e}\n--- console ---\n{console}") from None
            raise
        self.boot_seconds = time.monotonic() - began

    def _prepare(self) -> None:
        if self.state_dir.exists() and any(self.state_dir.iterdir()):
            raise TestHostError(f"state dir {self.state_dir} is not empty")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._created_state = True
        rootfs.populate(self.root, self.hostname)
        for b in self.binds:
            target = self.root / b.inside.relative_to("/")
            if Path(b.source).is_dir():
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.touch()
        for d in ("upper", "work"):
            (self.state_dir / "usr-local" / d).mkdir(parents=True)
        sweep_stale_cgroups()
        self._cgroups = cgroups.SubCgroups(self.ident)
        self._cgroups.create()
        (self.state_dir / "plan.json").write_text(json.dumps(self._plan(), indent=1))

    def _plan(self) -> dict:
        assert self._cgroups is not None
        return {
            "root": str(self.root),
            "usr_local": {d: str(self.state_dir / "usr-local" / d) for d in ("upper", "work")},
            "binds": [{"source": str(b.source), "target": str(b.inside),
                       "readonly": b.readonly} for b in self.binds],
            "cgroups": [{"name": h.name, "fstype": h.fstype, "options": h.options}
                        for h in self._cgroups.hierarchies],
            "env": {"container": "testhost", "PATH": INSIDE_PATH, "LANG": "C.UTF-8"},
        }

    def _launch(self) -> None:
        assert self._cgroups is not None
        subs = self._cgroups

        def in_child() -> None:
            # Runs between fork and exec: into our cgroups before the cgroup namespace is
            # made, and die with the test session (unshare --kill-child passes it on).
            subs.enter()
            ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

        console = open(self.state_dir / "console.log", "wb")
        with console:
            self._launcher = subprocess.Popen(
                ["unshare", "--pid", "--mount", "--cgroup", "--uts", "--ipc",
                 "--propagation", "private", "--kill-child", "--",
                 SYSTEM_PYTHON, "-I", str(BOOT_SCRIPT), str(self.state_dir / "plan.json")],
                stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                env={"PATH": INSIDE_PATH, "LANG": "C.UTF-8"},
                preexec_fn=in_child, start_new_session=True)
        self.pid = self._child_of(self._launcher.pid)
        self._pid_start = _start_time(self.pid)

    def _child_of(self, pid: int, timeout: float = 10) -> int:
        """The PID (on the machine) of the process unshare forked: the future systemd."""
        deadline = time.monotonic() + timeout
        children = Path(f"/proc/{pid}/task/{pid}/children")
        while time.monotonic() < deadline:
            try:
                kids = children.read_text().split()
            except OSError:
                kids = []
            if kids:
                return int(kids[0])
            if self._launcher is not None and self._launcher.poll() is not None:
                raise TestHostError("the test host launcher exited at once")
            time.sleep(0.005)
        raise TestHostError("the test host launcher did not fork")

    def _wait_running(self, deadline: float) -> None:
        state = ""
        while time.monotonic() < deadline:
            if self._launcher is not None and self._launcher.poll() is not None:
                raise TestHostError(f"systemd exited during boot ({self._launcher.returncode})")
            if Path(f"/proc/{self.pid}/exe").exists() and self._is_systemd():
                state = self.run("systemctl", "is-system-running", check=False,
                                 timeout=10).stdout.strip()
                if state in ("running", "degraded"):
                    break
            time.sleep(0.05)
        else:
            raise TestHostError(f"test host not running after the timeout (state {state!r}):"
                                f"\n{self.failed_units()}")
        if state == "degraded":
            self.failed_at_boot = self.failed_units()
            print(f"test host degraded; failed units:\n{self.failed_at_boot}", file=sys.stderr)

    def _is_systemd(self) -> bool:
        try:
            return os.readlink(f"/proc/{self.pid}/exe").endswith("/systemd")
        except OSError:
            return False

    def failed_units(self) -> str:
        try:
            return self.run("systemctl", "--failed", "--no-legend", "--plain",
                            check=False, timeout=10).stdout
        except Exception as e:   # only used to explain another failure
            return f"(cannot list failed units: {e})"

    # ---- use --------------------------------------------------------------------------

    def run(self, *cmd: str, check: bool = True, input: str | None = None,
            timeout: float = 120, env: Mapping[str, str] | None = None,
            ) -> subprocess.CompletedProcess:
        """Run ``cmd`` inside as root, in the test host's namespaces, root and cgroups.

        The environment is a clean one (PATH, HOME, LANG) plus ``env``. Text output.
        """
        if self.pid is None:
            raise TestHostError("test host not started")
        full_env = {"PATH": INSIDE_PATH, "HOME": "/root", "LANG": "C.UTF-8", **(env or {})}
        subs = self._cgroups
        cp = subprocess.run(
            ["nsenter", "-t", str(self.pid), "-a", "-r", "-w", "--", *cmd],
            input=input, capture_output=True, text=True, env=full_env, timeout=timeout,
            preexec_fn=subs.enter_for_exec if subs else None)
        if check and cp.returncode != 0:
            raise CommandFailed(cp.returncode, list(cmd), cp.stdout, cp.stderr)
        return cp

    @property
    def cgroup_dirs(self) -> list[Path]:
        """The machine-side directories of this host's own cgroups (what a command run
        inside joins; the fleet's connection plugin needs them: docs/fleet.md)."""
        return list(self._cgroups.dirs) if self._cgroups else []

    def path(self, inside: str | Path) -> Path:
        """The machine-side path of ``inside`` (a path in the test host's own directories).

        Valid for what lives on disk in the private root (/etc, /var, /root, /home, /tmp,
        /srv, /opt), not for mounts such as /run, /usr/local or binds.
        """
        return self.root / str(inside).lstrip("/")

    def journal(self, unit: str, lines: int = 200) -> str:
        """The journal of ``unit`` and of its container scope (``runc-NAME.scope``), if any."""
        units = [unit]
        if unit.endswith(".service") or "." not in unit:
            units.append(f"runc-{unit.removesuffix('.service')}.scope")
        args = [a for u in units for a in ("-u", u)]
        cp = self.run("journalctl", "--no-pager", "-n", str(lines), *args, check=False)
        return cp.stdout + cp.stderr

    def dump_journal(self, *units: str, lines: int = 200) -> None:
        """Print the journal of ``units`` and the failed units (for a failed test's report)."""
        if self.pid is None:
            return
        for unit in units:
            print(f"----- journal of {unit} in the test host -----\n{self.journal(unit, lines)}")
        print(f"----- failed units in the test host -----\n{self.failed_units()}")

    def console_log(self) -> str:
        """What systemd (and the boot script) wrote on their console, the last 60 lines."""
        try:
            text = (self.state_dir / "console.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-60:])

    # ---- users ------------------------------------------------------------------------

    def start_user(self, name: str = "tester", uid: int = 1000) -> int:
        """Create login user ``name`` (with subordinate IDs) and start its user manager.

        Returns the UID. The user's manager is ``user@UID.service``; its runtime dir is
        /run/user/UID.
        """
        if name not in self._users:
            rootfs.add_user(self.root / "etc", name, uid, 100000 + 65536 * len(self._users))
            home = self.root / "home" / name
            home.mkdir(exist_ok=True)
            os.chown(home, uid, uid)
            self._users[name] = uid
        uid = self._users[name]
        self.run("systemctl", "start", f"user@{uid}.service")
        return uid

    def run_as_user(self, user: str, *cmd: str, check: bool = True, input: str | None = None,
                    timeout: float = 120, env: Mapping[str, str] | None = None,
                    ) -> subprocess.CompletedProcess:
        """Run ``cmd`` inside as ``user`` (started by start_user), with its session's bus."""
        uid = self._users[user]
        runtime = f"/run/user/{uid}"
        user_env = {"HOME": f"/home/{user}", "USER": user, "LOGNAME": user,
                    "XDG_RUNTIME_DIR": runtime,
                    "DBUS_SESSION_BUS_ADDRESS": f"unix:path={runtime}/bus", **(env or {})}
        return self.run("setpriv", f"--reuid={uid}", f"--regid={uid}", "--init-groups",
                        "--reset-env", "--", "env", *(f"{k}={v}" for k, v in user_env.items()),
                        f"PATH={INSIDE_PATH}", *cmd,
                        check=check, input=input, timeout=timeout)

    # ---- teardown ---------------------------------------------------------------------

    def stop(self) -> None:
        """Shut the test host down and remove every trace of it. Idempotent; never raises."""
        began = time.monotonic()
        problems: list[str] = []
        for step in (self._shutdown, self._remove_cgroups, self._remove_state):
            try:
                problems += step()
            except Exception as e:   # teardown goes on whatever happens
                problems.append(f"{step.__name__}: {e!r}")
        if problems:
            print("test host teardown problems:\n  " + "\n  ".join(problems), file=sys.stderr)
        self.pid = None
        if self._launcher is not None or self._created_state:
            self.stop_seconds = time.monotonic() - began
        self._launcher = None

    def _shutdown(self) -> list[str]:
        launcher = self._launcher
        if launcher is None or launcher.poll() is not None:
            return []
        if self.pid is not None and self._is_systemd():
            try:
                self.run("systemctl", "--no-block", "exit", check=False, timeout=10)
                launcher.wait(timeout=self.EXIT_GRACE)
                return []
            except subprocess.TimeoutExpired:
                pass   # a unit that ignores SIGTERM: no reason to wait for its stop timeout
        if self.pid is not None and _start_time(self.pid) == self._pid_start:
            os.kill(self.pid, signal.SIGKILL)   # PID 1 of the namespace: takes all with it
        try:
            launcher.wait(timeout=5)   # unshare reaps systemd, then exits
        except subprocess.TimeoutExpired:
            launcher.kill()
            launcher.wait(timeout=5)
            return ["the test host launcher had to be killed"]
        return []

    def _remove_cgroups(self) -> list[str]:
        if self._cgroups is None:
            return []
        problems = self._cgroups.remove()
        self._cgroups = None
        return problems

    def _remove_state(self) -> list[str]:
        if not self._created_state or not self.state_dir.exists():
            return []
        mounted = mounts_under(self.state_dir)
        if mounted:
            # Should never happen (all mounts are in the dead namespace); never delete
            # through a mount point, it could be the machine's /usr.
            return [f"mounts left under {self.state_dir}, not removed: {mounted}"]
        shutil.rmtree(self.state_dir, ignore_errors=True)
        self._created_state = False
        return [f"{self.state_dir} not fully removed"] if self.state_dir.exists() else []


def mounts_under(path: Path) -> list[str]:
    """Mount points of this mount namespace at or under ``path``."""
    prefix = str(Path(path).resolve())
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mp = line.split()[4].replace("\\040", " ")
        if mp == prefix or mp.startswith(prefix + "/"):
            found.append(mp)
    return found


def sweep_stale_cgroups() -> None:
    """Remove empty ``sc-testhost-<pid>-<n>`` cgroups left by a session that died (pid gone)."""
    for d in cgroups.stale():
        owner = d.name[len(cgroups.PREFIX):].split("-")[0]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            for dirpath, _dirs, _files in os.walk(d, topdown=False):
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass
