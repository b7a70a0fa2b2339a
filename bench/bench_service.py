"""start / stop / status against systemctl, per-container memory against podman's conmon, and
uninstall with 300 containers installed (docs/performance.md).

start/stop/status : one container (the test suite's example image, detached unit) in the
           systemd test host; ``syscontainers start NAME`` vs ``systemctl start NAME.service``
           (the unit stopped again, untimed, after each), the same for stop (started before,
           untimed), and ``status`` vs ``systemctl status`` of the running service.
memory   : 10 running containers of each kind; the PSS (``/proc/PID/smaps_rollup``) of every
           process in the services' cgroups *outside* the container's own cgroup
           (``NAME.service/container``): what the tool keeps resident per container. Kinds: a
           foreground (etcd/flannel-style) template, which the tool runs detached; the
           example's detached unit; a template with a literal foreground ``runc run`` line
           (left as written: what every foreground unit cost before). Peer: podman 4.3
           (Debian) on the machine side with a private root, runroot and storage (the
           machine has no systemd; nothing of the machine's is touched), 10 ``podman run -d``
           of the same image: the PSS of their conmon processes.
uninstall: 200 more containers on top of list's 100, replicated by bench/scale_clone.py,
           then ``uninstall`` of a few of them; the floor shown is one ``systemctl daemon-reload`` with the
           same units loaded (uninstall runs one).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path

from common import SC, VENV_PY, Row, Series, alternate, run, say
from tests.fixtures.examples import FOREGROUND_TEMPLATE, config_template, example_spec
from tests.fixtures.images import build_oci_layout

CONTAINERS = 10          # per kind, for the memory row
LOOP = "trap 'exit 0' TERM; while true; do sleep 1; done"

# atomic's etcd/flannel style: the runtime in the foreground as the service's process
FOREGROUND_UNIT = FOREGROUND_TEMPLATE      # atomic's etcd/flannel shape

# the same with the runtime's command written out: left as the image wrote it
LITERAL_UNIT = FOREGROUND_UNIT.replace("$EXEC_START", "/usr/sbin/runc run $NAME").replace(
    "$EXEC_STOP", "/usr/sbin/runc kill $NAME")


def service_images(work: Path, registry) -> dict[str, str]:
    """The example image running a sleeping shell, with each kind of unit, pushed."""
    cfg = json.loads(config_template())
    cfg["process"]["args"] = ["/bin/sh", "-c", LOOP]
    base = example_spec(index_html="bench\n")
    kinds = {"detached": None, "foreground": FOREGROUND_UNIT, "literal": LITERAL_UNIT}
    refs = {}
    for kind, unit in kinds.items():
        exports = {**base.exports, "config.json.template": json.dumps(cfg)}
        if unit is not None:
            exports["service.template"] = unit
        spec = replace(base, exports=exports, cmd=["/bin/sh", "-c", LOOP])
        layout = build_oci_layout(spec, work / "svc-images" / kind, kind).layout
        refs[f"svc-{kind}"] = registry.push(layout, kind, "bench/svc")
    return refs


# ------------------------------------------------------------------ start / stop / status

def bench_control(h, ref: str, runs: int) -> list[Row]:
    from bench_host import CP_ROOT

    say("start / stop / status vs systemctl")
    cp, name = CP_ROOT / "ctl", "bctl"
    unit = f"{name}.service"
    h.sc(cp, "install", "--name", name, ref)

    def stop() -> None:       # untimed; reset-failed: many starts in a row hit StartLimitBurst
        h.host.run("systemctl", "stop", unit)
        h.host.run("systemctl", "reset-failed", unit, check=False)

    def start() -> None:
        h.host.run("systemctl", "reset-failed", unit, check=False)
        h.host.run("systemctl", "start", unit)

    def between(before, timed_fn, after):
        def one(r: int) -> float:
            before()
            t = timed_fn()
            after()
            return t
        return one

    nothing = lambda: None                                     # noqa: E731
    rows = []
    ours, peer = Series("syscontainers start"), Series("systemctl start")
    alternate(runs, [(ours, between(nothing, lambda: h.timed_sc(cp, "start", name), stop)),
                     (peer, between(nothing, lambda: h.timed_run("systemctl", "start", unit),
                                    stop))])
    rows.append(_ratio_row("start", ours, peer))
    ours, peer = Series("syscontainers stop"), Series("systemctl stop")
    alternate(runs, [(ours, between(start, lambda: h.timed_sc(cp, "stop", name), nothing)),
                     (peer, between(start, lambda: h.timed_run("systemctl", "stop", unit),
                                    nothing))])
    rows.append(_ratio_row("stop", ours, peer))
    start()
    ours, peer = Series("syscontainers status"), Series("systemctl status")
    alternate(runs, [(ours, lambda r: h.timed_sc(cp, "status", name)),
                     (peer, lambda r: h.timed_run("systemctl", "status", "--no-pager", unit))])
    rows.append(_ratio_row("status", ours, peer))
    h.sc(cp, "uninstall", name)
    return rows


def _ratio_row(verb: str, ours: Series, peer: Series) -> Row:
    return Row(verb, "one container (detached unit), running" if verb != "start"
               else "one container (detached unit), stopped", ours, [peer],
               target="≤ 1.5× systemctl", check=lambda row: row.ratio() <= 1.5)


# ------------------------------------------------------------------ per-container memory

# Run inside the test host: for each unit, PSS bytes and process count outside its container.
_RESIDENT = r"""
import json, os, sys
def pss(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
out = {}
for unit in sys.argv[1:]:
    base = f"/sys/fs/cgroup/unified/system.slice/{unit}"
    total = count = 0
    for root, dirs, files in os.walk(base):
        if root == base + "/container" or root.startswith(base + "/container/"):
            continue
        with open(os.path.join(root, "cgroup.procs")) as f:
            pids = f.read().split()
        total += sum(pss(p) for p in pids)
        count += len(pids)
    out[unit] = [total, count]
print(json.dumps(out))
"""


def bench_memory(h, refs: dict[str, str], work: Path, samples: int) -> tuple[Row, list[str]]:
    from bench_host import CP_ROOT

    say(f"per-container memory: {CONTAINERS} running containers of each kind")
    cp = CP_ROOT / "mem"
    series = {"foreground": Series("foreground template (run detached)", unit="B"),
              "detached": Series("detached unit", unit="B"),
              "literal": Series("literal `runc run` line (foreground, as written)", unit="B")}
    procs: dict[str, int] = {}
    names = {kind: [f"m{kind[:3]}{i}" for i in range(CONTAINERS)] for kind in series}
    try:
        for kind, ns in names.items():
            for n in ns:
                h.sc(cp, "install", "--name", n, refs[f"svc-{kind}"])
                h.sc(cp, "start", n)
        time.sleep(2)    # settled: no start job's processes left
        for _ in range(samples):
            for kind, ns in names.items():
                got = json.loads(h.host.run(str(VENV_PY), "-c", _RESIDENT,
                                            *[f"{n}.service" for n in ns]).stdout)
                series[kind].add(sum(v[0] for v in got.values()))
                procs[kind] = sum(v[1] for v in got.values())
            time.sleep(1)
    finally:
        for ns in names.values():
            for n in ns:
                h.host.run(str(SC), "--checkout-path", str(cp), "uninstall", n, check=False)
    podman = Series("podman 4.3: conmon", unit="B")
    context = [f"Per-container memory: processes outside the containers' own cgroups for "
               f"{CONTAINERS} containers: " + ", ".join(f"{k} {v}" for k, v in procs.items())
               + "."]
    try:
        conmons = _podman_conmon(work, refs["svc-detached"], samples, podman)
        context.append(f"podman: {conmons} conmon processes for {CONTAINERS} containers "
                       "(private root on the machine side, runtime runc, --network none).")
    except Exception as e:   # the peer is optional: a missing podman must not lose the run
        context.append(f"podman peer not measured: {str(e).splitlines()[0]}")
    row = Row("per-container memory", f"{CONTAINERS} running containers: PSS outside "
              "the containers' own processes", series["foreground"],
              [podman, series["detached"], series["literal"]],
              target="0 (no resident runtime; ≤ 0.2× podman's conmon)",
              check=lambda row: row.ours.median == 0)
    return row, context


def _podman_conmon(work: Path, ref: str, samples: int, series: Series) -> int:
    """Run the containers with podman (private dirs under ``work``), add the summed PSS of
    their conmon processes to ``series`` ``samples`` times; returns how many conmons."""
    if shutil.which("podman") is None:
        raise RuntimeError("podman is not installed (scripts/install-deps.sh --bench)")
    d = work / "podman"
    base = ["podman", "--root", str(d / "root"), "--runroot", str(d / "run"),
            "--tmpdir", str(d / "tmp"), "--storage-driver", "overlay",
            "--cgroup-manager", "cgroupfs", "--events-backend", "file",
            "--runtime", "/usr/sbin/runc"]
    leftovers = [p for p in (Path("/dev/shm/libpod_lock"), Path("/etc/cni/net.d/cni.lock"))
                 if not p.exists()]     # podman creates these: removed afterwards
    names = [f"bpm{i}" for i in range(CONTAINERS)]
    try:
        run([*base, "pull", "--tls-verify=false", f"docker://{ref}"], timeout=300)
        for n in names:
            run([*base, "run", "-d", "--name", n, "--network", "none",
                 "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", ref,
                 "/bin/sh", "-c", LOOP])
        time.sleep(2)
        pids = [int(run([*base, "inspect", "--format", "{{.State.ConmonPid}}", n]).stdout)
                for n in names]
        for _ in range(samples):
            series.add(sum(_pss(p) for p in pids))
            time.sleep(1)
        return len(pids)
    finally:
        subprocess.run([*base, "rm", "--force", "--time", "0", *names], capture_output=True)
        # conmon runs `podman container cleanup` when a container exits, after rm returned:
        # wait for every process using this root (they would create the lock files again)
        _wait_gone(str(d / "root"), 20)
        subprocess.run([*base, "system", "reset", "--force"], capture_output=True)
        _unmount_under(d)
        shutil.rmtree(d, ignore_errors=True)
        for p in leftovers:
            if p.exists():
                p.unlink()


def _wait_gone(marker: str, timeout: float) -> None:
    """Wait until no process has ``marker`` on its command line (at most ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = False
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or proc.name == str(os.getpid()):
                continue
            try:
                busy = marker.encode() in (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if busy:
                break
        if not busy:
            return
        time.sleep(0.2)


def _pss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


def _unmount_under(d: Path) -> None:
    prefix = str(d) + "/"
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for m in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True)


# ------------------------------------------------------------------ uninstall at scale

def bench_uninstall(h, ref: str, have: int, total: int, runs: int) -> tuple[Row, float]:
    """``have`` containers bl000... are installed (list's); install up to ``total``, then
    uninstall ``runs`` of them (the last ones), alternating with a daemon-reload."""
    from bench_host import CP_ROOT

    cp = CP_ROOT / "list"
    say(f"uninstall: replicating {total - have} more containers ({total} in all)")
    more = [f"bl{i:03d}" for i in range(have, total)]
    per_clone = h.clone(cp, "bl000", more) / len(more) if more else 0.0
    ours, floor = Series("syscontainers uninstall"), Series("systemctl daemon-reload")
    alternate(runs, [(ours, lambda r: h.timed_sc(cp, "uninstall", f"bl{total - 1 - r:03d}")),
                     (floor, lambda r: h.timed_run("systemctl", "daemon-reload"))])
    row = Row("uninstall", f"{total} installed containers", ours, [floor],
              target="one daemon-reload (+ ≤ 0.3 s)",
              check=lambda row: row.ours.median <= row.peers[0].median + 0.3)
    return row, per_clone

