"""pull+import from a registry on 127.0.0.1: ``syscontainers pull`` vs the C baseline.

ours    : ``syscontainers --repo R --checkout-path C pull --tls-verify=false docker://REF``
          into a fresh repository (the whole CLI: start-up, manifest, skopeo copy into the blob
          cache, digest checks, every tar entry validated, import, merged tree).
C peer  : ``skopeo copy docker://REF oci:DIR`` then ``ostree init --mode=bare`` and
          ``ostree commit --tree=tar=LAYER --tar-autocreate-parents`` of each layer into a fresh
          repository (libarchive parses, nothing is validated, no merged tree).
podman  : not installed on these machines: no podman peer.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from common import SC, Row, Series, alternate, run, say, timed


def pull_ours(ref: str, root: Path) -> float:
    repo, checkouts = root / "repo", root / "co"
    return timed(lambda: run([SC, "--repo", repo, "--checkout-path", checkouts, "pull", "-q",
                              "--tls-verify=false", f"docker://{ref}"]))


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


def bench_pull(work: Path, refs: dict[str, str], runs: int) -> list[Row]:
    """One row per data set; ``refs`` maps a data set name to ``host/repo:tag``."""
    rows = []
    for data, ref in refs.items():
        say(f"pull+import {data} ({ref})")
        tag = ref.rsplit(":", 1)[1]
        ours, peer = Series("syscontainers pull"), Series("skopeo copy + ostree commit")

        def fresh(label: str, r: int) -> Path:
            d = work / f"pull-{data}-{label}-{r}"
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
            return d

        def one_ours(r: int) -> float:
            d = fresh("ours", r)
            try:
                return pull_ours(ref, d)
            finally:
                shutil.rmtree(d, ignore_errors=True)

        def one_peer(r: int) -> float:
            d = fresh("c", r)
            try:
                return pull_c(ref, d, tag)
            finally:
                shutil.rmtree(d, ignore_errors=True)

        alternate(runs, [(ours, one_ours), (peer, one_peer)])
        rows.append(Row("pull+import", data, ours, [peer], target="≤ 1.3× C baseline",
                        check=lambda row: row.ratio() <= 1.3))
    return rows
