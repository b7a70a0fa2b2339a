"""pull into a real OSTree store from every transport: names, digests, reuse, failures."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from syscontainers.errors import SysContainersError
from syscontainers.images.pull import PullOptions, pull
from syscontainers.images.store import Store
from tests.fixtures.images import (ImageSpec, build_multiarch_layout, build_oci_layout, copy_layout,
                                   export_docker_archive, export_oci_archive)

pytestmark = [pytest.mark.registry, pytest.mark.root]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """v1 and v2 share the busybox layer; v2 adds one layer with a whiteout."""
    layout = tmp_path_factory.mktemp("pull") / "layout"
    v1 = build_oci_layout(ImageSpec(layers=[{"etc/app": "1\n", "etc/old": "x"}], labels={"v": "1"}),
                          layout, "v1")
    v2 = build_oci_layout(ImageSpec(layers=[{"etc/app": "1\n", "etc/old": "x"},
                                            {"etc/.wh.old": b"", "etc/app2": "2\n"}],
                                    labels={"v": "2"}), layout, "v2")
    return v1, v2


@pytest.fixture(scope="module")
def pushed(registry, images):
    v1, v2 = images
    registry.push(v1.layout, "v1", "pull/app")
    registry.push(v1.layout, "v2", "pull/app")
    registry.push(v1.layout, "v1", "pull/app-s2", fmt="v2s2")
    return v1, v2


def leftovers(paths) -> list[str]:
    """Anything a pull must not leave behind: work dirs and blob cache content."""
    out = []
    tmp = paths.tmp_dir
    if tmp.exists():
        out += [str(p) for p in tmp.iterdir()]
    if paths.blob_cache.exists():
        out += [str(p) for p in paths.blob_cache.rglob("*") if p.is_file()]
    return out


def test_registry_pull_stores_the_registry_digest(registry, pushed, store_paths):
    v1, _ = pushed
    store = Store(store_paths)
    messages = []
    result = pull(store, f"http:{registry.host}/pull/app:v1", store_paths, say=messages.append)
    assert result.name == f"{registry.host}/pull/app:v1"
    assert result.image.id == v1.id                      # the registry's manifest digest
    assert result.image.manifest_raw.encode() == v1.manifest_raw
    assert set(result.fetched) == {b.digest for b in v1.layers}
    found = store.find(result.name)
    assert found is not None and found.id == v1.id
    assert found.labels == {"v": "1"}
    assert all(store.has_layer(b.digest) for b in v1.layers)
    assert leftovers(store_paths) == []


def test_repull_contacts_nobody_and_update_fetches_no_blob(registry, pushed, store_paths):
    store = Store(store_paths)
    ref = f"http:{registry.host}/pull/app:v1"
    pull(store, ref, store_paths)
    mark = registry.mark()
    again = pull(store, ref, store_paths)
    assert again.skipped and registry.mark() == mark      # not even a manifest request
    updated = pull(store, ref, store_paths, PullOptions(update=True))
    assert updated.skipped and updated.image.id == again.image.id
    assert registry.blob_gets(mark) == []


def test_shared_layers_are_fetched_and_stored_once(registry, pushed, store_paths):
    v1, v2 = pushed
    store = Store(store_paths)
    pull(store, f"http:{registry.host}/pull/app:v1", store_paths)
    mark = registry.mark()
    result = pull(store, f"http:{registry.host}/pull/app:v2", store_paths)
    fetched = registry.blob_gets(mark)
    shared = {b.digest for b in v1.layers} & {b.digest for b in v2.layers}
    assert len(shared) == 2
    assert not shared & set(fetched), "layers already in the store were fetched again"
    assert set(result.fetched) == {v2.layers[-1].digest}
    assert v2.layers[-1].digest in fetched
    assert leftovers(store_paths) == []
    refs = _layer_refs(store_paths)
    assert {b.hex for b in v1.layers + v2.layers} <= set(refs)


def _layer_refs(paths) -> list[str]:
    heads = paths.repo / "refs" / "heads" / "ociimage"
    return [p.name for p in heads.iterdir() if len(p.name) == 64]


def test_docker_schema2_manifest_and_config(registry, pushed, store_paths):
    v1, _ = pushed
    store = Store(store_paths)
    result = pull(store, f"{registry.host}/pull/app-s2:v1", store_paths, PullOptions(tls_verify=False))
    manifest = json.loads(result.image.manifest_raw)
    assert manifest["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert result.image.id == hashlib.sha256(result.image.manifest_raw.encode()).hexdigest()
    assert result.image.labels == {"v": "1"}
    assert [layer.digest for layer in result.image.layers] == [b.digest for b in v1.layers]


def test_manifest_list_pulls_the_host_platform(registry, tmp_path, store_paths):
    _, images = build_multiarch_layout(
        {"arm64": ImageSpec(architecture="arm64", labels={"arch": "arm64"}),
         "amd64": ImageSpec(labels={"arch": "amd64"})}, tmp_path / "multi", "m")
    registry.push(tmp_path / "multi", "m", "pull/multi", all_images=True)
    result = pull(Store(store_paths), f"http:{registry.host}/pull/multi:m", store_paths)
    assert result.image.id == images["amd64"].id
    assert result.image.labels == {"arch": "amd64"}


def test_oci_dir_and_archive_names(images, tmp_path, store_paths):
    v1, _ = images
    store = Store(store_paths)
    assert pull(store, f"oci:{v1.layout}:v1", store_paths).name == "layout:v1"
    named = copy_layout(v1.layout, tmp_path / "named")
    build_oci_layout(ImageSpec(layers=[{"etc/app": "1\n", "etc/old": "x"}], labels={"v": "1"}),
                     named, "example.com/team/app:1.0")
    result = pull(store, f"oci:{named}:example.com/team/app:1.0", store_paths)
    assert result.name == "example.com/team/app:1.0"
    assert result.image.id == v1.id and result.fetched == ()       # same content: nothing new
    archive = export_oci_archive(v1.layout, tmp_path / "app-archive.tar")
    result = pull(store, f"oci-archive:{archive}:v1", store_paths)
    assert result.name == "app-archive:v1" and result.image.id == v1.id
    assert leftovers(store_paths) == []


@pytest.mark.parametrize("kind, expected", [
    ("repotags", "docker.io/library/hello:v1"),
    ("repositories", "example.com/legacy/app:old"),
    ("neither", "hello-file:latest"),
])
def test_docker_archive_names(images, tmp_path, store_paths, kind, expected):
    v1, _ = images
    tags = {"repotags": ["docker.io/library/hello:v1"], "repositories": None, "neither": None}[kind]
    repos = {"example.com/legacy/app": "old"} if kind == "repositories" else None
    archive = export_docker_archive(v1, tmp_path / "hello-file.tar", tags, repos)
    store = Store(store_paths)
    messages = []
    result = pull(store, f"docker-archive:{archive}", store_paths, say=messages.append)
    assert result.name == expected
    assert [layer.digest for layer in result.image.layers] == [b.diff_id for b in v1.layers]
    assert result.image.labels == {"v": "1"}
    # atomic's spelling of the same transport
    assert pull(store, f"dockertar:{archive}", store_paths).skipped


@pytest.mark.docker
def test_docker_daemon(dockerd, images, tmp_path, store_paths, monkeypatch):
    v1, _ = images
    archive = export_docker_archive(v1, tmp_path / "d.tar", ["example.com/daemon/app:v1"])
    dockerd.load(archive)
    monkeypatch.setenv("DOCKER_HOST", dockerd.host)      # skopeo ignores it; pull passes it on
    store = Store(store_paths)
    result = pull(store, "docker-daemon:example.com/daemon/app:v1", store_paths)
    assert result.name == "example.com/daemon/app:v1"
    assert result.image.labels == {"v": "1"}
    # atomic's docker:NAME:TAG is the same transport and the same image
    again = pull(store, "docker:example.com/daemon/app:v1", store_paths)
    assert again.skipped and again.image.id == result.image.id


def test_corrupted_blob_leaves_nothing(images, tmp_path, store_paths):
    v1, _ = images
    bad = copy_layout(v1.layout, tmp_path / "bad")
    blob = bad / "blobs" / "sha256" / v1.layers[-1].hex
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF                          # same size, different content
    blob.write_bytes(bytes(data))
    store = Store(store_paths)
    with pytest.raises(SysContainersError) as exc:
        pull(store, f"oci:{bad}:v1", store_paths)
    assert "\n" not in str(exc.value)
    assert store.images(include_dangling=True) == []
    assert store.find("bad:v1") is None
    assert not store.has_layer(v1.layers[-1].digest)
    assert leftovers(store_paths) == []


def test_missing_file_and_unknown_image_are_one_line(registry, pushed, tmp_path, store_paths):
    store = Store(store_paths)
    for ref, expected in ((f"oci:{tmp_path}/nothing:v1", f"{tmp_path}/nothing: no such file or directory"),
                          (f"docker-archive:{tmp_path}/none.tar", f"{tmp_path}/none.tar: no such file"),
                          (f"http:{registry.host}/pull/nope:v1", "not found in the registry")):
        with pytest.raises(SysContainersError) as exc:
            pull(store, ref, store_paths)
        assert expected in str(exc.value) and "\n" not in str(exc.value)
    assert store.images(include_dangling=True) == []


def test_auth_registry(auth_registry, images, store_paths):
    v1, _ = images
    auth_registry.push(v1.layout, "v1", "private/app")
    store = Store(store_paths)
    ref = f"http:{auth_registry.host}/private/app:v1"
    with pytest.raises(SysContainersError, match="denied by the registry"):
        pull(store, ref, store_paths, PullOptions(creds=("alice", "wrong")))
    result = pull(store, ref, store_paths, PullOptions(creds=("alice", "pw-7c41e9d2")))
    assert result.image.id == v1.id
    assert leftovers(store_paths) == []
    assert not any("auth" in p for d in (store_paths.storage, store_paths.state)
               for p in os.listdir(d))


def test_update_follows_a_moved_tag_fetching_only_new_layers(registry, images, store_paths):
    v1, v2 = images
    registry.push(v1.layout, "v1", "pull/moving", dest_tag="stable")
    store = Store(store_paths)
    ref = f"http:{registry.host}/pull/moving:stable"
    assert pull(store, ref, store_paths).image.id == v1.id
    registry.push(v2.layout, "v2", "pull/moving", dest_tag="stable")
    assert pull(store, ref, store_paths).skipped                 # no --update: stored one kept
    mark = registry.mark()
    result = pull(store, ref, store_paths, PullOptions(update=True))
    assert result.image.id == v2.id and not result.skipped
    assert sorted(registry.blob_gets(mark)) == sorted([v2.layers[-1].digest, v2.config.digest])
    assert store.find(f"{registry.host}/pull/moving:stable").id == v2.id
    assert leftovers(store_paths) == []


def test_oci_index_pull_is_up_to_date_the_second_time(tmp_path, store_paths):
    """The index is resolved before the copy, so an update of the same content is a no-op."""
    _, images = build_multiarch_layout(
        {"arm64": ImageSpec(architecture="arm64", labels={"arch": "arm64"}),
         "amd64": ImageSpec(labels={"arch": "amd64"})}, tmp_path / "multi", "m")
    store = Store(store_paths)
    first = pull(store, f"oci:{tmp_path / 'multi'}:m", store_paths)
    assert first.image.id == images["amd64"].id and first.image.labels == {"arch": "amd64"}
    lines = []
    again = pull(store, f"oci:{tmp_path / 'multi'}:m", store_paths, PullOptions(update=True),
                 lines.append)
    assert again.skipped and again.image.id == first.image.id
    assert lines == [f"Image {first.name} is up to date ({first.image.digest})"]
