"""pull+import from a registry on 127.0.0.1: ``syscontainers pull`` vs the C baseline.

ours    : ``syscontainers --repo R --checkout-path C pull --tls-verify=false docker://REF``
          into a fresh repository (the whole CLI: start-up, manifest, skopeo copy into the blob
          cache, digest checks, every tar entry validated, import, merged tree).
C peer  : ``skopeo copy docker://REF oci:DIR`` then ``ostree init --mode=bare`` and
          ``ostree commit --tree=tar=LAYER --tar-autocreate-parents`` of each layer into a fresh
          repository (libarchive parses, nothing is validated, no merged tree).
podman  : ``podman pull`` (podman 4.3, Debian) into a fresh private storage each run (its own
          --root/--runroot/--tmpdir, overlay; bench_podman.py), when the podman workload runs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

from bench_podman import Optional, podman_locks_cleaned, pull_podman
from common import SC, BenchError, Row, Series, alternate, run, say, timed

# docs/performance.md, targets of issue 15: (wall ratio to the C baseline, CPU ratio)
PULL_TARGETS = {"small": (1.1, 1.2), "medium": (0.75, 1.2)}
PEAK_RSS_TARGET = 150e6


def _vm_hwm(pid: int) -> int:
    """Peak resident set size of ``pid`` so far (bytes; 0 once it has exited)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_sampling_rss(args: list) -> int:
    """Run ``args``, sampling its peak RSS (VmHWM, every 20 ms: the Python process itself,
    not skopeo, which runs as its child); returns that peak in bytes."""
    proc = subprocess.Popen([str(a) for a in args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _vm_hwm(proc.pid))
        time.sleep(0.02)
    err = proc.stderr.read()
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(map(str, args))} failed ({proc.returncode}):\n{err[-800:]}")
    return peak


def pull_ours(ref: str, root: Path, peaks: Series | None = None) -> float:
    repo, checkouts = root / "repo", root / "co"
    args = [SC, "--repo", repo, "--checkout-path", checkouts, "pull", "-q",
            "--tls-verify=false", f"docker://{ref}"]
    if peaks is None:
        return timed(lambda: run(args))
    return timed(lambda: peaks.add(run_sampling_rss(args)))


def _layout_layers(layout: Path, tag: str) -> list[str]:
    """Digest hex of each layer of ``layout:tag``, in order."""
    index = json.loads((layout / "index.json").read_text())
    digest = next(m["digest"] for m in index["manifests"]
                  if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag)
    blobs = layout / "blobs" / "sha256"
    manifest = json.loads((blobs / digest.split(":", 1)[1]).read_text())
    return [layer["digest"].split(":", 1)[1] for layer in manifest["layers"]]


def c_import(repo: Path, layout: Path, tag: str, runner=run, readable: Path | None = None) -> int:
    """Commit every layer of ``layout:tag`` into ``repo`` the way the ostree CLI does it, on
    refs ``layer/TAG/K``; returns the number of layers. ``runner`` runs a command (inside the
    test host for bench_host); ``readable`` is where this process reads ``layout`` from."""
    hexes = _layout_layers(readable or layout, tag)
    for k, hex_ in enumerate(hexes):
        runner(["ostree", f"--repo={repo}", "commit", f"--branch=layer/{tag}/{k}",
                f"--tree=tar={layout / 'blobs' / 'sha256' / hex_}", "--tar-autocreate-parents"])
    return len(hexes)


def pull_c(ref: str, root: Path, tag: str) -> float:
    repo, layout = root / "repo", root / "oci"

    def work() -> None:
        run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{ref}",
             f"oci:{layout}:{tag}"])
        run(["ostree", f"--repo={repo}", "init", "--mode=bare"])
        c_import(repo, layout, tag)
    return timed(work)


def bench_pull(work: Path, refs: dict[str, str], runs: int, podman: bool = False) -> list[Row]:
    """One row per data set; ``refs`` maps a data set name to ``host/repo:tag``; ``podman``:
    podman pull is a further peer line (no target of its own)."""
    rows = []
    for data, ref in refs.items():
        say(f"pull+import {data} ({ref})")
        tag = ref.rsplit(":", 1)[1]
        ours, peer = Series("syscontainers pull"), Series("skopeo copy + ostree commit")
        peaks = Series("syscontainers pull: peak RSS", unit="B")

        def fresh(label: str, r: int) -> Path:
            d = work / f"pull-{data}-{label}-{r}"
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
            return d

        def one_ours(r: int) -> float:
            d = fresh("ours", r)
            try:
                return pull_ours(ref, d, peaks)
            finally:
                shutil.rmtree(d, ignore_errors=True)

        def one_peer(r: int) -> float:
            d = fresh("c", r)
            try:
                return pull_c(ref, d, tag)
            finally:
                shutil.rmtree(d, ignore_errors=True)

        tools = [(ours, one_ours), (peer, one_peer)]
        pm, pm_failures = Series("podman pull (podman 4.3)"), Optional(f"podman pull of {data}")
        if podman:
            tools.append((pm, pm_failures.wrap(lambda r: pull_podman(ref, fresh("podman", r)))))
        with podman_locks_cleaned():
            alternate(runs, tools)
        pm_note = " ".join(pm_failures.settle(pm))
        wall, cpu = PULL_TARGETS.get(data, (1.3, 1.2))
        rows.append(Row("pull+import", data, ours, [peer] + ([pm] if pm.values else []),
                        target=f"≤ {wall}× C baseline; CPU ≤ {cpu}×", note=pm_note,
                        check=lambda row, wall=wall, cpu=cpu:
                        row.ratio() <= wall and (row.cpu_ratio() or 0) <= cpu))
        rows.append(Row("pull peak RSS", data, peaks, [], target="≤ 150 MB",
                        check=lambda row: row.ours.median <= PEAK_RSS_TARGET,
                        note="VmHWM of the syscontainers process (skopeo not included)"))
    return rows
