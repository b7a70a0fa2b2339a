"""The test host's own sub-cgroups, one per hierarchy, under this process's cgroups.

systemd inside a test host must manage only its own subtree: the launcher moves itself into
``sc-testhost-<id>`` in every hierarchy before ``unshare --cgroup``, so the new cgroup
namespace is rooted there, and the hierarchies mounted fresh in the private root show only
that subtree. Teardown kills what is left in the subtree (it is ours by construction) and
removes the directories, deepest first.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

PREFIX = "sc-testhost-"


@dataclass(frozen=True)
class Hierarchy:
    """One mounted cgroup hierarchy of the machine, as this process sees it."""

    mountpoint: Path   # e.g. /sys/fs/cgroup/memory
    fstype: str        # "cgroup" (v1) or "cgroup2"
    options: str       # mount data for a fresh mount: "memory", "none,name=systemd", ""
    current: Path      # this process's cgroup directory in it

    @property
    def name(self) -> str:
        """Directory name under the private /sys/fs/cgroup ("" for a pure v2 host)."""
        if self.mountpoint == Path("/sys/fs/cgroup"):
            return ""
        return self.mountpoint.name


def _own_cgroups() -> dict[frozenset[str], str]:
    """Map of hierarchy key ({"cpu"}, {"name=systemd"}, {} for v2) to this process's path."""
    paths = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        paths[frozenset(filter(None, controllers.split(",")))] = path
    return paths


def _controller_names() -> set[str]:
    lines = Path("/proc/cgroups").read_text().splitlines()[1:]
    return {ln.split()[0] for ln in lines if ln.strip()}


def discover() -> list[Hierarchy]:
    """The hierarchies mounted on the machine that this process belongs to."""
    own, known = _own_cgroups(), _controller_names()
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, right = line.split(" - ", 1)
        fields, rfields = left.split(), right.split()
        fstype, superopts = rfields[0], rfields[2].split(",")
        if fstype not in ("cgroup", "cgroup2"):
            continue
        mount_root, mountpoint = fields[3], Path(fields[4])
        ctl = [o for o in superopts if o in known or o.startswith("name=")]
        key = frozenset(ctl)
        if fstype == "cgroup2":
            options = ""
        elif ctl[0].startswith("name="):
            options = "none," + ",".join(ctl)
        else:
            options = ",".join(ctl)
        if key not in own:
            continue
        rel = os.path.relpath(own[key], mount_root)
        if rel.startswith(".."):
            continue
        found.append(Hierarchy(mountpoint, fstype, options, (mountpoint / rel).resolve()))
    return found


class SubCgroups:
    """The ``sc-testhost-<id>`` directories of one test host, in every hierarchy."""

    def __init__(self, ident: str, hierarchies: list[Hierarchy] | None = None):
        self.name = PREFIX + ident
        self.hierarchies = discover() if hierarchies is None else hierarchies
        self.dirs = [h.current / self.name for h in self.hierarchies]

    def create(self) -> None:
        """Make the directories; a cpuset one gets its parent's CPUs and memory nodes."""
        for h, d in zip(self.hierarchies, self.dirs):
            d.mkdir(exist_ok=True)
            if "cpuset" in h.options.split(","):
                for f in ("cpuset.cpus", "cpuset.mems"):
                    (d / f).write_text((h.current / f).read_text())

    def enter(self) -> None:
        """Move the calling process into them (used between fork and exec)."""
        for d in self.dirs:
            fd = os.open(d / "cgroup.procs", os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)

    def enter_for_exec(self) -> None:
        """Move the calling process (a command run inside) into the subtree's top.

        Skips a cgroup2 top that has controllers enabled below it: the kernel allows no
        processes there (a pure v2 machine); the command then stays in the caller's cgroup.
        """
        for h, d in zip(self.hierarchies, self.dirs):
            if h.fstype == "cgroup2" and (d / "cgroup.subtree_control").read_text().strip():
                continue
            fd = os.open(d / "cgroup.procs", os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)

    def pids(self) -> set[int]:
        """Every process left anywhere in the subtree."""
        found: set[int] = set()
        for d in self.dirs:
            for procs in d.glob("**/cgroup.procs") if d.is_dir() else ():
                try:
                    found.update(int(p) for p in procs.read_text().split())
                except OSError:
                    pass
        return found

    def remove(self, timeout: float = 5.0) -> list[str]:
        """Kill what is left in the subtree, remove it deepest first; return the problems."""
        deadline = time.monotonic() + timeout
        while True:
            for pid in self.pids():
                _kill(pid)
            problems = [p for d in self.dirs for p in _rmtree_cgroup(d)]
            if not problems or time.monotonic() > deadline:
                return problems
            time.sleep(0.05)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _rmtree_cgroup(top: Path) -> list[str]:
    if not top.is_dir():
        return []
    problems = []
    for dirpath, _dirs, _files in os.walk(top, topdown=False):
        try:
            os.rmdir(dirpath)
        except FileNotFoundError:
            pass
        except OSError as e:
            problems.append(f"{dirpath}: {e.strerror}")
    return problems


def stale(hierarchies: list[Hierarchy] | None = None) -> list[Path]:
    """``sc-testhost-*`` directories next to where this process would make its own."""
    hs = discover() if hierarchies is None else hierarchies
    return sorted(p for h in hs for p in h.current.glob(PREFIX + "*"))
