"""update, rollback and list inside the systemd test host (tests/testhost, docs/testing.md).

install/update/rollback/list talk to systemd, and the machine has none: these workloads run the
real CLI inside a booted test host (``nsenter``; its few milliseconds are in every number).
Images come from the benchmark's registry on 127.0.0.1 (the host shares the machine's network),
marked insecure in the host's registries.conf as an operator would.

update   : per round a fresh checkout path; ``install`` of v1 (not timed), then ``update
           --rebase v2`` timed, and the disk bytes it added (``du`` of repository +
           deployments, hard links counted once). The peer does the same update with the C
           tools, in the same test host (skopeo copy of v2, ostree commit of its layers into the
           repository holding v1, ostree checkout -H --union --whiteouts, syncfs); a *full
           copy* is the v2 rootfs counted on its own (what a tool without shared storage adds).
auto-update switch: ``auto-update`` of a container whose update ``--stage`` prepared,
           against one that builds the deployment in that run (docs/operations.md
           "Unattended updates (auto-update)").
rollback : the service is not running (no restart): the link switch path - stop check,
           tmpfiles, host files, unit copy, link swap, daemon-reload, tmpfiles, enable. The
           floor shown is one ``systemctl daemon-reload`` with the same units loaded.
list     : 100 containers of a tiny image (the first CLI_INSTALLS installed with the CLI, the
           others replicated by bench/scale_clone.py); ``list`` (and ``--json``)
           vs ``systemctl list-units`` of the same units and the one ``systemctl show`` list
           makes.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench_pull import c_import
from common import SC, VENV_PY, Row, Series, alternate, du_bytes, say, timed
from tests.testhost.host import REPO_ROOT, Bind, TestHost

CP_ROOT = Path("/var/lib/bench")
# Containers installed with the CLI before the others are replicated (bench/scale_clone.py):
# enough for the mean install time, without spending minutes on hundreds of installs.
CLI_INSTALLS = 10


class Host:
    """The booted test host and the CLI inside it."""

    def __init__(self, state: Path, registry_host: str):
        self.host = TestHost(state, binds=[Bind(REPO_ROOT)], hostname="benchhost")
        self.registry_host = registry_host

    def __enter__(self) -> "Host":
        self.host.start()
        say(f"test host booted in {self.host.boot_seconds:.2f} s")
        conf = self.host.path("/etc/containers/registries.conf")
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(f'[[registry]]\nlocation = "{self.registry_host}"\ninsecure = true\n')
        return self

    def __exit__(self, *exc) -> None:
        self.host.stop()

    def sc(self, checkouts: Path, *args: str) -> str:
        return self.host.run(str(SC), "--checkout-path", str(checkouts), *args,
                             timeout=900).stdout

    def timed_sc(self, checkouts: Path, *args: str) -> float:
        return timed(lambda: self.sc(checkouts, *args))

    def timed_run(self, *args: str) -> float:
        return timed(lambda: self.host.run(*args))

    def clone(self, checkouts: Path, template: str, names: list[str]) -> float:
        """Replicate the installed container ``template`` under ``names`` (bench/scale_clone.py:
        what ``install`` leaves, one daemon-reload for the batch); the seconds it took."""
        start = time.perf_counter()
        self.host.run(str(VENV_PY), str(REPO_ROOT / "bench/scale_clone.py"), str(checkouts),
                      template, *names, timeout=900)
        return time.perf_counter() - start

    def du(self, inside: Path) -> int:
        return du_bytes(self.host.path(inside))


def bench_update(h: Host, work: Path, ref1: str, ref2: str, runs: int) -> tuple[Row, Row, Path]:
    """Rows for the update time and its extra disk; returns the last round's checkout path
    (its container has both deployments, for the rollback rounds)."""
    say("update medium v1 -> v2")
    ours, peer = Series("syscontainers update"), Series("skopeo + ostree commit + checkout")
    extra, full, peer_extra = (Series("extra disk (ours)", unit="B"),
                               Series("full copy of v2", unit="B"),
                               Series("extra disk (C tools)", unit="B"))
    last: list[Path] = []

    def one_ours(r: int) -> float:
        cp = CP_ROOT / f"upd{r}"
        h.sc(cp, "install", "--name", f"upd{r}", ref1)
        before = h.du(cp)
        t = h.timed_sc(cp, "update", f"upd{r}", "--rebase", ref2)
        extra.add(h.du(cp) - before)
        full.add(h.du(cp / f"upd{r}.1/rootfs"))
        last.append(cp)
        return t

    def one_peer(r: int) -> float:
        root = CP_ROOT / f"c{r}"
        repo, co = root / "repo", root / "co"
        h.host.run("mkdir", "-p", str(co))
        try:
            h.host.run("ostree", f"--repo={repo}", "init", "--mode=bare")
            _c_pull_checkout(h, ref1, root, co / "v1")
            before = du_bytes(h.host.path(repo), h.host.path(co))
            t = timed(lambda: _c_pull_checkout(h, ref2, root, co / "v2"))
            peer_extra.add(du_bytes(h.host.path(repo), h.host.path(co)) - before)
            return t
        finally:
            h.host.run("rm", "-rf", str(root))

    alternate(runs, [(ours, one_ours), (peer, one_peer)])
    time_row = Row("update (time)", "medium v1 → v2 (90 % shared)", ours, [peer],
                   target="≤ 0.8× C tools; CPU ≤ 1.2×",
                   check=lambda row: row.ratio() <= 0.8 and (row.cpu_ratio() or 0) <= 1.2)
    disk_row = Row("update (extra disk)", "medium v1 → v2 (90 % shared)", extra,
                   [full, peer_extra], target="≤ 15 % of the image",
                   check=lambda row: row.ratio() <= 0.15)
    return time_row, disk_row, last[-1]


def _c_pull_checkout(h: Host, ref: str, root: Path, dest: Path) -> None:
    """The C tools' update, inside the test host like ours: fetch, commit each layer, union
    checkout, syncfs; the fetched layout is deleted afterwards (as our pull empties its blob
    cache)."""
    tag = ref.rsplit(":", 1)[1]
    layout = root / f"oci-{tag}"
    repo = root / "repo"
    h.host.run("skopeo", "copy", "--quiet", f"docker://{ref}", f"oci:{layout}:{tag}")
    runner = lambda args: h.host.run(*map(str, args))   # noqa: E731
    for k in range(c_import(repo, layout, tag, runner, h.host.path(layout))):
        runner(["ostree", f"--repo={repo}", "checkout", "-H", "--union", "--whiteouts",
                f"layer/{tag}/{k}", dest])
    h.host.run("sync", "-f", str(dest))
    h.host.run("rm", "-rf", str(layout))


def bench_rollback(h: Host, data: str, cp: Path, name: str, runs: int) -> Row:
    say(f"rollback {data}")
    ours, floor = Series("syscontainers rollback"), Series("systemctl daemon-reload")
    alternate(runs, [(ours, lambda r: h.timed_sc(cp, "rollback", name)),
                     (floor, lambda r: h.timed_run("systemctl", "daemon-reload"))])
    return Row("rollback (no restart)", data, ours, [floor], target="≤ 0.5 s",
               check=lambda row: row.ours.median <= 0.5)


def bench_staged_switch(h: Host, ref1: str, ref2: str, runs: int) -> Row:
    """auto-update of a container whose v2 was staged before (``auto-update --stage``: pull,
    checkout and render done, not timed) against one whose v2 was only pulled (the same
    auto-update builds the deployment first). Policy ``local``: v2 is pulled and given v1's
    name (``images tag``), so neither run asks the registry; the service is not running."""
    say("auto-update switch: staged vs not staged")
    staged, unstaged = Series("auto-update (staged)"), Series("auto-update (not staged)")

    def one(r: int, stage: bool) -> float:
        cp = CP_ROOT / f"stg{'s' if stage else 'u'}{r}"
        name = cp.name
        h.sc(cp, "install", "--name", name, "--auto-update=local", ref1)
        h.sc(cp, "pull", ref2)
        h.sc(cp, "images", "tag", ref2, ref1)
        if stage:
            h.sc(cp, "auto-update", "--stage")
        try:
            return h.timed_sc(cp, "auto-update")
        finally:
            h.sc(cp, "uninstall", name)
            h.host.run("rm", "-rf", str(cp))

    alternate(runs, [(staged, lambda r: one(r, True)), (unstaged, lambda r: one(r, False))])
    return Row("auto-update switch", "medium v1 → v2, staged or not", staged, [unstaged])


def prepare_small_pair(h: Host, ref1: str, ref2: str) -> tuple[Path, str]:
    cp = CP_ROOT / "rbs"
    h.sc(cp, "install", "--name", "rbs", ref1)
    h.sc(cp, "update", "rbs", "--rebase", ref2)
    return cp, "rbs"


def bench_list(h: Host, ref: str, count: int, runs: int) -> tuple[Row, float]:
    """The list row, and the mean seconds one install took while preparing."""
    cp = CP_ROOT / "list"
    names = [f"bl{i:03d}" for i in range(count)]
    first = names[:CLI_INSTALLS]
    say(f"list: installing {len(first)} containers of {ref}, replicating {count - len(first)}")
    start = time.perf_counter()
    for name in first:
        h.sc(cp, "install", "--name", name, ref)
    per_install = (time.perf_counter() - start) / len(first)
    if names[len(first):]:
        h.clone(cp, first[0], names[len(first):])
    listed = h.sc(cp, "list", "--json")
    if listed.count('"name"') != count:
        raise RuntimeError(f"list shows {listed.count(chr(34) + 'name')} containers, not {count}")
    units = [f"{n}.service" for n in names]
    ours, ours_json = Series("syscontainers list"), Series("syscontainers list --json")
    lu, show = Series("systemctl list-units"), Series("systemctl show of the 100 units")
    alternate(runs, [
        (ours, lambda r: h.timed_sc(cp, "list")),
        (ours_json, lambda r: h.timed_sc(cp, "list", "--json")),
        (lu, lambda r: h.timed_run("systemctl", "list-units", "--all", "--no-pager", "bl*")),
        (show, lambda r: h.timed_run("systemctl", "show", "--property=Id,LoadState,ActiveState",
                                     "--", *units)),
    ])
    row = Row("list", f"{count} installed containers", ours, [lu, show, ours_json],
              target="≤ 0.5 s", check=lambda row: row.ours.median <= 0.5)
    return row, per_install
