"""The merged tree (merge.py), built in a real repository and checked out with libostree.

Each test imports real layers, asks the store for the image's merged commit, checks it out into
an empty directory and looks at the files.
"""

from __future__ import annotations

import tarfile

import pytest

from syscontainers.images.store import Store
from tests.fixtures.images import Dir, File, HardLink, Raw, Symlink, opaque, whiteout
from tests.fixtures.store_images import add_image, checkout, snapshot

pytestmark = pytest.mark.root


@pytest.fixture
def store(store_paths):
    return Store(store_paths)


def merged(store, tmp_path, layers, name="example.com/merge/test:v1"):
    image = add_image(store, tmp_path, name, layers)
    dest = checkout(store, store.merged_commit(image), tmp_path / "rootfs")
    return snapshot(dest)


def raw_file(name: str, data: bytes = b"x", mode: int = 0o644) -> Raw:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return Raw(info, data)


def test_whiteout_removes_lower_file_and_leaves_no_trace(store, tmp_path):
    tree = merged(store, tmp_path, [{"etc/a": "1", "etc/b": "2"}, whiteout("etc/a")])
    assert "etc/a" not in tree and tree["etc/b"][1] == b"2"
    assert not any(".wh." in path for path in tree)


def test_whiteout_removes_lower_directory(store, tmp_path):
    tree = merged(store, tmp_path, [{"opt/app/bin/x": "1", "opt/keep": "k"}, whiteout("opt/app")])
    assert not any(p.startswith("opt/app") for p in tree) and "opt/keep" in tree


def test_opaque_directory_keeps_only_its_own_layer(store, tmp_path):
    tree = merged(store, tmp_path, [
        {"var/data/a": "1", "var/data/sub/x": "2", "var/other": "o"},
        opaque("var/data") | {"var/data/b": "3"}])
    assert sorted(p for p in tree if p.startswith("var/data/")) == ["var/data/b"]
    assert "var/other" in tree


def test_whiteout_does_not_hide_its_own_layer(store, tmp_path):
    tree = merged(store, tmp_path, [{"etc/a": "old"}, whiteout("etc/a") | {"etc/a": "new"}])
    assert tree["etc/a"][1] == b"new"


def test_higher_file_replaces_lower_file(store, tmp_path):
    tree = merged(store, tmp_path, [{"etc/a": "old"}, {"etc/a": File("new", 0o600)}])
    assert tree["etc/a"][1:] == (b"new", 0o600)


def test_directory_over_file_replaces_it(store, tmp_path):
    tree = merged(store, tmp_path, [{"x": "file"}, {"x/y": "1"}])
    assert tree["x"][0] == "dir" and tree["x/y"][1] == b"1"


def test_file_over_directory_replaces_it(store, tmp_path):
    tree = merged(store, tmp_path, [{"x/y": "1", "x/z/w": "2"}, {"x": "file"}])
    assert tree["x"] == ("file", b"file", 0o644)
    assert not any(p.startswith("x/") for p in tree)


def test_symlink_over_directory_replaces_it(store, tmp_path):
    tree = merged(store, tmp_path, [{"etc/passwd": "p"}, {"etc": Symlink("/host/etc")}])
    assert tree["etc"] == ("link", "/host/etc") and "etc/passwd" not in tree


@pytest.mark.parametrize("with_dir_entry", [True, False])
def test_lower_symlink_is_never_followed(store, tmp_path, with_dir_entry):
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "keep").write_text("host file")
    upper = {"etc/x": "pwned"} if with_dir_entry else {"etc/x": raw_file("etc/x", b"pwned")}
    tree = merged(store, tmp_path, [{"etc": Symlink(str(canary)), "bin/sh": "sh"}, upper])
    assert [p.name for p in canary.iterdir()] == ["keep"]
    assert (canary / "keep").read_text() == "host file"
    assert tree["etc"][0] == "dir" and tree["etc/x"][1] == b"pwned"
    assert tree["bin/sh"][1] == b"sh"


def test_autocreated_parent_keeps_lower_directory_metadata(store, tmp_path):
    tree = merged(store, tmp_path, [{"tmp": Dir(0o1777), "srv": Dir(0o750)},
                                    {"tmp/x": raw_file("tmp/x"), "srv": Dir(0o700),
                                     "srv/y": "1"}])
    assert tree["tmp"] == ("dir", 0o1777)             # the upper layer had no entry for tmp
    assert tree["srv"] == ("dir", 0o700)              # the upper layer's own entry wins


def test_root_is_0755_and_dangling_whiteouts_are_dropped(store, tmp_path):
    image = add_image(store, tmp_path, "example.com/merge/root:v1",
                      [{".wh.nothing": b"", "a/.wh..wh..opq": b"", "a/f": "1"}])
    commit = store.merged_commit(image)
    dest = checkout(store, commit, tmp_path / "rootfs")
    assert (dest.stat().st_mode & 0o7777, dest.stat().st_uid) == (0o755, 0)
    assert snapshot(dest) == {"a": ("dir", 0o755), "a/f": ("file", b"1", 0o644)}


def test_hard_links_share_one_object(store, tmp_path):
    image = add_image(store, tmp_path, "example.com/merge/links:v1",
                      [{"bin/a": File("x", 0o755), "bin/b": HardLink("bin/a")}])
    dest = checkout(store, store.merged_commit(image), tmp_path / "rootfs")
    assert (dest / "bin/a").stat().st_ino == (dest / "bin/b").stat().st_ino


def test_untouched_layer_trees_are_reused(store, tmp_path):
    image = add_image(store, tmp_path, "example.com/merge/reuse:v1",
                      [{"usr/lib/a": "1", "usr/lib/b": "2"}, {"etc/c": "3"}])
    repo = store._reader()
    merged_tree, _ = repo.commit_root(store.merged_commit(image))
    lower_tree, _ = repo.commit_root(repo.resolve("ociimage/" +
                                                          image.layers[0].digest[7:]))
    _files, merged_dirs = repo.load_dirtree(merged_tree)
    _files, lower_dirs = repo.load_dirtree(lower_tree)
    assert dict((n, t) for n, t, _m in merged_dirs)["usr"] == \
        dict((n, t) for n, t, _m in lower_dirs)["usr"]


def test_merged_tree_is_built_for_images_that_have_none(store, tmp_path):
    image = add_image(store, tmp_path, "example.com/merge/late:v1", [{"a": "1"}, {"b": "2"}])
    repo = store._reader()
    first = store.merged_commit(image)
    repo.set_ref(f"syscontainers/merged/{image.id}", None)    # as after atomic's pull
    second = store.merged_commit(image)
    assert repo.resolve(f"syscontainers/merged/{image.id}") == second
    assert repo.commit_root(first) == repo.commit_root(second)
    assert store.read_file(image, "b") == b"2"


def test_read_file_and_list_dir(store, tmp_path):
    image = add_image(store, tmp_path, "example.com/merge/read:v1",
                      [{"exports/manifest.json": '{"defaultValues": {}}',
                        "exports/hostfs/etc/x": "1", "exports/link": Symlink("manifest.json")},
                       whiteout("exports/hostfs")])
    assert store.read_file(image, "exports/manifest.json") == b'{"defaultValues": {}}'
    assert store.read_file(image, "/exports/manifest.json") == b'{"defaultValues": {}}'
    assert store.list_dir(image, "exports") == ["link", "manifest.json"]
    assert store.read_file(image, "exports/link") is None          # symlinks are not followed
    assert store.read_file(image, "exports") is None
    assert store.read_file(image, "exports/missing") is None
    assert store.list_dir(image, "exports/manifest.json") is None
    assert store.list_dir(image, "nope") is None
    assert store.list_dir(image, "") == ["exports"]

