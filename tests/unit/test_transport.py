"""Manifest parsing, platform choice, skopeo error lines and archive names, without services."""

from __future__ import annotations

import json

import pytest

from syscontainers.errors import BadImage, TransportError
from syscontainers.images.pull import archive_name
from syscontainers.images.transport import (host_platform, image_manifest, is_manifest_list,
                                            pick_platform, skopeo_error)
from tests.fixtures.images import ImageSpec, build_oci_layout, export_docker_archive

H1 = "sha256:" + "1" * 64
H2 = "sha256:" + "2" * 64


def raw(obj) -> bytes:
    return json.dumps(obj).encode()


def test_oci_and_schema1_layers_in_application_order():
    m = image_manifest(raw({"schemaVersion": 2, "config": {"digest": H1, "size": 3},
                            "layers": [{"digest": H1, "size": 5}, {"digest": H2, "size": 7}]}), "x")
    assert [(layer.digest, layer.size) for layer in m.layers] == [(H1, 5), (H2, 7)]
    s1 = image_manifest(raw({"schemaVersion": 1, "fsLayers": [{"blobSum": H2}, {"blobSum": H1}]}), "x")
    assert [layer.digest for layer in s1.layers] == [H1, H2] and s1.config_digest is None


@pytest.mark.parametrize("manifest, why", [
    (b"not json", "Expecting value at line 1 column 1"),
    (b"[]", "not an image manifest"),
    (raw({"schemaVersion": 3}), "not an image manifest"),
    (raw({"schemaVersion": 2, "config": {"digest": "sha256:../../etc", "size": 1}, "layers": []}),
     "invalid digest 'sha256:../../etc' (expected sha256:<64 hex digits>)"),
    (raw({"schemaVersion": 2, "config": {"digest": H1, "size": 1},
          "layers": [{"digest": "sha512:" + "a" * 128, "size": 1}]}),
     f"invalid digest 'sha512:{'a' * 128}' (expected sha256:<64 hex digits>)"),
    (raw({"schemaVersion": 2, "config": {"digest": H1, "size": 1}, "layers": [{"digest": H1, "size": -1}]}),
     "invalid blob size -1"),
    (raw({"schemaVersion": 2, "layers": []}), "missing field 'config'"),
])
def test_malformed_manifests_are_bad_images(manifest, why):
    with pytest.raises(BadImage) as exc:
        image_manifest(manifest, "img")
    assert str(exc.value) == f"malformed manifest for img: {why}"


def test_pick_platform():
    os_, arch = host_platform()
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{"digest": H1, "platform": {"os": os_, "architecture": "nope"}},
                           {"digest": H2, "platform": {"os": os_, "architecture": arch}}]}
    assert is_manifest_list(index)
    assert pick_platform(index, "x") == H2
    index["manifests"].pop()
    with pytest.raises(BadImage, match=f"no image for {os_}/{arch}"):
        pick_platform(index, "x")


def _fatal(msg: str) -> str:
    return 'time="t" level=fatal msg="' + msg.replace('"', '\\"') + '"\n'


@pytest.mark.parametrize("msg, line", [
    ('Error parsing image name "docker://a:1": pinging container registry r.io: Get "https://r.io/v2/": '
     'dial tcp: lookup r.io: no such host', "cannot reach registry r.io: no such host"),
    ('Error parsing image name "docker://a": reading manifest 1 in h:5/a: manifest unknown: manifest unknown',
     "image a not found in the registry"),
    ('Error parsing image name "docker://a": reading manifest 1 in h:5/a: unauthorized: authentication required',
     "access to a denied by the registry"),
    ("writing blob: happened: Digest did not match, expected sha256:1, got sha256:2",
     "corrupted blob in a"),
])
def test_skopeo_error_lines(msg, line):
    err = skopeo_error(_fatal(msg), "a")
    assert str(err).startswith(line)
    assert isinstance(err, (TransportError, BadImage))


def test_archive_name_sources(tmp_path):
    built = build_oci_layout(ImageSpec(base=False, layers=[{"a": "1"}]), tmp_path / "l", "t")
    assert archive_name(export_docker_archive(built, tmp_path / "1.tar", ["hello:v1"])) == "hello:v1"
    assert archive_name(export_docker_archive(built, tmp_path / "2.tar", None, {"x/y": "2"})) == "x/y:2"
    assert archive_name(export_docker_archive(built, tmp_path / "3.tar", ["BAD NAME"])) is None
    (tmp_path / "4.tar").write_text("not a tar")
    with pytest.raises(BadImage):
        archive_name(tmp_path / "4.tar")
