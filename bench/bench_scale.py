"""Scale curves (issue 15, items 4 and 5): the cost must grow no faster than the work.

Each workload is measured at several sizes; every size is a row of the table and a point of
a curve (bench/plots.py draws them into docs/perf/).

list     : ``syscontainers list`` with 10 ... 1000 installed containers of the tiny image in
           a systemd test host (the first 10 installed with the CLI, the others replicated from
           one of them by bench/scale_clone.py: see there, and docs/performance.md "Scale
           curves"), vs ``systemctl list-units`` of the same units (the floor: list asks
           systemd with one such call). Installed, not started (install does not start).
update   : ``update --check --all`` and ``update --all`` with 10, 25, 50 of those containers,
           all up to date (the registry on 127.0.0.1 asked for each); ours only.
files    : an image of one layer of 10k, 30k, 100k small files (bench/gen.py
           ``files_shape``): ``syscontainers pull`` into a fresh repository (with its peak RSS)
           vs the C baseline of the pull rows (skopeo copy + ``ostree commit`` of the layer; the
           commit alone is shown too); then the install checkout of the pulled image (in
           process, as bench_checkout.py) vs ``ostree checkout -H`` of the same merged commit,
           each followed by one syncfs.
prune    : ``images prune`` of a repository holding 50, 100, 200 unused images (each a tiny
           layer of its own and a config; written by the store's own code - import_layer,
           write_image - and then deleted by name, the state ``images delete`` leaves) plus
           one tagged image prune must keep; the C peer deletes the same refs
           (``ostree refs --delete``) and runs ``ostree prune --refs-only``. Each run prunes a
           fresh copy (``cp -a``) of the prepared repository; the prune is checked to have
           removed every unused ref.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import gen
from bench_pull import PEAK_RSS_TARGET, c_import, pull_ours
from common import SC, Row, Series, alternate, run, say, syncfs, timed
from plots import Curve

LIST_POINTS = (10, 25, 50, 100, 300, 1000)
UPDATE_POINTS = (10, 25, 50)
FILES_POINTS = (10_000, 100_000)       # a 30 000 point cost ~40 s of the 15-minute budget
PRUNE_POINTS = (50, 100, 200)
ROW_LIST_POINTS = (10, 100, 1000)      # the sizes of issue 15 get rows; the others only points
CLI_INSTALLS = 10                      # containers installed with the CLI before cloning
CP = Path("/var/lib/bench/scale")
_SHM = Path("/dev/shm")


def _remove(path: Path) -> None:
    """``rm -rf`` of a work dir (trees of up to 100 000 files: C, not shutil.rmtree)."""
    subprocess.run(["rm", "-rf", "--one-file-system", "--", str(path)], check=False)


def growth(curve: Curve, label: str) -> str:
    """How the median of ``label`` grows between the two largest sizes measured, as the
    exponent k of cost ~ size^k (1: in step with the work, below 1: slower)."""
    done = [(x, s.median) for x, s in zip(curve.points, curve.line(label)) if s.values]
    if len(done) < 2 or done[-2][1] <= 0:
        return ""
    (x1, y1), (x2, y2) = done[-2], done[-1]
    k = math.log(y2 / y1) / math.log(x2 / x1)
    return (f"{label}: {y2 / y1:.2f}× the time for {x2 / x1:.1f}× the {curve.xlabel.split(' ')[0]}"
            f" ({x1} → {x2}; growth exponent {k:.2f})")


# --- list and update: containers in a test host ---------------------------------------------

class Containers:
    """A population of installed containers sc0000... in ``h`` that only grows."""

    def __init__(self, h, ref: str):
        self.h, self.ref, self.count = h, ref, 0
        self.per_install = 0.0
        self.cloned, self.clone_seconds = 0, 0.0

    def name(self, i: int) -> str:
        return f"sc{i:04d}"

    def grow(self, total: int) -> None:
        if total <= self.count:
            return
        first = min(total, CLI_INSTALLS)
        if self.count < first:
            say(f"scale: installing {first - self.count} containers with the CLI")
            start = time.perf_counter()
            for i in range(self.count, first):
                self.h.sc(CP, "install", "--name", self.name(i), self.ref)
            self.per_install = (time.perf_counter() - start) / (first - self.count)
            self.count = first
        if total > self.count:
            say(f"scale: cloning {total - self.count} containers (bench/scale_clone.py)")
            names = [self.name(i) for i in range(self.count, total)]
            self.clone_seconds += self.h.clone(CP, self.name(0), names)
            self.cloned += len(names)
            self.count = total
        self.check()          # also the same warm start for every point of the curves

    def check(self) -> None:
        """``list --json`` sees every container, none broken or drifted; ``verify`` accepts
        the newest one (a clone from 11 on)."""
        rows = json.loads(self.h.sc(CP, "list", "--json"))
        if len(rows) != self.count:
            raise RuntimeError(f"list shows {len(rows)} containers, not {self.count}")
        odd = [r for r in rows if r.get("status") not in ("inactive",) or r.get("drifted")]
        if odd:
            raise RuntimeError(f"cloned containers look wrong to list: {odd[:2]}")
        self.h.sc(CP, "verify", self.name(self.count - 1))


def bench_containers(h, ref: str, list_points, update_points, runs: int
                     ) -> tuple[list[Row], list[Curve], list[str]]:
    pop = Containers(h, ref)
    lc = Curve("list", "list: installed containers (test host)", "containers",
               list(list_points), target=(0.5, "target at 1000: 0.5 s"))
    uc = Curve("update-all", "update --all / --check --all: unchanged containers",
               "containers", list(update_points), target=(2.0, "target at 50: 2 s"))
    rows: list[Row] = []
    for n in sorted(set(list_points) | set(update_points)):
        pop.grow(n)
        if n in list_points:
            i = lc.points.index(n)
            ours, floor = lc.line("syscontainers list")[i], lc.line("systemctl list-units")[i]
            say(f"list with {n} containers")
            alternate(max(runs, 3), [
                (ours, lambda r: h.timed_sc(CP, "list")),
                (floor, lambda r: h.timed_run("systemctl", "list-units", "--all",
                                              "--no-pager", "sc*"))])
            if n in ROW_LIST_POINTS or n == max(list_points):
                last = n == max(list_points) and n >= 1000
                rows.append(Row("list (scale)", f"{n} installed containers", ours, [floor],
                                target="≤ 0.5 s at 1000" if last else "",
                                check=(lambda row: row.ours.median <= 0.5) if last else None))
        if n in update_points:
            i = uc.points.index(n)
            check_s = uc.line("update --check --all")[i]
            all_s = uc.line("update --all")[i]
            say(f"update --check --all / update --all with {n} containers")
            alternate(runs, [(check_s, lambda r: h.timed_sc(CP, "update", "--check", "--all")),
                             (all_s, lambda r: h.timed_sc(CP, "update", "--all"))])
            at_target = n >= 50
            for label, s in (("update --check --all", check_s), ("update --all", all_s)):
                rows.append(Row(label, f"{n} unchanged containers", s, [],
                                target="≤ 2 s at 50" if at_target else "",
                                check=(lambda row: row.ours.median <= 2.0) if at_target
                                else None))
    per_clone = pop.clone_seconds / pop.cloned if pop.cloned else 0.0
    context = [f"Scale curves, containers: {min(pop.count, CLI_INSTALLS)} installed with the "
               f"CLI ({pop.per_install:.2f} s each), the other {pop.cloned} replicated by "
               f"bench/scale_clone.py ({per_clone * 1000:.0f} ms each, the one daemon-reload "
               "per batch included)."]
    context += [g for g in (growth(lc, "syscontainers list"), growth(uc, "update --check --all"),
                            growth(uc, "update --all")) if g]
    return rows, [lc, uc], context


# --- files: the 100 000-file image --------------------------------------------------------

def files_images(work: Path, registry, points) -> dict[int, tuple[str, gen.Generated]]:
    out = {}
    for n in points:
        shape = gen.files_shape(n)
        say(f"generating {shape.name} ({n} files)")
        g = gen.generate(shape, work / "data" / shape.name, 0)
        out[n] = (registry.push(g.layout, g.tag, f"bench/{shape.name}"), g)
    return out


def _merged(repo: Path) -> str:
    refs = run(["ostree", f"--repo={repo}", "refs", "--list", "syscontainers/merged"]).stdout
    names = refs.split()
    if len(names) != 1:
        raise RuntimeError(f"expected one merged commit in {repo}, found {names}")
    return run(["ostree", f"--repo={repo}", "rev-parse",
                f"syscontainers/merged/{names[0].rsplit('/', 1)[-1]}"]).stdout.strip()


def bench_files(work: Path, images: dict[int, tuple[str, gen.Generated]], runs: int
                ) -> tuple[list[Row], list[Curve], list[str]]:
    points = sorted(images)
    ic = Curve("files-import", "pull+import of one layer of N small files", "files", points)
    cc = Curve("files-checkout", "install checkout of N files", "files", points)
    mc = Curve("files-rss", "peak RSS of syscontainers pull", "files", points,
               target=(PEAK_RSS_TARGET, "target: 150 MB"), unit="B")
    rows: list[Row] = []
    for i, n in enumerate(points):
        ref, g = images[n]
        # the smaller sizes only shape the curve: one run fewer (the budget of make bench)
        point_runs = runs if n == points[-1] else max(1, runs - 1)
        rows += _files_point(work, n, ref, g, point_runs, ic, cc, mc, i, last=n == points[-1])
    context = [f"Files series: one layer of small files each (bench/gen.py files_shape: "
               f"{', '.join(f'{n} files {images[n][1].layers[0].size / 1e6:.1f} MB gzipped' for n in points)})."]
    context += [g for g in (growth(ic, "syscontainers pull"), growth(cc, "syscontainers checkout"))
                if g]
    return rows, [ic, cc, mc], context


def _files_point(work, n, ref, g, runs, ic, cc, mc, i, last: bool) -> list[Row]:
    say(f"files: pull+import of {n} files")
    tag = ref.rsplit(":", 1)[1]
    ours, base = ic.line("syscontainers pull")[i], ic.line("skopeo copy + ostree commit")[i]
    commit_only, peaks = ic.line("ostree commit (alone)")[i], mc.line("syscontainers pull")[i]
    kept: list[Path] = []

    def fresh(label: str, r: int) -> Path:
        d = work / f"files-{n}-{label}-{r}"
        _remove(d)
        d.mkdir(parents=True)
        return d

    def one_ours(r: int) -> float:
        d = fresh("ours", r)
        t = pull_ours(ref, d, peaks)
        for old in kept:
            _remove(old)
        kept[:] = [d]                        # the last pull's repository: the checkout's
        return t

    def one_peer(r: int) -> float:
        d = fresh("c", r)
        repo, layout = d / "repo", d / "oci"
        phase: list[float] = []

        def work_() -> None:
            run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{ref}",
                 f"oci:{layout}:{tag}"])
            run(["ostree", f"--repo={repo}", "init", "--mode=bare"])
            start = time.perf_counter()
            c_import(repo, layout, tag)
            phase.append(time.perf_counter() - start)
        try:
            t = timed(work_)
            commit_only.add(phase[0])
            return t
        finally:
            _remove(d)

    try:
        alternate(runs, [(ours, one_ours), (base, one_peer)])
        rows = [Row("pull+import (scale)", f"{n} files, 1 layer", ours, [base, commit_only],
                    target="≤ 1.2× C baseline at 100 000 files" if last and n >= 100_000 else "",
                    check=(lambda row: row.ratio() <= 1.2) if last and n >= 100_000 else None)]
        if last:
            rows.append(Row("pull peak RSS (scale)", f"{n} files, 1 layer", peaks, [],
                            target="≤ 150 MB", check=lambda row: row.ours.median <= PEAK_RSS_TARGET,
                            note="VmHWM of the syscontainers process (skopeo not included)"))
        rows.append(_files_checkout(work, n, kept[0] / "repo", runs, cc, i, last))
        return rows
    finally:
        for d in kept:
            _remove(d)


def _files_checkout(work: Path, n: int, repo: Path, runs: int, cc: Curve, i: int,
                    last: bool) -> Row:
    from syscontainers.images.store.checkout import checkout_commit
    from syscontainers.images.store.repo import Repo

    say(f"files: install checkout of {n} files")
    merged = _merged(repo)
    Repo.open(repo, "bare", create=False)        # gi imported before the clock starts
    ours, peer = cc.line("syscontainers checkout")[i], cc.line("ostree checkout -H")[i]

    def measured(label: str, fn):
        def one(r: int) -> float:
            d = work / f"files-co-{n}-{label}-{r}"
            _remove(d)
            d.mkdir(parents=True)
            try:
                return timed(lambda: fn(d))
            finally:
                _remove(d)
        return one

    def ours_checkout(d: Path) -> None:
        checkout_commit(Repo.open(repo, "bare", create=False), merged, d / "rootfs",
                        user_mode=False)

    def ostree_checkout(d: Path) -> None:
        run(["ostree", f"--repo={repo}", "checkout", "-H", merged, d / "rootfs"])
        syncfs(d)

    alternate(runs, [(ours, measured("ours", ours_checkout)),
                     (peer, measured("ostree", ostree_checkout))])
    at_target = last and n >= 100_000
    return Row("install checkout (scale)", f"{n} files", ours, [peer],
               target="≤ 1.0× ostree checkout -H at 100 000 files" if at_target else "",
               check=(lambda row: row.ratio() <= 1.0) if at_target else None)


# --- images prune ------------------------------------------------------------------------------

def _tiny_layer(seed: int) -> bytes:
    """A layer of 10 small files of its own content (no two images share an object)."""
    import random
    rnd = random.Random(f"prune/{seed}")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("opt", f"opt/p{seed}"):
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, gen.MTIME
            tar.addfile(info)
        for k in range(10):
            data = f"image {seed} file {k}\n".encode() + rnd.randbytes(rnd.randint(500, 4000))
            info = tarfile.TarInfo(f"opt/p{seed}/f{k}")
            info.size, info.mode, info.mtime = len(data), 0o644, gen.MTIME
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _write_image(store, blobs: Path, seed: int, name: str):
    """One image through the store's own import and write (what a pull does after the
    fetch)."""
    from syscontainers.images.model import Layer

    tar = _tiny_layer(seed)
    blob = gzip.compress(tar, mtime=0)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
    path = blobs / digest.split(":", 1)[1]
    path.write_bytes(blob)
    store.import_layer(Layer(digest, len(blob)), path, diff_id)
    path.unlink()
    config = json.dumps({"architecture": "amd64", "os": "linux", "created": gen.CREATED,
                         "config": {"Labels": {"bench.prune": str(seed)}},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": gen.OCI_MANIFEST,
        "config": {"mediaType": gen.OCI_CONFIG, "size": len(config),
                   "digest": "sha256:" + hashlib.sha256(config).hexdigest()},
        "layers": [{"mediaType": gen.OCI_LAYER_GZIP, "digest": digest, "size": len(blob)}]})
    return store.write_image(name, manifest, "sha256:" + hashlib.sha256(manifest.encode())
                             .hexdigest(), config)


def prune_repo(base: Path, count: int) -> list[str]:
    """``base/repo`` with ``count`` unused images and one tagged one; returns the refs
    ``images prune`` must remove (layer and config of each unused image)."""
    from syscontainers.config import Config
    from syscontainers.images.store import Store
    from syscontainers.paths import resolve_paths

    paths = resolve_paths(False, checkout_flag=str(base / "co"), repo_flag=str(base / "repo"),
                          env={}, config=Config())
    store = Store(paths)
    blobs = base / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    kept = _write_image(store, blobs, 10_000 + count, "bench.local/prune/kept:v1")
    for i in range(count):
        store.delete(_write_image(store, blobs, count * 1000 + i, f"bench.local/prune/i{i}:v1"))
    keep = {layer.digest.split(":", 1)[1] for layer in kept.layers}
    keep.add(kept.manifest["config"]["digest"].split(":", 1)[1])
    refs = run(["ostree", f"--repo={base / 'repo'}", "refs", "--list"]).stdout.split()
    unused = [r for r in refs if r.startswith("ociimage/") and len(r) == 9 + 64
              and r[9:] not in keep]
    if len(unused) != 2 * count:
        raise RuntimeError(f"expected {2 * count} unused refs in {base}, found {len(unused)}")
    return unused


def bench_prune(work: Path, points, runs: int) -> tuple[list[Row], list[Curve], list[str]]:
    pc = Curve("prune", "images prune: unused images in the repository", "unused images",
               list(points))
    rows: list[Row] = []
    made = []
    for i, n in enumerate(points):
        # built on tmpfs (each image is two transactions, each ending in a syncfs: ~0.03 s an
        # image there, ~0.8 s on this loaded disk); every run prunes a copy on disk
        base = Path(tempfile.mkdtemp(prefix="sc-bench-prune-", dir=_SHM if _SHM.is_dir() else work))
        try:
            say(f"prune: writing {n} unused images")
            start = time.perf_counter()
            unused = prune_repo(base, n)
            made.append((time.perf_counter() - start) / (n + 1))
            rows.append(_prune_point(work, base, n, unused, runs, pc, i))
        finally:
            _remove(base)
    context = [f"Prune data: each unused image written in process by the store's import_layer "
               f"and write_image (on tmpfs, {sum(made) / len(made) * 1000:.0f} ms an image), "
               "then deleted by name; each run prunes a `cp -a` copy of that repository on disk."]
    context += [g for g in (growth(pc, "syscontainers images prune"),) if g]
    return rows, [pc], context


def _prune_point(work: Path, base: Path, n: int, unused: list[str], runs: int, pc: Curve,
                 i: int) -> Row:
    ours, peer = pc.line("syscontainers images prune")[i], pc.line(
        "ostree refs --delete + ostree prune --refs-only")[i]

    def copy(label: str, r: int) -> Path:
        d = work / f"prune-{n}-{label}-{r}"
        _remove(d)
        d.mkdir()
        run(["cp", "-a", base / "repo", d / "repo"])
        (d / "co").mkdir()
        return d

    def one_ours(r: int) -> float:
        d = copy("ours", r)
        try:
            t = timed(lambda: run([SC, "--repo", d / "repo", "--checkout-path", d / "co",
                                   "images", "prune"]))
            left = run(["ostree", f"--repo={d / 'repo'}", "refs", "--list"]).stdout.split()
            if set(left) & set(unused) or len(left) != 4:
                raise RuntimeError(f"prune of {n} images left {len(left)} refs")
            return t
        finally:
            _remove(d)

    def one_peer(r: int) -> float:
        d = copy("c", r)
        repo = f"--repo={d / 'repo'}"
        try:
            return timed(lambda: (run(["ostree", repo, "refs", "--delete", *unused]),
                                  run(["ostree", repo, "prune", "--refs-only"])))
        finally:
            _remove(d)

    alternate(runs, [(ours, one_ours), (peer, one_peer)])
    return Row("images prune (scale)", f"{n} unused images + 1 kept", ours, [peer])


# --- all of it -------------------------------------------------------------------------------

def _capped(points, top: int) -> list[int]:
    return [p for p in points if p <= top] or [min(points)]


def bench_scale(args, work: Path, registry, tiny_ref: str
                ) -> tuple[list[Row], list[str], list[Curve]]:
    """Every scale workload; (rows, context lines, curves). ``args.scale_max`` caps the
    container and image counts, ``args.files_max`` the file counts (quick checks)."""
    from bench_host import Host

    runs = args.scale_runs
    rows: list[Row] = []
    context: list[str] = []
    curves: list[Curve] = []
    began = time.monotonic()
    images = files_images(work, registry, _capped(FILES_POINTS, args.files_max))
    for part in (bench_files(work, images, runs),
                 bench_prune(work, _capped(PRUNE_POINTS, args.scale_max), runs)):
        rows += part[0]
        curves += part[1]
        context += part[2]
    with Host(work / "scalehost", tiny_ref.split("/", 1)[0]) as h:
        part = bench_containers(h, tiny_ref, _capped(LIST_POINTS, args.scale_max),
                                _capped(UPDATE_POINTS, args.scale_max), runs)
    rows += part[0]
    curves += part[1]
    context += part[2]
    context.append(f"The scale workloads took {(time.monotonic() - began) / 60:.1f} min.")
    return rows, context, curves
