"""layers.scan_layer's inflate worker (docs/performance.md): what it produces equals the
single-threaded reader's output, its errors reach the caller, and it never outlives the scan."""

from __future__ import annotations

import gzip
import io
import tarfile
import threading

import pytest

from syscontainers.errors import BadImage
from syscontainers.images.layers import _BlobReader, scan_layer, TarSink


def _tar(n: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for i in range(n):
            data = (b"%d " % i) * (i * 997 % 50000)
            info = tarfile.TarInfo(f"d{i % 7}/f{i}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _workers() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "layer-inflate")


@pytest.mark.parametrize("compress", [True, False])
def test_prefetch_reads_the_same_stream(tmp_path, compress):
    tar = _tar(300)
    blob = tmp_path / "blob"
    blob.write_bytes(gzip.compress(tar) + gzip.compress(b"") if compress else tar)
    streams = []
    for prefetch in (False, True):
        with open(blob, "rb") as f:
            reader = _BlobReader(f, "L", prefetch=prefetch)
            out = bytearray()
            while not reader.at_end():
                out += reader.read(512)                    # a tar stream is whole blocks
                if not reader.at_end():
                    reader.pass_through(512, out.extend)
            reader.drain()
            reader.close()
            streams.append((bytes(out), reader.tar_hash.hexdigest(),
                            reader.blob_hash.hexdigest(), reader.tar_size))
    assert streams[0] == streams[1]
    assert streams[1][0] == tar
    assert _workers() == 0


def test_multi_member_gzip_ends(tmp_path):
    """A member ending exactly where an inflate step stops once made the reader loop."""
    tar = _tar(300)
    blob = tmp_path / "blob"
    blob.write_bytes(gzip.compress(tar) + gzip.compress(b""))
    out = bytearray()
    summary = scan_layer(blob, TarSink(out.extend), label="L")
    assert summary.uncompressed_size == len(tar)


def test_inflate_error_reaches_the_caller_and_the_worker_stops(tmp_path):
    good = gzip.compress(_tar(50))
    blob = tmp_path / "blob"
    blob.write_bytes(good[:len(good) // 2] + b"\xff" * 64 + good[len(good) // 2:])
    with pytest.raises(BadImage, match="corrupt gzip|truncated|malformed"):
        scan_layer(blob, TarSink(lambda _d: None), label="L")
    assert _workers() == 0


def test_a_bad_entry_stops_the_worker_early(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("../escape")
        tf.addfile(info, io.BytesIO(b""))
    blob = tmp_path / "blob"
    blob.write_bytes(gzip.compress(buf.getvalue() + _tar(2000)))   # much left to inflate
    with pytest.raises(BadImage, match=r"contains '\.\.'"):
        scan_layer(blob, TarSink(lambda _d: None), label="L")
    assert _workers() == 0
