"""Install checkout: ours vs ``ostree checkout -H --union --whiteouts`` vs ``umoci unpack``.

All from the same data: a repository our ``pull`` filled (layer commits + the merged commit) and
the generator's OCI layout.

ours          : ``checkout_commit`` of the image's merged commit into an empty rootfs (what
                install does: one pass of hard links, then one syncfs), called in-process with
                gi already imported.
ostree layers : ``ostree checkout -H --union --whiteouts`` of each layer commit, in order, into
                one directory (atomic's way; unsafe with hostile layers on ostree 2022.7, see
                ENVIRONMENT.md), then one syncfs.
ostree merged : ``ostree checkout -H`` of our merged commit (the same work as ours, in C), then
                one syncfs: the gap to it is the cost of Python + PyGObject.
umoci unpack  : ``umoci unpack --image LAYOUT:TAG BUNDLE`` (gunzip + untar every layer + mtree
                of the result), then one syncfs.

Every tool ends with one syncfs of the destination filesystem (ours does it itself), so each
number is the time to a durable rootfs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from common import SC, Row, Series, alternate, run, say, syncfs, timed


def _refs(repo: Path) -> dict[str, str]:
    out = run(["ostree", f"--repo={repo}", "refs", "--list"]).stdout.split()
    return {ref: run(["ostree", f"--repo={repo}", "rev-parse", ref]).stdout.strip() for ref in out}


def prepare(work: Path, ref: str) -> tuple[Path, str]:
    """Pull ``ref`` with our CLI into a repository of its own; (repo, merged commit)."""
    root = work / f"co-repo-{ref.rsplit('/', 1)[1].replace(':', '-')}"
    repo = root / "repo"
    run([SC, "--repo", repo, "--checkout-path", root / "co", "pull", "-q", "--tls-verify=false",
         f"docker://{ref}"])
    merged = [c for r, c in _refs(repo).items() if r.startswith("syscontainers/merged/")]
    if len(merged) != 1:
        raise RuntimeError(f"expected one merged commit in {repo}, found {merged}")
    return repo, merged[0]


def bench_checkout(work: Path, data: str, ref: str, layout: Path, tag: str,
                   layer_digests: list[str], runs: int) -> Row:
    from syscontainers.images.store.checkout import checkout_commit
    from syscontainers.images.store.repo import Repo

    def open_repo(path: Path):
        return Repo.open(path, "bare", create=False)

    say(f"checkout {data}")
    repo, merged = prepare(work, ref)
    open_repo(repo)                         # gi imported before the clock starts
    dest_root = work / f"co-{data}"

    def dest(label: str, r: int) -> Path:
        d = dest_root / f"{label}-{r}"
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        return d

    def measured(label: str, fn) -> callable:
        def one(r: int) -> float:
            d = dest(label, r)
            try:
                return timed(lambda: fn(d))
            finally:
                shutil.rmtree(d, ignore_errors=True)
        return one

    def ours(d: Path) -> None:
        checkout_commit(open_repo(repo), merged, d / "rootfs", user_mode=False)

    def ostree_layers(d: Path) -> None:
        for digest in layer_digests:
            run(["ostree", f"--repo={repo}", "checkout", "-H", "--union", "--whiteouts",
                 f"ociimage/{digest.split(':', 1)[1]}", d / "rootfs"])
        syncfs(d)

    def ostree_merged(d: Path) -> None:
        run(["ostree", f"--repo={repo}", "checkout", "-H", merged, d / "rootfs"])
        syncfs(d)

    def umoci(d: Path) -> None:
        run(["umoci", "unpack", "--image", f"{layout}:{tag}", d / "bundle"])
        syncfs(d)

    series = {"ours": Series("syscontainers checkout"),
              "layers": Series("ostree checkout -H --union --whiteouts (layers)"),
              "merged": Series("ostree checkout -H (merged commit)"),
              "umoci": Series("umoci unpack")}
    alternate(runs, [(series["ours"], measured("ours", ours)),
                     (series["layers"], measured("layers", ostree_layers)),
                     (series["merged"], measured("merged", ostree_merged)),
                     (series["umoci"], measured("umoci", umoci))])
    shutil.rmtree(repo.parent, ignore_errors=True)
    shutil.rmtree(dest_root, ignore_errors=True)

    def check(row: Row) -> bool:
        return row.ratio() <= 1.2 and series["umoci"].median / row.ours.median >= 10

    return Row("install checkout", data, series["ours"],
               [series["layers"], series["merged"], series["umoci"]],
               target="≤ 1.2× ostree checkout, ≥ 10× faster than umoci unpack",
               check=check if data == "medium" else None)
