"""podman 4.3 (Debian) as a peer (issue 15): pull, install+start to the first HTTP answer, and
the update of a running service. docs/performance.md "What is measured" and "Podman peer
placement" explain the choices.

pull     : ``podman pull`` on the machine side into a fresh private storage per run (its own
           --root/--runroot/--tmpdir under the work dir, overlay; no systemd needed), another
           peer line of the pull+import rows (bench_pull.py uses :func:`pull_podman`).
install+start (inside the systemd test host, both sides from empty storage, the image pulled
           from the bench registry each round):
           ours   ``syscontainers --repo FRESH install --name N REF`` + ``syscontainers start N``
           podman ``podman create --network host ... REF`` + ``podman generate systemd --new``
                  written to /etc/systemd/system, ``systemctl daemon-reload``, ``systemctl
                  start``
           each until an HTTP GET of the service's port returns v1's page.
update   : the same running service; the round's tag is moved from v1 to v2 in the registry
           (untimed), then ours ``syscontainers update N``, podman ``podman auto-update``
           (policy ``registry``: the label io.containers.autoupdate=registry; both ask the
           registry, pull v2, restart the service) until the GET returns v2's page.

The image is the test suite's example (busybox httpd, tests/fixtures/examples.py); its CMD is
the same shell + httpd our config.json.template runs, so both tools run the same processes
(a bare httpd as PID 1 ignores SIGTERM: podman's stop would wait 10 s for it). Both sides use
the host network (the test host shares the machine's) and a port free when the image was
built. Podman inside the test host uses the host's default storage (/var/lib/containers, in
the test host's private root under the work dir; /run, /dev/shm and /etc are the test host's
own, so its lock files and mounts vanish with it) with the systemd cgroup manager; every round
ends with ``podman system reset``. The service's processes are started by systemd, so no CPU
column: neither side's CPU would include them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

from common import SC, BenchError, Row, Series, alternate, run, say, timed
from tests.fixtures.examples import config_template, example_spec
from tests.fixtures.images import build_oci_layout
from tests.fixtures.registry import free_port

# docs/performance.md, issue 15 item 3: ours / podman medians
INSTALL_START_TARGET = 0.5
UPDATE_TARGET = 0.7
# the files podman creates outside its storage when run on the machine side
PODMAN_LOCKS = (Path("/dev/shm/libpod_lock"), Path("/etc/cni/net.d/cni.lock"))
# podman run fails here with "error setting rlimit type 7/6" without these
ULIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")
ANSWER_TIMEOUT = 60.0


def podman_available() -> bool:
    return shutil.which("podman") is not None


class Optional:
    """The podman peer must not lose a whole ``make bench`` run: a failed round is kept out
    of its series (:meth:`settle`) and its first error goes into the report's context."""

    def __init__(self, what: str):
        self.what, self.errors = what, []

    def wrap(self, fn):
        def one(r: int) -> float:
            try:
                return fn(r)
            except Exception as e:   # noqa: BLE001 - reported, never hidden
                self.errors.append(str(e).strip().splitlines()[0] if str(e).strip() else repr(e))
                say(f"  {self.what} failed: {self.errors[-1]}")
                return float("nan")
        return one

    def settle(self, series: Series) -> list[str]:
        series.values = [v for v in series.values if v == v]
        if not self.errors:
            return []
        return [f"{self.what}: {len(self.errors)} round(s) failed and are left out "
                f"(first error: {self.errors[0]})."]


# ------------------------------------------------------------------ pull (machine side)

@contextlib.contextmanager
def podman_locks_cleaned():
    """Remove the lock files podman creates on the machine when they were not there before
    (also on failure)."""
    absent = [p for p in PODMAN_LOCKS if not p.exists()]
    try:
        yield
    finally:
        for p in absent:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


def pull_podman(ref: str, root: Path) -> float:
    """``podman pull`` of ``ref`` into a fresh private storage under ``root`` (removed after).
    Its runroot is a fresh directory under /run: podman refuses one longer than 50 characters."""
    from bench_service import _unmount_under

    runroot = Path(tempfile.mkdtemp(prefix="sc-bench-pm-", dir="/run"))
    base = ["podman", "--root", str(root / "root"), "--runroot", str(runroot),
            "--tmpdir", str(root / "tmp"), "--storage-driver", "overlay",
            "--cgroup-manager", "cgroupfs", "--events-backend", "file"]
    try:
        return timed(lambda: run([*base, "pull", "-q", "--tls-verify=false",
                                  f"docker://{ref}"], timeout=600))
    finally:
        subprocess.run([*base, "system", "reset", "--force"], capture_output=True)
        for d in (root, runroot):
            _unmount_under(d)
            shutil.rmtree(d, ignore_errors=True)


# ------------------------------------------------------------------ the HTTP image

def http_images(work: Path, registry) -> dict[str, str]:
    """The example image in two versions (v1, v2: another page), pushed; their port is one
    that is free now. Keys ``http-v1``, ``http-v2`` and ``http-port``."""
    port = str(free_port())
    cfg = json.loads(config_template())
    # the template's process, rendered as install renders it ($PORT, and $$ for a literal $)
    shell = [a.replace("$PORT", port).replace("$$", "$") for a in cfg["process"]["args"]]
    refs = {"http-port": port}
    for v in (1, 2):
        spec = replace(example_spec(port=port, index_html=_page(v)), cmd=shell)
        layout = build_oci_layout(spec, work / "http-images" / f"v{v}", f"v{v}").layout
        refs[f"http-v{v}"] = registry.push(layout, f"v{v}", "bench/http")
    return refs


def _page(version: int) -> str:
    return f"bench http v{version}\n"


def _retag(src: str, dest: str) -> None:
    """Point the registry tag ``dest`` at ``src``'s manifest (what a publisher's push does)."""
    run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
         f"docker://{src}", f"docker://{dest}"])


def _get(port: str) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
            return r.read().decode()
    except (OSError, urllib.error.URLError):
        return None


def _until_answer(port: str, page: str) -> None:
    deadline = time.monotonic() + ANSWER_TIMEOUT
    while time.monotonic() < deadline:
        if _get(port) == page:
            return
        time.sleep(0.005)
    raise BenchError(f"no answer {page.strip()!r} on 127.0.0.1:{port} "
                     f"within {ANSWER_TIMEOUT:.0f} s (got {_get(port)!r})")


def _wall(fn) -> float:
    """Wall seconds of ``fn()`` after a sync (no CPU figure: see the module docstring)."""
    os.sync()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ------------------------------------------------------------------ in the systemd test host

class _Ours:
    """install+start and update of one container, each round with a fresh repository."""

    def __init__(self, h):
        from bench_host import CP_ROOT
        self.h, self.root = h, CP_ROOT / "pmo"

    def sc(self, r: int, *args: str) -> str:
        d = self.root / str(r)
        return self.h.sc(d / "co", "--repo", str(d / "repo"), *args)

    def install_start(self, r: int, ref: str, port: str) -> float:
        name = f"pmo{r}"
        return _wall(lambda: (self.sc(r, "install", "--name", name, ref),
                              self.sc(r, "start", name), _until_answer(port, _page(1))))

    def update(self, r: int, port: str) -> float:
        return _wall(lambda: (self.sc(r, "update", f"pmo{r}"), _until_answer(port, _page(2))))

    def clean(self, r: int) -> None:
        d = self.root / str(r)
        self.h.host.run(str(SC), "--checkout-path", str(d / "co"), "--repo", str(d / "repo"),
                        "uninstall", f"pmo{r}", check=False, timeout=300)
        self.h.host.run("rm", "-rf", str(d), check=False)


class _Podman:
    """The same with podman in the test host: create, generate systemd --new, start; then
    auto-update (policy registry)."""

    def __init__(self, h):
        self.h = h

    def unit(self, r: int) -> str:
        return f"container-pmp{r}.service"

    def install_start(self, r: int, ref: str, port: str) -> float:
        name, unit = f"pmp{r}", self.unit(r)
        run_in = self.h.host.run

        def work() -> None:
            run_in("podman", "create", "--name", name, "--network", "host", *ULIMITS,
                   "--label", "io.containers.autoupdate=registry", ref, timeout=300)
            text = run_in("podman", "generate", "systemd", "--new", "--name", name).stdout
            self.h.host.path(f"/etc/systemd/system/{unit}").write_text(text)
            run_in("systemctl", "daemon-reload")
            run_in("systemctl", "start", unit)
            _until_answer(port, _page(1))
        return _wall(work)

    def update(self, r: int, port: str) -> float:
        out: list[str] = []

        def work() -> None:
            out.append(self.h.host.run("podman", "auto-update", timeout=300).stdout)
            _until_answer(port, _page(2))
        t = _wall(work)
        if "true" not in out[0]:
            raise BenchError(f"podman auto-update updated nothing:\n{out[0]}")
        return t

    def clean(self, r: int) -> None:
        run_in, unit = self.h.host.run, self.unit(r)
        run_in("systemctl", "stop", unit, check=False, timeout=120)
        self.h.host.path(f"/etc/systemd/system/{unit}").unlink(missing_ok=True)
        run_in("systemctl", "daemon-reload", check=False)
        run_in("systemctl", "reset-failed", unit, check=False)
        run_in("podman", "rm", "--all", "--force", "--time", "0", check=False, timeout=120)
        run_in("podman", "system", "reset", "--force", check=False, timeout=120)


def bench_service_lifecycle(h, refs: dict[str, str], runs: int) -> tuple[list[Row], list[str]]:
    """install+start and update rows, ours against podman's (``refs`` from
    :func:`http_images`)."""
    say("install+start and update of an HTTP service: syscontainers vs podman")
    port, v1, v2 = refs["http-port"], refs["http-v1"], refs["http-v2"]
    repo = v1.rsplit(":", 1)[0]
    tools = [("syscontainers", _Ours(h))]
    context = []
    if podman_available():
        tools.append(("podman 4.3", _Podman(h)))
    else:
        context.append("install+start and update have no podman peer: podman is not installed "
                       "(scripts/install-deps.sh --bench).")
    installs = {label: Series(f"{label}: install+start" if label == "syscontainers" else
                              f"{label}: create + generate systemd --new + start")
                for label, _ in tools}
    updates = {label: Series(f"{label}: update" if label == "syscontainers" else
                             f"{label}: auto-update (registry)") for label, _ in tools}

    failures = Optional("podman install+start / update")

    def one(label: str, tool):
        def round_(r: int) -> float:
            tag = f"{repo}:{label.split()[0]}{r}"
            if _get(port) is not None:   # the same page would credit this round too early
                raise BenchError(f"127.0.0.1:{port} still answers before round {r + 1}: "
                                 "the previous service was not stopped")
            _retag(v1, tag)
            try:
                t = tool.install_start(r, tag, port)
                _retag(v2, tag)
                u = updates[label].add(tool.update(r, port))
                say(f"  round {r + 1}: {updates[label].label}: {u:.3f} s")
                return t
            finally:
                tool.clean(r)
        return round_ if label == "syscontainers" else failures.wrap(round_)

    alternate(runs, [(installs[label], one(label, tool)) for label, tool in tools])
    rounds = f"{runs} round{'s' if runs != 1 else ''}"
    context.append(f"install+start and update of the HTTP service: {rounds} per tool "
                   f"(port {port}; podman in the test host, its storage reset after each).")
    for label, _ in tools[1:]:
        context += failures.settle(installs[label])   # a failed round adds no update figure
    ours_i, ours_u = installs["syscontainers"], updates["syscontainers"]
    peer_i = [s for k, s in installs.items() if k != "syscontainers" and s.values]
    peer_u = [s for k, s in updates.items() if k != "syscontainers" and s.values]
    data = "example httpd image from the registry"
    rows = [
        Row("install+start to first HTTP answer", f"{data}, empty storage", ours_i, peer_i,
            target=f"≤ {INSTALL_START_TARGET}× podman",
            check=(lambda row: row.ratio() <= INSTALL_START_TARGET) if peer_i else None),
        Row("update of a running service", f"{data}: v1 → v2 (tag moved), until v2 answers",
            ours_u, peer_u, target=f"≤ {UPDATE_TARGET}× podman auto-update",
            check=(lambda row: row.ratio() <= UPDATE_TARGET) if peer_u else None),
    ]
    return rows, context
