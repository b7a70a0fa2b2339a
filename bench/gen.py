"""Synthetic images of a chosen shape, written as OCI layouts (deterministic).

A :class:`Shape` says how many files, how many bytes of file content, how many layers, and
which share of the files an *update* (variant 1) keeps identical with variant 0. The same shape,
variant and seed always give the same blobs, so two runs measure the same data.

What an image holds, and why:
- files spread over directories of ~25 entries, 3-4 levels deep (like /usr/lib trees); sizes
  follow a long tail: 1 % of the files hold ~55 % of the bytes, the rest are small
  (exponentially distributed), as in real distribution layers;
- content is 40 % incompressible, 60 % text-like, so gzip and the import see realistic work; every
  file starts with its own path, so no two files are the same object (no accidental dedup);
- a symlink every 200 files; upper layers delete a few lower files (whiteouts) and replace a few
  others, so union checkouts and the merge have real work;
- the last layer also carries ``/exports`` (the test suite's example config.json, unit and
  tmpfiles templates), so every image can be installed as a system container;
- an update (variant 1) changes the content of ``1 - shared`` of the files of every layer (the
  same paths, new content), so all its layer digests differ while OSTree can share the rest.

    .venv/bin/python bench/gen.py OUT_DIR [small|medium|tiny|files100k ...]   # OUT_DIR/<shape>
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import random
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.fixtures.examples import SERVICE_TEMPLATE, TMPFILES_TEMPLATE, config_template  # noqa: E402
from tests.fixtures.images import (CREATED, MTIME, OCI_CONFIG, OCI_LAYER_GZIP,  # noqa: E402
                                   OCI_MANIFEST, REF_ANNOTATION, Blob, write_blob)

_POOL_SIZE = 4 << 20


@dataclass(frozen=True)
class Shape:
    """What an image looks like. ``shared``: share of files an update keeps identical."""

    name: str
    files: int
    size: int                     # bytes of file content in all layers
    layers: int
    shared: float = 0.9
    seed: int = 1

    def layer_split(self) -> list[tuple[int, int]]:
        """(files, bytes) per layer: lower layers are the big ones (60/30/10 for three)."""
        weights = [2 ** (self.layers - 1 - k) for k in range(self.layers)]
        if self.layers == 3:
            weights = [6, 3, 1]
        total = sum(weights)
        split = [(self.files * w // total, self.size * w // total) for w in weights]
        files_left = self.files - sum(f for f, _ in split)
        split[0] = (split[0][0] + files_left, split[0][1])
        return split


SHAPES = {
    "tiny": Shape("tiny", 20, 64 << 10, 1, seed=3),        # for the 100 containers of `list`
    "small": Shape("small", 1_000, 10_000_000, 1, seed=2),
    "medium": Shape("medium", 10_000, 200_000_000, 3, seed=1),
}


def files_shape(files: int) -> Shape:
    """The file-count series of the scale curves (bench_scale.py): one layer of many small
    files, 500 bytes a file on average (the same long tail), so 100 000 files generate in
    seconds."""
    return Shape(f"files{files // 1000}k", files, files * 500, 1, seed=4)


SHAPES["files100k"] = files_shape(100_000)


@dataclass(frozen=True)
class Generated:
    """One image in an OCI layout."""

    shape: Shape
    variant: int
    layout: Path
    tag: str
    manifest: Blob
    layers: tuple[Blob, ...]

    @property
    def oci(self) -> str:
        return f"oci:{self.layout}:{self.tag}"

    def blob_path(self, blob: Blob) -> Path:
        return self.layout / "blobs" / "sha256" / blob.hex


class _Content:
    """Deterministic file content from one pool of random and text-like bytes."""

    def __init__(self, seed: int):
        rnd = random.Random(seed)
        words = [bytes(rnd.choices(b"abcdefghijklmnopqrstuvwxyz_", k=rnd.randint(2, 10)))
                 for _ in range(2000)]
        text = bytearray()
        while len(text) < _POOL_SIZE * 6 // 10:
            text += b" ".join(rnd.choices(words, k=12)) + b"\n"
        self.pool = bytes(text[:_POOL_SIZE * 6 // 10]) + rnd.randbytes(_POOL_SIZE * 4 // 10)

    def make(self, path: str, variant: int, size: int, rnd: random.Random) -> bytes:
        head = f"{path} v{variant}\n".encode()
        body = bytearray()
        while len(head) + len(body) < size:
            k = min(size - len(head) - len(body), rnd.randint(4096, 65536))
            start = rnd.randrange(0, len(self.pool) - k)
            body += self.pool[start:start + k]
        return (head + body)[:max(size, 0)] if size >= len(head) else head[:size]


def _info(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.size = kind, mode, MTIME, size
    info.uname = info.gname = "root"
    return info


def _sizes(rnd: random.Random, files: int, total: int) -> list[int]:
    nbig = max(1, files // 100)
    big = int(total * 0.55) // nbig
    small_total = total - big * nbig
    raw = [rnd.expovariate(1.0) for _ in range(files - nbig)]
    scale = small_total / max(sum(raw), 1e-9)
    sizes = [big] * nbig + [int(r * scale) for r in raw]
    rnd.shuffle(sizes)
    return sizes


def _changed(shape: Shape, layer: int, index: int) -> bool:
    """Whether an update changes file ``index`` of ``layer`` (deterministic, ~1 - shared)."""
    h = hashlib.blake2b(f"{shape.seed}/{layer}/{index}".encode(), digest_size=4).digest()
    return int.from_bytes(h, "big") / 2 ** 32 >= shape.shared


def _layer_paths(k: int, files: int) -> tuple[list[str], list[str]]:
    """(directories in creation order, file paths) of layer ``k``."""
    ndirs = files // 25 + 1
    dirs = [f"usr/lib/l{k}/g{d // 64}/s{d // 8}/d{d}" for d in range(ndirs)]
    paths = [f"{dirs[i % ndirs]}/f{i}.so" for i in range(files)]
    return dirs, paths


def _exports() -> dict[str, bytes]:
    manifest = {"version": "1.0", "defaultValues": {"PORT": "8080"}}
    return {"exports/config.json.template": config_template().encode(),
            "exports/service.template": SERVICE_TEMPLATE.encode(),
            "exports/tmpfiles.template": TMPFILES_TEMPLATE.encode(),
            "exports/manifest.json": json.dumps(manifest, indent=2).encode()}


def layer_tar(shape: Shape, k: int, variant: int, content: _Content) -> bytes:
    """The uncompressed tar of layer ``k`` of ``shape`` at ``variant``."""
    files, total = shape.layer_split()[k]
    rnd = random.Random(shape.seed * 1000 + k)
    sizes = _sizes(rnd, files, total)
    dirs, paths = _layer_paths(k, files)
    buf = io.BytesIO()
    made: set[str] = set()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def mkdirs(path: str) -> None:
            parts = path.split("/")
            for i in range(1, len(parts) + 1):
                p = "/".join(parts[:i])
                if p not in made:
                    made.add(p)
                    tar.addfile(_info(p, tarfile.DIRTYPE, 0o755))

        for d in dirs:
            mkdirs(d)
        for i, (path, size) in enumerate(zip(paths, sizes)):
            file_rnd = random.Random(f"{shape.seed}/{k}/{i}")
            v = variant if _changed(shape, k, i) else 0
            data = content.make(path, v, size, file_rnd)
            mode = 0o755 if i % 3 == 0 else 0o644
            tar.addfile(_info(path, tarfile.REGTYPE, mode, len(data)), io.BytesIO(data))
            if i % 200 == 0:
                link = _info(path.rsplit("/", 1)[0] + f"/l{i}", tarfile.SYMTYPE, 0o777)
                link.linkname = path.rsplit("/", 1)[1]
                tar.addfile(link)
        if k > 0:
            _upper_edits(tar, shape, k, variant, content, mkdirs)
        if k == shape.layers - 1:
            for path, data in _exports().items():
                mkdirs(path.rsplit("/", 1)[0])
                tar.addfile(_info(path, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
    return buf.getvalue()


def _upper_edits(tar, shape: Shape, k: int, variant: int, content: _Content, mkdirs) -> None:
    """An upper layer deletes 10 files of the layer below and replaces 10 others."""
    lower_files = shape.layer_split()[k - 1][0]
    _dirs, lower = _layer_paths(k - 1, lower_files)
    step = max(1, lower_files // 20)
    for j, index in enumerate(range(1, lower_files, step)):
        path = lower[index]
        parent, name = path.rsplit("/", 1)
        mkdirs(parent)
        if j % 2 == 0:
            tar.addfile(_info(f"{parent}/.wh.{name}", tarfile.REGTYPE, 0o644))
        else:
            data = content.make(path, variant, 1000 + j, random.Random(f"edit/{k}/{j}"))
            tar.addfile(_info(path, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))


def _json(obj) -> bytes:
    return json.dumps(obj, indent=2, sort_keys=True).encode()


def generate(shape: Shape, out: Path, variant: int = 0) -> Generated:
    """Write ``shape`` at ``variant`` into the OCI layout ``out`` under tag ``v<variant+1>``."""
    out.mkdir(parents=True, exist_ok=True)
    content = _Content(shape.seed)
    layers = []
    for k in range(shape.layers):
        tar = layer_tar(shape, k, variant, content)
        diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
        blob = write_blob(out, gzip.compress(tar, compresslevel=6, mtime=0))
        layers.append(Blob(blob.digest, blob.size, diff_id))
    config = {"created": CREATED, "architecture": "amd64", "os": "linux",
              "config": {"Cmd": ["/bin/sh"], "Labels": {"atomic.type": "system",
                                                        "bench.shape": shape.name}},
              "rootfs": {"type": "layers", "diff_ids": [b.diff_id for b in layers]}}
    config_blob = write_blob(out, _json(config))
    manifest = write_blob(out, _json({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_blob.digest,
                   "size": config_blob.size},
        "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": b.digest, "size": b.size}
                   for b in layers]}))
    tag = f"v{variant + 1}"
    _add_to_index(out, tag, manifest)
    return Generated(shape, variant, out, tag, manifest, tuple(layers))


def _add_to_index(layout: Path, tag: str, manifest: Blob) -> None:
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    index_path = layout / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else \
        {"schemaVersion": 2, "manifests": []}
    index["manifests"] = [m for m in index["manifests"]
                          if m.get("annotations", {}).get(REF_ANNOTATION) != tag]
    index["manifests"].append({"mediaType": OCI_MANIFEST, "digest": manifest.digest,
                               "size": manifest.size, "annotations": {REF_ANNOTATION: tag}})
    index_path.write_bytes(_json(index))


def _args(argv: list[str]) -> argparse.Namespace:
    """A flag-like word is never taken as the output directory (`gen.py --help` once wrote
    269 MB into ./--help)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path, help="directory the layouts are written under (OUT/<shape>)")
    # no `choices`: argparse checks an empty `nargs="*"` list against them as one value
    ap.add_argument("shapes", nargs="*", metavar="SHAPE",
                    help=f"one of {', '.join(sorted(SHAPES))} (default: small medium)")
    args = ap.parse_args(argv)
    unknown = [s for s in args.shapes if s not in SHAPES]
    if unknown:
        ap.error(f"unknown shape {unknown[0]!r} (choose from {', '.join(sorted(SHAPES))})")
    args.shapes = args.shapes or ["small", "medium"]
    return args


def main(argv: list[str]) -> int:
    args = _args(argv)
    for name in args.shapes:
        for variant in (0, 1):
            g = generate(SHAPES[name], args.out / name, variant)
            size = sum(b.size for b in g.layers)
            print(f"{name} {g.tag}: {len(g.layers)} layers, {size / 1e6:.1f} MB compressed, "
                  f"{g.oci}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
