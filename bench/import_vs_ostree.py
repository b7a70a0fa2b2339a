"""Layer import: our Store.import_layers vs ``ostree commit --tree=tar=FILE``.

Builds (once, cached in --data) a 3-layer image of ~10k files and ~170 MB uncompressed
(gzip-compressed layers with a realistic mix of compressible and random content, directories,
symlinks), then alternates, ``--rounds`` times:

  ostree : for each layer ``ostree --repo=R commit -b lK --tree=tar=layerK.tar.gz
           --tar-autocreate-parents`` into a fresh bare repo (the C baseline: libarchive does
           gunzip + parse, no validation)
  ours   : Store.import_layers() of the same blobs into a fresh bare repo (digest check, every
           entry validated, each checked entry written as an object: store/object_import.py)

and prints each time, the medians and the ratio ours/ostree. Each run starts after ``sync`` so
writeback of the previous run does not land on the next one. The disk of a VM is noisy: look at
the medians, and run it more than once. Never run by the test suite.

    .venv/bin/python bench/import_vs_ostree.py [--rounds 5] [--data /var/tmp/sc-bench]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

LAYERS = [(6000, 100 << 20), (3000, 50 << 20), (1000, 20 << 20)]   # (files, bytes)


def _content(rnd: random.Random, pool: bytes, text: bytes, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        k = min(n - len(out), rnd.randint(256, 8192))
        src = pool if rnd.random() < 0.4 else text
        start = rnd.randrange(0, len(src) - k)
        out += src[start:start + k]
    return bytes(out)


def make_layer(path: Path, nfiles: int, total: int, seed: int) -> None:
    """A gzip layer: nfiles/100 big files hold ~55% of the bytes, the rest is small files."""
    rnd = random.Random(seed)
    pool = rnd.randbytes(1 << 20)
    text = b"the quick brown fox jumps over the lazy dog 0123456789 " * 40000
    nbig = max(1, nfiles // 100)
    small = total - int(total * 0.55)
    sizes = [int(total * 0.55) // nbig] * nbig + [
        int(rnd.expovariate(1.0) * small / (nfiles - nbig)) for _ in range(nfiles - nbig)]
    dirs = [f"usr/lib/s{seed}/d{d // 20}/e{d}" for d in range(nfiles // 25 + 1)]
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6,
                                                mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tf:
        made = set()
        for d in dirs:
            parts = d.split("/")
            for i in range(1, len(parts) + 1):
                p = "/".join(parts[:i])
                if p not in made:
                    made.add(p)
                    info = tarfile.TarInfo(p)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tf.addfile(info)
        for i, n in enumerate(sizes):
            d = dirs[i % len(dirs)]
            info = tarfile.TarInfo(f"{d}/f{i}.so")
            info.size, info.mode, info.mtime = n, 0o755 if i % 3 == 0 else 0o644, 1700000000
            tf.addfile(info, io.BytesIO(_content(rnd, pool, text, n)))
            if i % 200 == 0:
                link = tarfile.TarInfo(f"{d}/l{i}")
                link.type, link.linkname, link.mode = tarfile.SYMTYPE, f"f{i}.so", 0o777
                tf.addfile(link)


def ensure_data(data: Path) -> list[Path]:
    data.mkdir(parents=True, exist_ok=True)
    blobs = []
    for k, (nfiles, total) in enumerate(LAYERS):
        blob = data / f"layer{k}.tar.gz"
        if not blob.exists():
            tmp = blob.with_suffix(".tmp")
            make_layer(tmp, nfiles, total, k + 1)
            tmp.rename(blob)
        blobs.append(blob)
    return blobs


def run_ostree(blobs: list[Path], repo: Path) -> float:
    subprocess.run(["ostree", f"--repo={repo}", "init", "--mode=bare"], check=True)
    os.sync()
    start = time.monotonic()
    for k, blob in enumerate(blobs):
        subprocess.run(["ostree", f"--repo={repo}", "commit", f"--branch=l{k}",
                        f"--tree=tar={blob}", "--tar-autocreate-parents"],
                       check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def run_ours(blobs: list[Path], repo: Path) -> float:
    from syscontainers.config import Config
    from syscontainers.images.model import Layer
    from syscontainers.images.store import Store
    from syscontainers.paths import resolve_paths

    paths = resolve_paths(False, checkout_flag=str(repo.parent / "co"), repo_flag=str(repo),
                          env={}, config=Config())
    store = Store(paths)
    store._writer()                                  # repo creation is not import time
    items = []
    for blob in blobs:
        digest = "sha256:" + hashlib.sha256(blob.read_bytes()).hexdigest()
        items.append((Layer(digest, blob.stat().st_size), blob, None))
    os.sync()
    start = time.monotonic()
    store.import_layers(items)
    return time.monotonic() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--data", type=Path, default=Path("/var/tmp/sc-bench-import"))
    args = ap.parse_args()
    blobs = ensure_data(args.data)
    print("layers:", ", ".join(f"{b.name} {b.stat().st_size >> 20} MiB" for b in blobs))
    times = {"ostree": [], "ours": []}
    for r in range(args.rounds):
        order = [("ostree", run_ostree), ("ours", run_ours)]
        for name, fn in order if r % 2 == 0 else order[::-1]:    # no order bias
            with tempfile.TemporaryDirectory(dir=args.data, prefix="repo-") as tmp:
                t = fn(blobs, Path(tmp) / "repo")
                times[name].append(t)
                print(f"round {r + 1} {name:6s} {t:6.2f} s", flush=True)
            os.sync()
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"median ostree {med['ostree']:.2f} s  ours {med['ours']:.2f} s  "
          f"ratio {med['ours'] / med['ostree']:.2f}  (min ratio "
          f"{min(times['ours']) / min(times['ostree']):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
