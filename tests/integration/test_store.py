"""The OSTree store against real libostree: import, image records, tag/delete/prune/verify, and
the on-disk format atomic reads (refs, metadata keys and GVariant types)."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

from syscontainers.errors import AmbiguousImage, BadImage, ImageNotFound, StoreError
from syscontainers.images.model import Layer
from syscontainers.images.store import Store
from tests.fixtures.images import File, Symlink, layer_blob, whiteout
from tests.fixtures.store_images import (add_image, add_layer, blob_layer, checkout,
                                         image_documents, snapshot)

pytestmark = pytest.mark.root


@pytest.fixture
def store(store_paths):
    return Store(store_paths)


def refs(store) -> dict[str, str]:
    return store._reader().list_refs()


def show_key(store, ref: str, key: str) -> str:
    """``ostree show --print-metadata-key`` prints the GVariant text form (strings quoted)."""
    return subprocess.run(["ostree", f"--repo={store.paths.repo}", "show",
                           f"--print-metadata-key={key}", ref],
                          check=True, capture_output=True, text=True).stdout.strip()


def hostile_tar(entries) -> bytes:
    """entries: (name, type, data or link target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, extra in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = extra
            data = None
            if kind == tarfile.REGTYPE:
                info.size = len(extra)
                data = io.BytesIO(extra)
            tf.addfile(info, data)
    return gzip.compress(buf.getvalue())


HOSTILE = {
    "dotdot": ([("a/../../escape", tarfile.REGTYPE, b"x")], "contains '..'"),
    "symlink-then-through": ([("etc", tarfile.SYMTYPE, "/tmp"),
                              ("etc/x", tarfile.REGTYPE, b"x")], "not a directory"),
    "hardlink-outside": ([("a", tarfile.REGTYPE, b"1"),
                          ("b", tarfile.LNKTYPE, "../outside")], "contains '..'"),
    "dot-symlink": ([(".", tarfile.SYMTYPE, "/tmp"), ("x", tarfile.REGTYPE, b"1")],
                    "is a symlink, not a directory"),
    "whiteout-empty": ([("etc/.wh.", tarfile.REGTYPE, b"")], "invalid whiteout name"),
    "whiteout-dot": ([("etc/.wh..", tarfile.REGTYPE, b"")], "invalid whiteout name"),
    "whiteout-meta": ([("etc/.wh..wh.plnk", tarfile.REGTYPE, b"")], "invalid whiteout name"),
}


# --- importing layers ----------------------------------------------------------------------

def test_import_then_reimport_is_a_no_op(store, tmp_path):
    layer, path = blob_layer(tmp_path, layer_blob({"etc/motd": "hi"})[0])
    commit = store.import_layer(layer, path)
    assert store.has_layer(layer.digest)
    path.unlink()                                   # a present layer is not read again
    assert store.import_layer(layer, path) == commit
    assert refs(store) == {"ociimage/" + layer.digest[7:]: commit}


def test_layer_commit_metadata_is_what_containers_image_wrote(store, tmp_path):
    blob, diff_id = layer_blob({"etc/motd": "hi"})
    layer, path = blob_layer(tmp_path, blob)
    store.import_layer(layer, path, diff_id)
    ref = "ociimage/" + layer.digest[7:]
    assert show_key(store, ref, "docker.size") == f"'{len(blob)}'"
    assert show_key(store, ref, "docker.uncompressed_digest") == f"'{diff_id}'"
    out = subprocess.run(["ostree", f"--repo={store.paths.repo}", "ls", "-R", ref],
                         check=True, capture_output=True, text=True).stdout
    assert "/etc/motd" in out


def test_two_images_sharing_a_layer_store_it_once(store, tmp_path):
    base = {"bin/sh": File("sh", 0o755)}
    a = add_image(store, tmp_path, "example.com/a:1", [base, {"a": "1"}])
    b = add_image(store, tmp_path, "example.com/b:1", [base, {"b": "2"}])
    assert a.layers[0] == b.layers[0]
    layer_refs = [r for r in refs(store) if r == "ociimage/" + a.layers[0].digest[7:]]
    assert len(layer_refs) == 1


@pytest.mark.parametrize("what", ["digest", "diff_id", "size"])
def test_mismatch_is_bad_image_and_writes_nothing(store, tmp_path, what):
    add_layer(store, tmp_path, {"keep": "1"})
    before = refs(store)
    blob, diff_id = layer_blob({"etc/motd": "hi"})
    layer, path = blob_layer(tmp_path, blob)
    if what == "digest":
        layer = Layer("sha256:" + "0" * 64, layer.size)
    elif what == "size":
        layer = Layer(layer.digest, layer.size + 1)
    else:
        diff_id = "sha256:" + "1" * 64
    with pytest.raises(BadImage, match="does not match|bytes, the manifest says"):
        store.import_layer(layer, path, diff_id)
    assert refs(store) == before
    assert not list((store.paths.repo / "tmp").glob("staging-*/*/*"))


def test_corrupt_blob_is_reported_as_a_digest_mismatch(store, tmp_path):
    blob = bytearray(layer_blob({"etc/motd": "hi" * 1000})[0])
    layer, _ = blob_layer(tmp_path, bytes(blob))
    blob[len(blob) // 2] ^= 0xFF
    path = tmp_path / "corrupt"
    path.write_bytes(bytes(blob))
    with pytest.raises(BadImage, match="does not match its digest"):
        store.import_layer(layer, path)
    assert not store.has_layer(layer.digest)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_layer_is_rejected_and_nothing_is_written(store, tmp_path, case):
    entries, message = HOSTILE[case]
    layer, path = blob_layer(tmp_path, hostile_tar(entries))
    with pytest.raises(BadImage, match=message):
        store.import_layer(layer, path)
    assert refs(store) == {}


def test_absolute_names_are_imported_relative(store, tmp_path):
    image = add_image(store, tmp_path, "example.com/abs:1", [hostile_tar(
        [("/etc/abs", tarfile.REGTYPE, b"inside")])])
    assert store.read_file(image, "etc/abs") == b"inside"


def test_device_nodes_are_skipped_with_a_warning(store, tmp_path):
    said: list[str] = []             # the verb's say callback (the CLI prints warnings on stderr)
    image = add_image(store, tmp_path, "example.com/dev:1", [hostile_tar(
        [("dev/null", tarfile.CHRTYPE, None), ("dev/fifo", tarfile.FIFOTYPE, None),
         ("etc/ok", tarfile.REGTYPE, b"1")])], say=said.append)
    assert store.list_dir(image, "dev") == []
    assert store.read_file(image, "etc/ok") == b"1"
    [line] = said
    assert line.startswith("warning: layer sha256:")
    assert line.endswith(": 2 device node(s) or FIFO(s) not imported: dev/null, dev/fifo")


def test_hostile_layers_never_abort_the_process(store_paths, tmp_path):
    """libostree 2022.7 SIGABRTs on these tars; through the store they are one-line errors."""
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    for case, (entries, _message) in HOSTILE.items():
        (blobs / case).write_bytes(hostile_tar(entries))
    script = textwrap.dedent(f"""
        import hashlib, sys
        from pathlib import Path
        from syscontainers.config import Config
        from syscontainers.errors import BadImage
        from syscontainers.images.model import Layer
        from syscontainers.images.store import Store
        from syscontainers.paths import resolve_paths
        paths = resolve_paths(False, checkout_flag={str(store_paths.checkouts)!r},
                              repo_flag={str(store_paths.repo)!r}, env={{}}, config=Config())
        store = Store(paths)
        for blob in sorted(Path({str(blobs)!r}).iterdir()):
            data = blob.read_bytes()
            layer = Layer("sha256:" + hashlib.sha256(data).hexdigest(), len(data))
            try:
                store.import_layer(layer, blob)
                print("IMPORTED", blob.name)
            except BadImage as e:
                print("REJECTED", blob.name, e)
    """)
    src = str(Path(__file__).resolve().parents[2] / "src")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={"PYTHONPATH": src}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("REJECTED") == len(HOSTILE), proc.stdout


# --- images --------------------------------------------------------------------------------

def test_write_image_format_matches_atomic(store, tmp_path):
    layer = add_layer(store, tmp_path, {"a": "1"})
    manifest, digest, config = image_documents([layer], {"atomic.type": "system"})
    image = store.write_image("example.com/fmt/img:v1", manifest, digest, config)
    ref = "ociimage/example.com_2Ffmt_2Fimg_3Av1"
    assert show_key(store, ref, "docker.digest") == f"'{digest}'"
    meta = store._reader().commit_metadata(refs(store)[ref])
    assert meta["docker.manifest"] == manifest and meta["signatures"] == "0"
    config_ref = "ociimage/" + json.loads(manifest)["config"]["digest"][7:]
    assert show_key(store, config_ref, "docker.size") == f"'{len(config)}'"
    config_tree = checkout(store, refs(store)[config_ref], tmp_path / "config")
    assert (config_tree / "content").read_bytes() == config
    image_tree = checkout(store, refs(store)[ref], tmp_path / "image")
    assert (image_tree / "manifest.json").read_text() == manifest
    assert f"syscontainers/merged/{digest[7:]}" in refs(store)
    assert image.id == digest[7:] and image.names == ("example.com/fmt/img:v1",)
    assert image.labels == {"atomic.type": "system"}
    assert image.created == 1577934245                       # 2020-01-02T03:04:05Z
    assert image.virtual_size == layer.size


def test_write_image_needs_its_layers_and_a_matching_config(store, tmp_path):
    layer = add_layer(store, tmp_path, {"a": "1"})
    manifest, digest, config = image_documents([layer, Layer("sha256:" + "e" * 64, 1)])
    with pytest.raises(StoreError, match="is not in the store"):
        store.write_image("example.com/x:1", manifest, digest, config)
    manifest, digest, config = image_documents([layer])
    with pytest.raises(BadImage, match="config blob does not match"):
        store.write_image("example.com/x:1", manifest, digest, config + b" ")
    assert store.images(include_dangling=True) == []
    assert list(refs(store)) == ["ociimage/" + layer.digest[7:]]


def test_schema1_image(store, tmp_path):
    lower = add_layer(store, tmp_path, {"a": "lower", "b": "b"})
    upper = add_layer(store, tmp_path, {"a": "upper"})
    v1 = {"created": "2019-05-06T07:08:09Z", "container_config": {"Labels": {"k": "v"}}}
    manifest = json.dumps({"schemaVersion": 1, "name": "x", "tag": "1",
                           "fsLayers": [{"blobSum": upper.digest}, {"blobSum": lower.digest}],
                           "history": [{"v1Compatibility": json.dumps(v1)}]})
    digest = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
    image = store.write_image("example.com/old:1", manifest, digest, None)
    assert [layer.digest for layer in image.layers] == [lower.digest, upper.digest]
    assert image.labels == {"k": "v"} and image.created == 1557126489
    assert store.read_file(image, "a") == b"upper"


def test_resolve_by_name_short_name_and_id(store, tmp_path):
    image = add_image(store, tmp_path, "docker.io/library/busybox:latest", [{"a": "1"}])
    assert store.resolve("docker.io/library/busybox:latest").id == image.id
    assert store.resolve("busybox").id == image.id
    assert store.resolve(image.id[:12]).names == ("docker.io/library/busybox:latest",)
    assert store.resolve("sha256:" + image.id).id == image.id
    with pytest.raises(ImageNotFound, match="^image nothere not found$"):
        store.resolve("nothere")
    assert store.find("busybox") is None


def test_ambiguous_id_prefix(store, tmp_path):
    by_first: dict[str, list] = {}
    n = 0
    while not any(len(v) > 1 for v in by_first.values()):
        image = add_image(store, tmp_path, f"example.com/amb/i{n}:1", [{"n": str(n)}])
        by_first.setdefault(image.id[0], []).append(image)
        n += 1
    prefix, clash = next((k, v) for k, v in by_first.items() if len(v) > 1)
    with pytest.raises(AmbiguousImage, match=f"prefix '{prefix}'"):
        store.resolve(prefix)
    with pytest.raises(AmbiguousImage, match=f"matches {len(clash)} images: "):
        store.resolve_all(prefix)                  # never "delete them all"
    assert store.resolve(clash[0].id).id == clash[0].id


def test_tag_delete_and_merged_ref_lifetime(store, tmp_path):
    image = add_image(store, tmp_path, "example.com/t/a:1", [{"a": "1"}])
    merged_ref = f"syscontainers/merged/{image.id}"
    store.tag(image, "example.com/t/b:2")
    both = store.resolve("example.com/t/b:2")
    assert both.commit == image.commit and set(both.names) == {"example.com/t/a:1",
                                                               "example.com/t/b:2"}
    assert [len(i.names) for i in store.images()] == [2]
    [only_a] = store.resolve_all("example.com/t/a:1")
    assert store.delete(only_a) == ["example.com/t/a:1"]
    assert merged_ref in refs(store)                       # b still names the image
    [only_b] = store.resolve_all("example.com/t/b:2")
    assert store.delete(only_b, in_use_ids={image.id}) == ["example.com/t/b:2"]
    assert merged_ref in refs(store)                       # a container uses it
    assert store.images() == []
    assert [i.id for i in store.images(include_dangling=True)] == [image.id]
    assert store.delete(dataclasses.replace(image, names=())) == []
    assert merged_ref not in refs(store)


def test_prune_keeps_what_tagged_images_need(store, tmp_path):
    shared = {"bin/sh": File("sh" * 1000, 0o755)}
    a = add_image(store, tmp_path, "example.com/p/a:1", [shared, {"a": "1"}], {"n": "a"})
    b = add_image(store, tmp_path, "example.com/p/b:1", [shared, {"b": "x" * 50000}], {"n": "b"})
    c = add_image(store, tmp_path, "example.com/p/c:1", [{"c": "3"}], {"n": "c"})
    store.delete(b)                                 # its merged tree goes with its last name
    store.delete(c, in_use_ids={c.id})              # kept: a container uses it
    assert f"syscontainers/merged/{b.id}" not in refs(store)
    store._reader().set_ref("ociimage/bad_zzname", a.commit)
    storage = store.paths.layers_dir
    (storage / b.layers[1].digest[7:]).mkdir(parents=True)
    (storage / a.layers[1].digest[7:]).mkdir()
    before = refs(store)
    expect = sorted(["ociimage/" + b.layers[1].digest[7:], "ociimage/bad_zzname",
                     "ociimage/" + json.loads(b.manifest_raw)["config"]["digest"][7:],
                     "ociimage/" + c.layers[0].digest[7:],
                     "ociimage/" + json.loads(c.manifest_raw)["config"]["digest"][7:]])
    dry = store.prune({c.id}, dry_run=True)
    assert sorted(dry.removed_refs) == expect and dry.bytes_freed > 50000
    assert refs(store) == before and (storage / b.layers[1].digest[7:]).exists()
    report = store.prune({c.id})
    assert sorted(report.removed_refs) == expect
    assert report.removed_dirs == (str(storage / b.layers[1].digest[7:]),)
    assert report.bytes_freed == dry.bytes_freed
    assert (storage / a.layers[1].digest[7:]).exists()
    assert f"syscontainers/merged/{c.id}" in refs(store)
    assert store.verify(store.resolve("example.com/p/a:1")) == []
    tree = snapshot(checkout(store, store.merged_commit(a), tmp_path / "rootfs"))
    assert tree["a"][1] == b"1" and tree["bin/sh"][0] == "file"
    assert store.prune(set()).removed_refs == (f"syscontainers/merged/{c.id}",)


def test_verify_detects_a_changed_object(store, tmp_path):
    image = add_image(store, tmp_path, "example.com/v:1",
                      [{"usr/bin/tool": File("original", 0o755), "etc/x": "x",
                        "lnk": Symlink("etc/x")}])
    assert store.verify(image) == []
    repo = store._reader()
    node = repo.tree_lookup(repo.resolve("ociimage/" + image.layers[0].digest[7:]),
                             "usr/bin/tool")
    obj = store.paths.repo / "objects" / node[1][:2] / f"{node[1][2:]}.file"
    with open(obj, "r+b") as f:                                  # in place, like a write
        f.write(b"tampered")                                     # through a hard link
    [bad] = store.verify(image)
    assert (bad.layer, bad.path, bad.expected) == (image.layers[0].digest, "usr/bin/tool",
                                                   node[1])
    assert bad.actual != bad.expected


def test_user_mode_repo_strips_setuid(store_paths, tmp_path):
    paths = dataclasses.replace(store_paths, user_mode=True)
    store = Store(paths)
    image = add_image(store, tmp_path, "example.com/u:1",
                      [{"bin/su": File("su", 0o4755), "etc/shadow": File("s", 0o000)}])
    assert "mode = bare-user" in (paths.repo / "config").read_text().replace("mode=", "mode = ")
    tree = snapshot(checkout(store, store.merged_commit(image), tmp_path / "rootfs"))
    assert tree["bin/su"][2] == 0o755 and tree["etc/shadow"][2] == 0o600


def test_system_mode_keeps_setuid(store, tmp_path):
    image = add_image(store, tmp_path, "example.com/s:1", [{"bin/su": File("su", 0o4755)}])
    tree = snapshot(checkout(store, store.merged_commit(image), tmp_path / "rootfs"))
    assert tree["bin/su"][2] == 0o4755


def test_reads_a_repo_written_the_way_atomic_did(store, tmp_path):
    """Layers, config and image committed with the ostree CLI as containers-image did."""
    store._writer()
    repo = str(store.paths.repo)
    blob, _ = layer_blob({"etc/hello": "world", "exports/manifest.json": "{}"})
    layer, path = blob_layer(tmp_path, blob)
    manifest, digest, config = image_documents([layer], {"atomic.type": "system"})
    cfg_dir = tmp_path / "cfg"
    cfg_dir.mkdir()
    (cfg_dir / "content").write_bytes(config)
    man_dir = tmp_path / "man"
    man_dir.mkdir()
    (man_dir / "manifest.json").write_text(manifest)

    def commit(branch, tree_args, *meta):
        subprocess.run(["ostree", f"--repo={repo}", "commit", f"--branch={branch}", *tree_args,
                        *[f"--add-metadata-string={m}" for m in meta]],
                       check=True, capture_output=True)

    layer_dir = tmp_path / "layer"                  # containers-image untarred, then committed
    with tarfile.open(path) as tf:
        tf.extractall(layer_dir)                   # our own test data
    commit("ociimage/" + layer.digest[7:], [f"--tree=dir={layer_dir}"], f"docker.size={len(blob)}")
    commit("ociimage/" + json.loads(manifest)["config"]["digest"][7:],
           [f"--tree=dir={cfg_dir}"], f"docker.size={len(config)}")
    commit("ociimage/example.com_2Fold_2Fimg_3Alatest", [f"--tree=dir={man_dir}"],
           f"docker.manifest={manifest}", "signatures=0", f"docker.digest={digest}")
    [image] = store.images()
    assert image.names == ("example.com/old/img:latest",) and image.id == digest[7:]
    assert image.labels == {"atomic.type": "system"} and image.virtual_size == len(blob)
    assert store.read_file(image, "etc/hello") == b"world"      # merged tree built on demand
    assert store.verify(image) == []


def test_verify_reports_a_missing_object(store, tmp_path):
    """An object deleted from the repository is reported, never counted as intact."""
    image = add_image(store, tmp_path, "example.com/v:2", [{"etc/gone": "soon gone\n", "etc/kept": "k"}])
    repo = store._reader()
    node = repo.tree_lookup(repo.resolve("ociimage/" + image.layers[0].digest[7:]), "etc/gone")
    (store.paths.repo / "objects" / node[1][:2] / f"{node[1][2:]}.file").unlink()
    [bad] = store.verify(image)
    assert (bad.path, bad.expected, bad.actual) == ("etc/gone", node[1], "(missing)")


def test_reading_the_merged_tree_never_writes(store, tmp_path):
    """An image without a merged commit (as atomic stored it): read_file and list_dir merge its
    layers in memory and write nothing (they run without the host lock); checkout writes the
    merged commit (docs/architecture.md, "Store seam")."""
    image = add_image(store, tmp_path, "example.com/lazy:1",
                      [{"etc/a": "1", "etc/b": "2", "bin/sh": File("sh", 0o755)},
                       whiteout("etc/a") | {"etc/c": "3", "lnk": Symlink("etc/c")}])
    merged = f"syscontainers/merged/{image.id}"
    store._reader().set_ref(merged, None)
    objects_before = sorted(p.name for p in (store.paths.repo / "objects").rglob("*"))
    assert store.list_dir(image, "etc") == ["b", "c"]
    assert store.list_dir(image, "/") == ["bin", "etc", "lnk"]
    assert store.read_file(image, "etc/c") == b"3"
    assert store.read_file(image, "etc/a") is None                   # whited out
    assert store.read_file(image, "lnk") is None                     # a symlink: not followed
    assert store.read_file(image, "etc") is None and store.list_dir(image, "etc/b") is None
    assert store.read_file(image, "etc/../etc/c") is None
    assert merged not in refs(store)
    assert sorted(p.name for p in (store.paths.repo / "objects").rglob("*")) == objects_before
    store.checkout(image, tmp_path / "rootfs")
    assert merged in refs(store)
    assert (tmp_path / "rootfs" / "etc" / "c").read_text() == "3"
    assert store.list_dir(image, "etc") == ["b", "c"]                # now from the commit
    assert store.read_file(image, "etc/../etc/c") is None


def test_a_checkout_holds_the_repository_lock_against_prune(store, tmp_path, monkeypatch):
    """While the merged tree is resolved and checked out, libostree's repository lock is held
    shared, so a prune (which deletes objects under the exclusive lock) cannot run. libostree
    locks ``.lock`` with an open-file-description lock, which conflicts with a POSIX record
    lock even in the same process: the probe below."""
    import fcntl

    from syscontainers.images.store import checkout as checkout_module

    image = add_image(store, tmp_path, "example.com/locked:1", [{"a": "1"}])
    seen = []
    real = checkout_module.checkout_commit

    def probe(repo, commit, dest, user_mode, copy=False):
        fd = os.open(store.paths.repo / ".lock", os.O_RDWR)
        try:
            with pytest.raises(OSError):
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            seen.append(commit)
        finally:
            os.close(fd)
        real(repo, commit, dest, user_mode, copy=copy)

    monkeypatch.setattr(checkout_module, "checkout_commit", probe)
    store.checkout(image, tmp_path / "rootfs")
    assert seen == [store.merged_commit(image)] and (tmp_path / "rootfs" / "a").exists()
    fd = os.open(store.paths.repo / ".lock", os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)                # released afterwards
    finally:
        os.close(fd)


def test_a_damaged_repository_is_one_store_error(store, tmp_path):
    image = add_image(store, tmp_path, "example.com/dmg:1", [{"etc/a": "1"}, {"etc/b": "2"}])
    repo = store._reader()
    tree, _meta = repo.commit_root(repo.layer_commit(image.layers[0].digest))
    (store.paths.repo / "objects" / tree[:2] / f"{tree[2:]}.dirtree").unlink()
    for call in (lambda: store.verify(image), lambda: store.prune(set(), dry_run=True)):
        with pytest.raises(StoreError, match=f"the OSTree repository at {store.paths.repo} is "
                                             "damaged: .*ostree fsck"):
            call()


def test_tagged_images_are_read_once_per_state_of_the_refs(store, store_paths, tmp_path,
                                                           monkeypatch):
    """update --all looks up the installed image once per container: the records are read
    again only when the refs changed (docs/performance.md, "Where the time goes"), and every
    Store over the repository sees a change made through another."""
    image = add_image(store, tmp_path, "example.com/t/once:1", [{"a": "1"}])
    reads = []
    real = Store._record
    monkeypatch.setattr(Store, "_record", lambda self, *a: reads.append(1) or real(self, *a))
    for _ in range(3):
        assert Store(store_paths).by_id(image.id).names == ("example.com/t/once:1",)
    assert len(reads) <= 1
    store.tag(image, "example.com/t/once:2")
    assert set(Store(store_paths).by_id(image.id).names) == {"example.com/t/once:1",
                                                            "example.com/t/once:2"}
    [first] = Store(store_paths).resolve_all("example.com/t/once:1")
    Store(store_paths).delete(first)
    assert Store(store_paths).by_id(image.id).names == ("example.com/t/once:2",)


@pytest.mark.parametrize("files, dirs, name_len", [(0, 0, 1), (1, 0, 1), (0, 1, 1), (100, 5, 10),
                                                   (3000, 10, 30), (10, 3000, 200)])
def test_dirtrees_are_read_as_glib_reads_them(store, tmp_path, files, dirs, name_len):
    """repo.parse_dirtree (the merged tree reads every dirtree of every layer: 3.7 s of a
    100 000-file image through GLib's accessors, docs/performance.md) gives what GLib gives,
    for every size of framing offset (1, 2 and 4 bytes), for dirtrees libostree wrote."""
    from syscontainers.images.store.repo import GLib, _dirtree_entries, parse_dirtree

    repo = store._writer()
    checksum = hashlib.sha256
    file_list = [(f"f{'é' * (i % name_len)}{i}", checksum(b"f%d" % i).hexdigest())
                 for i in range(files)]
    dir_list = [(f"d{'x' * (i % name_len)}{i}", checksum(b"t%d" % i).hexdigest(),
                 checksum(b"m%d" % i).hexdigest()) for i in range(dirs)]
    with repo.transaction():
        tree = repo.write_dirtree(file_list, dir_list)
    assert repo.load_dirtree(tree) == (sorted(file_list), sorted(dir_list))
    from syscontainers.images.store.repo import OSTree
    _, variant = repo._repo.load_variant(OSTree.ObjectType.DIR_TREE, tree)
    assert parse_dirtree(variant.get_data_as_bytes().get_data()) == _dirtree_entries(variant)
    assert isinstance(variant, GLib.Variant)


def test_a_dirtree_framed_otherwise_is_refused_by_the_fast_reader():
    from syscontainers.images.store.repo import parse_dirtree

    for bad in (b"", b"\x05", b"abc\x00" + bytes(32) + b"\x04\x02"):
        with pytest.raises(ValueError):
            parse_dirtree(bad)


def test_the_merged_tree_of_a_real_image_reads_every_dirtree_alike(store, tmp_path):
    from syscontainers.images.store.repo import OSTree, _dirtree_entries, parse_dirtree

    image = add_image(store, tmp_path, "example.com/t/trees:1",
                      [{"a/b/c": "1", "a/d": "2", "e": "3"}, {"a/b/f": "4", "g/h/i": "5"}])
    repo = store._reader()
    tree, _ = repo.commit_root(store.merged_commit(image))
    seen, todo = 0, [tree]
    while todo:
        _, variant = repo._repo.load_variant(OSTree.ObjectType.DIR_TREE, todo.pop())
        files, dirs = parse_dirtree(variant.get_data_as_bytes().get_data())
        assert (files, dirs) == _dirtree_entries(variant)
        todo += [t for _, t, _ in dirs]
        seen += 1
    assert seen >= 5
