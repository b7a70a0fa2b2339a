"""``make bench``: every benchmark side by side with its peer, then the table in
docs/performance.md.

Steps: generate the data sets (bench/gen.py) into a temporary directory under /var/tmp; start
a docker-registry on 127.0.0.1 and push them; CLI start-up; pull+import; install checkout; then,
inside a systemd test host, update, rollback and list; then the scale curves (bench_scale.py:
list/update at 10-1000 containers, a 100 000-file image, prune of 200 images; PNGs under
docs/perf/, drawn by bench/plots.py). Each workload alternates our tool and its
peers ``--runs`` times (order rotated every round) and reports medians and min–max. Everything
started is stopped by its PID and every temporary directory is removed, also on failure or
SIGTERM. Never part of ``make test``.

    .venv/bin/python bench/run.py [--runs 3] [--only startup,pull,checkout,host]
                                  [--list-count 100] [--no-write] [--keep DIR] [--quick]
                                  [--scale-runs 2] [--scale-max 1000] [--files-max 100000]

``--only startstop``: the start/stop/status rows alone (a test host, no memory row, no podman).

``--quick`` (about 3 minutes): 2 runs of start-up, pull+import and install checkout only (no
test host, no update pairs), printed and never written into the doc.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO_ROOT, Row, load_average, machine, say  # noqa: E402
import gen  # noqa: E402
import report  # noqa: E402

# startstop: only the start/stop/status rows of service (no memory row, no podman)
# start/stop/status: 20-50 ms each, with outliers of +10-25 ms on either side (idle states,
# pid 1's other work); with 10 rounds one status row read 1.80x where four others read
# 1.22-1.44x. 20 rounds, a few seconds more.
CONTROL_ROUNDS = 20
WORKLOADS = ("startup", "pull", "checkout", "host", "service", "podman", "scale", "startstop")
QUICK_WORKLOADS = ("startup", "pull", "checkout")      # --quick: no test host, no podman


def _args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="runs per tool and workload (default 3)")
    ap.add_argument("--startup-runs", type=int, default=15)
    ap.add_argument("--only", default=",".join(WORKLOADS),
                    help=f"comma-separated subset of {','.join(WORKLOADS)}")
    ap.add_argument("--list-count", type=int, default=100, help="containers installed for list")
    ap.add_argument("--uninstall-count", type=int, default=300,
                    help="containers installed when uninstall is timed")
    ap.add_argument("--doc", type=Path, default=REPO_ROOT / "docs/performance.md")
    ap.add_argument("--no-write", action="store_true", help="print the table, leave the doc")
    ap.add_argument("--keep", type=Path, help="use and keep this work dir (data is reused)")
    # scale curves (bench/bench_scale.py): fewer runs per point, caps for a quick check
    ap.add_argument("--scale-runs", type=int, default=2, help="runs per point of the scale curves")
    ap.add_argument("--scale-max", type=int, default=1000,
                    help="largest container/image count of the scale curves (default 1000)")
    ap.add_argument("--files-max", type=int, default=100_000,
                    help="largest file count of the scale curves (default 100000)")
    ap.add_argument("--quick", action="store_true",
                    help="a ~3-minute subset: 2 runs of startup,pull,checkout; implies --no-write")
    args = ap.parse_args(argv)
    if args.quick:
        args.runs, args.startup_runs, args.no_write = 2, 5, True
        args.only = ",".join(w for w in args.only.split(",") if w in QUICK_WORKLOADS)
    args.only = [w for w in args.only.split(",") if w]
    unknown = set(args.only) - set(WORKLOADS)
    if unknown:
        ap.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    return args


def _data(work: Path, quick: bool = False) -> dict[str, gen.Generated]:
    """The data sets: small and medium pairs (v1, v2 sharing 90 % of the files) and tiny
    (``quick``: only the v1 of each)."""
    images = {}
    pair = (0,) if quick else (0, 1)
    for name, variants in (("small", pair), ("medium", pair), ("tiny", (0,))):
        for v in variants:
            say(f"generating {name} v{v + 1}")
            images[f"{name}-v{v + 1}"] = gen.generate(gen.SHAPES[name], work / "data" / name, v)
    return images


def _data_facts(images: dict[str, gen.Generated]) -> str:
    parts = []
    for key in ("small-v1", "medium-v1", "tiny-v1"):
        g = images[key]
        s = g.shape
        compressed = sum(b.size for b in g.layers) / 1e6
        parts.append(f"{s.name} ({s.files} files, {s.size / 1e6:.1f} MB in {s.layers} "
                     f"layer{'s' if s.layers > 1 else ''}, {compressed:.1f} MB gzipped)")
    return ("; ".join(parts) + "; update pairs: v2 changes the content of 10 % of the files "
            "of every layer (all layer digests differ). Generator: bench/gen.py")


def _benchmarks(args, work: Path, images, refs) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    context: list[str] = []
    if "startup" in args.only:
        from bench_startup import bench_startup
        rows += bench_startup(args.startup_runs)
    if "pull" in args.only:
        from bench_pull import bench_pull
        with_podman = "podman" in args.only and shutil.which("podman") is not None
        rows += bench_pull(work, {"small": refs["small-v1"], "medium": refs["medium-v1"]},
                           args.runs, podman=with_podman)
        if not with_podman:
            context.append("pull+import has no podman peer: podman is not installed here "
                           "or the podman workload was not selected.")
    if "checkout" in args.only:
        from bench_checkout import bench_checkout
        for data in ("small", "medium"):
            g = images[f"{data}-v1"]
            rows.append(bench_checkout(work, data, refs[f"{data}-v1"], g.layout, g.tag,
                                       [b.digest for b in g.layers], args.runs))
    if {"host", "service", "podman", "startstop"} & set(args.only):
        rows_host, context_host = _host_benchmarks(args, work, refs)
        rows += rows_host
        context += context_host
    return rows, context


def _host_benchmarks(args, work: Path, refs) -> tuple[list[Row], list[str]]:
    from bench_host import Host
    rows: list[Row] = []
    context: list[str] = []
    registry_host = refs["small-v1"].split("/", 1)[0]
    with Host(work / "testhost", registry_host) as h:
        context.append(f"Inside the systemd test host (booted in {h.host.boot_seconds:.2f} s).")
        if "service" in args.only or "startstop" in args.only:
            from bench_service import bench_control, bench_memory
            rows += bench_control(h, refs["svc-detached"], max(args.runs, CONTROL_ROUNDS))
        if "service" in args.only:
            mem_row, mem_context = bench_memory(h, refs, work, 3)
            rows.append(mem_row)
            context += mem_context
        if "podman" in args.only:
            from bench_podman import bench_service_lifecycle
            podman_rows, podman_context = bench_service_lifecycle(h, refs, min(args.runs, 3))
            rows += podman_rows
            context += podman_context
        if "host" in args.only:
            host_rows, host_context = _update_rollback_list(args, work, refs, h)
            rows += host_rows
            context += host_context
    return rows, context


def _update_rollback_list(args, work: Path, refs, h) -> tuple[list[Row], list[str]]:
    from bench_host import (CLI_INSTALLS, bench_list, bench_rollback, bench_staged_switch,
                            bench_update, prepare_small_pair)
    from bench_service import bench_uninstall
    rows: list[Row] = []
    time_row, disk_row, cp = bench_update(h, work, refs["medium-v1"], refs["medium-v2"],
                                          args.runs)
    rows += [time_row, disk_row]
    rows.append(bench_staged_switch(h, refs["medium-v1"], refs["medium-v2"], args.runs))
    small_cp, small_name = prepare_small_pair(h, refs["small-v1"], refs["small-v2"])
    rows.append(bench_rollback(h, "small", small_cp, small_name, max(args.runs, 5)))
    rows.append(bench_rollback(h, "medium", cp, cp.name, max(args.runs, 5)))
    list_row, per_install = bench_list(h, refs["tiny-v1"], args.list_count, args.runs)
    rows.append(list_row)
    uninstall_row, per_more = bench_uninstall(h, refs["tiny-v1"], args.list_count,
                                              args.uninstall_count, args.runs)
    rows.append(uninstall_row)
    context = [f"Containers for `list`: {min(args.list_count, CLI_INSTALLS)} installed with "
               f"the CLI ({per_install:.2f} s each on average, tiny image), the others "
               f"replicated by bench/scale_clone.py; the {args.uninstall_count - args.list_count}"
               f" more for `uninstall` replicated too ({per_more * 1000:.0f} ms each)."]
    return rows, context


def main(argv: list[str]) -> int:
    args = _args(argv)
    began = time.monotonic()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # run the finally blocks
    facts = machine()
    facts["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    facts["runs"] = f"{args.runs} per tool and workload (rollback {max(args.runs, 5)}, start-up {args.startup_runs})"
    load_before = load_average()
    work = args.keep or Path(tempfile.mkdtemp(prefix="sc-bench-", dir="/var/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    registry = None
    try:
        from tests.fixtures.registry import Registry
        images = _data(work, args.quick)
        registry = Registry(work / "registry").start()
        say(f"registry on {registry.host}; pushing")
        refs = {key: registry.push(g.layout, g.tag, f"bench/{g.shape.name}")
                for key, g in images.items()}
        if "service" in args.only or "startstop" in args.only:
            from bench_service import service_images
            refs.update(service_images(work, registry))
        if "podman" in args.only:
            from bench_podman import http_images
            refs.update(http_images(work, registry))
        rows, context = _benchmarks(args, work, images, refs)
        curves = []
        if "scale" in args.only:
            from bench_scale import bench_scale
            scale_rows, scale_context, curves = bench_scale(args, work, registry, refs["tiny-v1"])
            rows += scale_rows
            context += scale_context
    finally:
        if registry is not None:
            registry.stop()
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    facts["data"] = _data_facts(images)
    facts["load average"] = (f"{load_before} before, {load_average()} after (1/5/15 min; "
                             "other jobs share the 2 cores and the disk, hence medians)")
    facts["duration"] = f"{(time.monotonic() - began) / 60:.1f} min for the whole `make bench`"
    text = report.section(rows, facts, context)
    print(text)
    if not args.no_write:
        report.write(args.doc, text)
        say(f"wrote {args.doc}")
        if curves:
            import plots
            for png in plots.draw_all(curves, REPO_ROOT / "docs/perf"):
                say(f"wrote {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
