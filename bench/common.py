"""What every benchmark shares: timed series, result rows, commands, disk usage, machine facts.

A *series* is one tool's times on one workload (seconds, one per run); a *row* puts our series
next to its peers' with the target the product promises. Medians are what the report compares:
the machine is a 2-core VM whose disk and CPUs other jobs share while the benchmark runs.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_PY = REPO_ROOT / ".venv/bin/python"
SC = REPO_ROOT / ".venv/bin/syscontainers"
for _p in (str(REPO_ROOT), str(REPO_ROOT / "src")):
    if _p not in sys.path:
        sys.path.insert(0, _p)


class BenchError(Exception):
    """A benchmark step failed (the message says which command and why)."""


@dataclass
class Series:
    """One tool on one workload: a label and the measured values (seconds unless ``unit``)."""

    label: str
    values: list[float] = field(default_factory=list)
    unit: str = "s"
    cpu: list[float] = field(default_factory=list)   # CPU seconds per run, where known

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def spread(self) -> tuple[float, float]:
        return min(self.values), max(self.values)

    def add(self, value: float) -> float:
        self.values.append(value)
        return value


@dataclass
class Row:
    """One workload: our series, the peers' series (first one is the ratio's reference), the
    target as text and a check of the medians against it (None: nothing to check)."""

    workload: str
    data: str
    ours: Series
    peers: list[Series] = field(default_factory=list)
    target: str = ""
    check: Callable[["Row"], bool] | None = None
    note: str = ""

    def ratio(self, peer: Series | None = None) -> float | None:
        peer = peer or (self.peers[0] if self.peers else None)
        if peer is None or not peer.values or not self.ours.values or peer.median == 0:
            return None
        return self.ours.median / peer.median

    def cpu_ratio(self, peer: Series | None = None) -> float | None:
        """Ratio of the median CPU seconds (where both sides have them)."""
        peer = peer or (self.peers[0] if self.peers else None)
        if peer is None or not peer.cpu or not self.ours.cpu:
            return None
        base = statistics.median(peer.cpu)
        return statistics.median(self.ours.cpu) / base if base else None

    @property
    def met(self) -> bool | None:
        if self.check is None or not self.ours.values:
            return None
        return bool(self.check(self))


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(args: Sequence[str | Path], *, env: dict | None = None, quiet: bool = True,
        timeout: float = 900) -> subprocess.CompletedProcess:
    """Run a command (argument list); a failure raises BenchError with its stderr tail."""
    cp = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                        env={**os.environ, **(env or {})})
    if cp.returncode != 0:
        tail = "\n".join((cp.stderr or cp.stdout).strip().splitlines()[-8:])
        raise BenchError(f"{' '.join(str(a) for a in args)} failed ({cp.returncode}):\n{tail}")
    if not quiet:
        print(cp.stdout, end="")
    return cp


_last_cpu: list[float] = []


def _cpu_seconds() -> float:
    """User + system CPU of this process (all its threads) and of every waited-for
    descendant (``nsenter`` waits for what it runs inside the test host, so that counts)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        ru = resource.getrusage(who)
        total += ru.ru_utime + ru.ru_stime
    return total


def timed(fn: Callable[[], object]) -> float:
    """Wall-clock seconds of ``fn()`` (its CPU seconds are kept for :func:`alternate`); the
    disk is synced first so earlier writeback is not charged to this run. CPU time does not
    depend on what else runs on the machine, wall time does."""
    os.sync()
    cpu = _cpu_seconds()
    start = time.perf_counter()
    fn()
    wall = time.perf_counter() - start
    _last_cpu.append(_cpu_seconds() - cpu)
    return wall


def timed_cmd(args: Sequence[str | Path], **kw) -> float:
    return timed(lambda: run(args, **kw))


def alternate(runs: int, tools: Sequence[tuple[Series, Callable[[int], float]]]) -> None:
    """Run every tool ``runs`` times, rotating the order each round (no order bias); each
    callable gets the round number and returns the seconds it measured."""
    for r in range(runs):
        order = list(tools[r % len(tools):]) + list(tools[:r % len(tools)])
        for series, fn in order:
            _last_cpu.clear()
            t = series.add(fn(r))
            cpu = ""
            if len(_last_cpu) == 1:       # exactly one timed() section: its CPU is this run's
                series.cpu.append(_last_cpu[0])
                cpu = f" (CPU {_last_cpu[0]:.3f} s)"
            say(f"  round {r + 1}: {series.label}: {t:.3f} {series.unit}{cpu}")


def du_bytes(*paths: Path) -> int:
    """Disk bytes used under ``paths`` (allocated blocks; a file with several hard links
    counted once across all of them), as ``du -s -B1 -c`` reports."""
    existing = [str(p) for p in paths if os.path.lexists(p)]
    if not existing:
        return 0
    out = run(["du", "-s", "-B1", "-c", *existing]).stdout.strip().splitlines()
    return int(out[-1].split()[0])


def syncfs(path: Path) -> None:
    from syscontainers.images.store.checkout import syncfs as _syncfs
    _syncfs(path)


def tool_version(args: Sequence[str]) -> str:
    try:
        cp = subprocess.run(list(args), capture_output=True, text=True, timeout=10)
    except OSError:
        return "absent"
    text = (cp.stdout or cp.stderr).strip().splitlines()
    return text[0].strip() if text else "?"


def machine() -> dict[str, str]:
    """The facts a reader needs to compare these numbers with their own."""
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    fs = " ".join(run(["findmnt", "-n", "-o", "FSTYPE,SOURCE", "-T", "/var/tmp"]).stdout.split())
    ostree_version = next((ln.split(":", 1)[1].strip() for ln in
                           subprocess.run(["ostree", "--version"], capture_output=True,
                                          text=True).stdout.splitlines()
                           if ln.strip().startswith("Version")), "?")
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "memory": mem,
        "kernel": platform.release(),
        "disk": f"/var/tmp on {fs}",
        "python": platform.python_version(),
        "ostree": ostree_version.strip("'"),
        "skopeo": tool_version(["skopeo", "--version"]),
        "umoci": tool_version(["umoci", "--version"]),
        "systemd": tool_version(["systemctl", "--version"]),
    }


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])
