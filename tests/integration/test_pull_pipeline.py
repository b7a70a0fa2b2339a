"""The pull's overlap of fetch and import (images/pull.py, steps 3-5; docs/performance.md,
"Pull: fetch and import overlap") on the real components: a docker-registry on 127.0.0.1,
skopeo, libostree. Layers are imported while skopeo still fetches others, all in one store
transaction: whatever fails, or a kill at any point, leaves no ref at all."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time

import pytest

from syscontainers.errors import SysContainersError
from syscontainers.images.pull import pull
from syscontainers.images.reference import layer_ref_name
from syscontainers.images.store import Store
from tests.fixtures.images import ImageSpec, build_oci_layout, copy_layout, write_blob
from tests.testhost.host import REPO_ROOT

pytestmark = [pytest.mark.registry, pytest.mark.root]

SC = str(REPO_ROOT / ".venv/bin/syscontainers")


def _spec(tag: str, layers: int = 3) -> ImageSpec:
    """An image of ``layers`` layers over busybox, its content unique to ``tag``."""
    return ImageSpec(layers=[{f"srv/{tag}/{k}/f{i}": f"{tag} {k} {i}\n" * (i + 1)
                              for i in range(40)} for k in range(layers)],
                     labels={"test": tag})


def _refs(paths) -> set[str]:
    """Every ref of the repository (layers, configs, images, merged trees)."""
    heads = paths.repo / "refs" / "heads"
    if not heads.exists():
        return set()
    return {str(p.relative_to(heads)) for p in heads.rglob("*") if p.is_file()}


def _leftovers(paths) -> list[str]:
    out = [str(p) for p in paths.tmp_dir.iterdir()] if paths.tmp_dir.exists() else []
    if paths.blob_cache.exists():
        out += [str(p) for p in paths.blob_cache.rglob("*") if p.is_file()]
    return out


def _registry_blob(registry, digest: str):
    hex_ = digest.split(":", 1)[1]
    path = (registry.root / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256" /
            hex_[:2] / hex_ / "data")
    assert path.is_file(), path
    return path


def _fsck(paths) -> None:
    res = subprocess.run(["ostree", f"--repo={paths.repo}", "fsck"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_a_layer_corrupted_in_the_registry_is_refused_with_nothing_referenced(
        registry, tmp_path, store_paths):
    image = build_oci_layout(_spec("corrupt"), tmp_path / "layout", "v1")
    ref = f"http:{registry.push(image.layout, 'v1', 'pipeline/corrupt')}"
    blob = _registry_blob(registry, image.layers[2].digest)
    good = blob.read_bytes()
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF                          # same size, other content
    blob.write_bytes(bytes(bad))
    store = Store(store_paths)
    try:
        with pytest.raises(SysContainersError) as exc:
            pull(store, ref, store_paths)
    finally:
        blob.write_bytes(good)
    assert "\n" not in str(exc.value)
    assert _refs(store_paths) == set()                   # not even the good layers' refs
    assert _leftovers(store_paths) == []
    result = pull(store, ref, store_paths)               # the registry repaired: it works
    assert result.image.id == image.id
    assert set(result.fetched) == {b.digest for b in image.layers}
    _fsck(store_paths)


def _with_wrong_diff_id(image, layout, index: int) -> tuple[str, str]:
    """A copy of ``image`` whose config names a wrong diff_id for layer ``index`` (config and
    manifest rewritten, digests right): every blob is intact, the lie is found only once the
    layer is uncompressed. Returns the new manifest digest and the tag."""
    config = json.loads(image.config_raw)
    config["rootfs"]["diff_ids"][index] = "sha256:" + hashlib.sha256(b"not this").hexdigest()
    config_blob = write_blob(layout, json.dumps(config).encode())
    manifest = json.loads(image.manifest_raw)
    manifest["config"] = {**manifest["config"], "digest": config_blob.digest,
                          "size": config_blob.size}
    manifest_blob = write_blob(layout, json.dumps(manifest).encode())
    index_path = layout / "index.json"
    index_doc = json.loads(index_path.read_text())
    index_doc["manifests"] = [{"mediaType": manifest["mediaType"], "digest": manifest_blob.digest,
                               "size": manifest_blob.size,
                               "annotations": {"org.opencontainers.image.ref.name": "lie"}}]
    index_path.write_text(json.dumps(index_doc))
    return manifest_blob.digest, "lie"


def test_a_wrong_diff_id_found_after_the_import_leaves_no_ref(registry, tmp_path, store_paths):
    image = build_oci_layout(_spec("diffid"), tmp_path / "layout", "v1")
    layout = copy_layout(image.layout, tmp_path / "lie")
    _, tag = _with_wrong_diff_id(image, layout, 1)
    ref = f"http:{registry.push(layout, tag, 'pipeline/diffid')}"
    store = Store(store_paths)
    with pytest.raises(SysContainersError) as exc:
        pull(store, ref, store_paths)
    assert "diff_id" in str(exc.value) and "\n" not in str(exc.value)
    assert _refs(store_paths) == set()
    assert _leftovers(store_paths) == []


def test_shared_layers_of_one_pull_are_imported_once(registry, tmp_path, store_paths):
    """v2 repeats two of v1's layers; a pull of v1 then v2 fetches and imports only what is
    new, and both images check out complete (their merged trees name every layer)."""
    v1 = build_oci_layout(_spec("shared", 2), tmp_path / "layout", "v1")
    spec2 = _spec("shared", 2)
    v2 = build_oci_layout(ImageSpec(layers=[*spec2.layers, {"srv/shared/new": "v2\n"}],
                                    labels={"test": "shared2"}), tmp_path / "layout", "v2")
    ref1 = f"http:{registry.push(v1.layout, 'v1', 'pipeline/shared')}"
    ref2 = f"http:{registry.push(v2.layout, 'v2', 'pipeline/shared')}"
    store = Store(store_paths)
    first = pull(store, ref1, store_paths)
    mark = registry.mark()
    second = pull(store, ref2, store_paths)
    assert set(first.fetched) == {b.digest for b in v1.layers}
    assert second.fetched == (v2.layers[-1].digest,)
    fetched = set(registry.blob_gets(mark))
    assert v2.layers[-1].digest in fetched
    assert not fetched & {b.digest for b in v1.layers}, "stored layers were fetched again"
    for image in (first.image, second.image):
        dest = tmp_path / f"co-{image.id[:12]}"
        store.checkout(image, dest)
        assert (dest / "srv/shared/1/f39").read_text().startswith("shared 1 39")
    assert (tmp_path / f"co-{second.image.id[:12]}" / "srv/shared/new").read_text() == "v2\n"
    assert {layer_ref_name(b.digest) for b in v1.layers + v2.layers} <= _refs(store_paths)
    assert _leftovers(store_paths) == []
    _fsck(store_paths)


def _cli(store_paths, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([SC, "--checkout-path", str(store_paths.checkouts), "--repo",
                           str(store_paths.repo), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def _processes_using(text: str) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if text.encode() in f.read():
                        out.append(int(entry))
            except OSError:
                pass
    return out


def test_a_pull_killed_after_a_layer_leaves_no_ref_and_the_next_pull_works(
        registry, tmp_path, store_paths):
    image = build_oci_layout(_spec("killed"), tmp_path / "layout", "v1")
    ref = f"http:{registry.push(image.layout, 'v1', 'pipeline/killed')}"
    crashed = _cli(store_paths, "pull", "-q", ref,
                   env={"SYSCONTAINERS_CRASH_AT": "pull-layer-written"})
    assert crashed.returncode == -9, crashed.stderr
    # skopeo dies with it (PR_SET_PDEATHSIG): nothing writes on into the blob cache
    deadline = time.monotonic() + 10
    while _processes_using(str(store_paths.blob_cache)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_using(str(store_paths.blob_cache)) == []
    assert _refs(store_paths) == set()
    again = _cli(store_paths, "pull", "-q", ref)
    assert again.returncode == 0, again.stderr
    store = Store(store_paths)
    found = store.find(ref.split(":", 1)[1])
    assert found is not None and found.id == image.id
    assert all(store.has_layer(b.digest) for b in image.layers)
    assert _leftovers(store_paths) == []
    _fsck(store_paths)
