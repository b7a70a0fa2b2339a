"""The skopeo transport on its own (no store): raw manifests, platform choice, blob reuse, errors."""

from __future__ import annotations

import os

import pytest

from syscontainers.errors import BadImage, TransportError
from syscontainers.images.reference import parse_reference
from syscontainers.images.transport import Source, SourceOptions, open_source, sha256_digest
from tests.fixtures.images import (ImageSpec, build_multiarch_layout, build_oci_layout,
                                   export_docker_archive, export_oci_archive)

pytestmark = pytest.mark.registry


@pytest.fixture(scope="module")
def pushed(registry, tmp_path_factory):
    """Two images sharing the busybox layer, pushed as OCI (v1) and docker schema 2 (v2)."""
    layout = tmp_path_factory.mktemp("transport") / "layout"
    v1 = build_oci_layout(ImageSpec(labels={"v": "1"}), layout, "v1")
    v2 = build_oci_layout(ImageSpec(layers=[{"etc/v2": "2\n"}], labels={"v": "2"}), layout, "v2")
    registry.push(layout, "v1", "transport/img")
    registry.push(layout, "v2", "transport/img", fmt="v2s2")
    return v1, v2


def source(text: str, tmp_path, **kw) -> Source:
    return open_source(parse_reference(text), SourceOptions(**kw), tmp_path)


def test_oci_manifest_is_the_exact_bytes_the_registry_serves(registry, pushed, tmp_path):
    v1, _ = pushed
    m = source(f"{registry.host}/transport/img:v1", tmp_path, tls_verify=False).manifest()
    assert m.raw == v1.manifest_raw
    assert m.digest == v1.manifest.digest
    assert m.config_digest == v1.config.digest
    assert [layer.digest for layer in m.layers] == [b.digest for b in v1.layers]


def test_docker_schema2_digest_and_original_config(registry, pushed, tmp_path):
    _, v2 = pushed
    src = source(f"http:{registry.host}/transport/img:v2", tmp_path)
    m = src.manifest()
    assert m.media_type == "application/vnd.docker.distribution.manifest.v2+json"
    assert m.digest == sha256_digest(m.raw) != v2.manifest.digest    # docker form, own digest
    assert src.pinned == f"docker://{registry.host}/transport/img@{m.digest}"
    # skopeo rewrites the config when it converts to OCI; Source.config returns the original.
    assert src.config(m) == v2.config_raw


def test_manifest_list_resolves_to_host_platform(registry, tmp_path):
    index, images = build_multiarch_layout(
        {"arm64": ImageSpec(architecture="arm64", labels={"arch": "arm64"}),
         "amd64": ImageSpec(labels={"arch": "amd64"})}, tmp_path / "multi", "m")
    registry.push(tmp_path / "multi", "m", "transport/multi", all_images=True)
    src = source(f"{registry.host}/transport/multi:m", tmp_path, tls_verify=False)
    m = src.manifest()
    assert m.digest == images["amd64"].manifest.digest
    assert src.pinned.endswith(f"@{images['amd64'].manifest.digest}")
    # A file transport cannot name the instance: the source reads it from the layout itself,
    # and the copy must deliver that same instance.
    oci = source(f"oci:{tmp_path / 'multi'}:m", tmp_path)
    inst = oci.manifest()
    assert inst.digest == images["amd64"].manifest.digest
    assert inst.raw == images["amd64"].manifest_raw
    oci.copy(tmp_path / "out", tmp_path / "blobs")
    assert (tmp_path / "blobs" / "sha256" / inst.digest[7:]).read_bytes() == images["amd64"].manifest_raw


def test_sparse_placeholder_blob_is_not_fetched(registry, pushed, tmp_path):
    """The blob-reuse trick pull relies on: skopeo's OCI destination only stat()s a blob."""
    v1, v2 = pushed
    base = v2.layers[0]
    src = source(f"{registry.host}/transport/img:v2", tmp_path, tls_verify=False)
    m = src.manifest()
    blobs = tmp_path / "blobs"
    placeholder = blobs / "sha256" / base.hex
    placeholder.parent.mkdir(parents=True)
    with open(placeholder, "wb") as f:
        f.truncate(base.size)
    mark = registry.mark()
    src.copy(tmp_path / "layout", blobs)
    fetched = registry.blob_gets(mark)
    assert base.digest not in fetched
    assert v2.layers[1].digest in fetched
    assert os.stat(placeholder).st_blocks == 0          # untouched: still a hole
    assert (blobs / "sha256" / v2.layers[1].hex).read_bytes() == v2.blob_path(v2.layers[1].digest).read_bytes()
    assert [layer.digest for layer in m.layers] == [b.digest for b in v2.layers]


def test_docker_archive_keeps_uncompressed_layer_digests(pushed, tmp_path):
    v1, _ = pushed
    archive = export_docker_archive(v1, tmp_path / "d.tar", ["example.com/a/b:v1"])
    src = source(f"docker-archive:{archive}", tmp_path)
    m = src.manifest()
    src.copy(tmp_path / "layout", tmp_path / "blobs")
    for layer, built in zip(m.layers, v1.layers):
        assert layer.digest == built.diff_id       # docker archives hold plain tars
        assert sha256_digest((tmp_path / "blobs" / "sha256" / layer.digest[7:]).read_bytes()) == layer.digest
    assert src.config(m) == v1.config_raw


def test_oci_archive_source(pushed, tmp_path):
    v1, _ = pushed
    archive = export_oci_archive(v1.layout, tmp_path / "img.oci.tar")
    m = source(f"oci-archive:{archive}:v1", tmp_path).manifest()
    assert m.digest == v1.manifest.digest


def test_credentials_go_to_a_private_auth_file(auth_registry, pushed, tmp_path):
    v1, _ = pushed
    auth_registry.push(v1.layout, "v1", "secret/img")
    src = source(f"{auth_registry.host}/secret/img:v1", tmp_path, tls_verify=False,
                 creds=("alice", "pw-7c41e9d2"))
    assert src.manifest().digest == v1.manifest.digest
    assert oct((tmp_path / "auth.json").stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("text, kw, expected", [
    ("127.0.0.1:1/a/b:1", {"tls_verify": False}, "cannot reach registry 127.0.0.1:1: connection refused"),
    ("{reg}/transport/nope:v1", {"tls_verify": False}, "image {reg}/transport/nope:v1 not found in the registry"),
    ("{reg}/transport/img:nope", {"tls_verify": False}, "image {reg}/transport/img:nope not found in the registry"),
    ("{reg}/transport/img:v1", {}, "registry {reg} speaks plain HTTP: pull http:{reg}/transport/img:v1 or use --tls-verify=false"),
    ("oci:/nonexistent/dir:x", {}, "/nonexistent: no such file or directory"),
    ("docker-archive:/etc/passwd", {}, "malformed image docker-archive:/etc/passwd"),
])
def test_skopeo_errors_are_one_clean_line(registry, pushed, tmp_path, text, kw, expected):
    text, expected = text.format(reg=registry.host), expected.format(reg=registry.host)
    with pytest.raises((TransportError, BadImage)) as exc:
        source(text, tmp_path, **kw).manifest()
    msg = str(exc.value)
    assert "\n" not in msg and "level=fatal" not in msg
    assert msg.startswith(expected), msg


@pytest.mark.parametrize("creds", [None, ("alice", "wrong")])
def test_bad_credentials_one_line(auth_registry, pushed, tmp_path, creds):
    v1, _ = pushed
    auth_registry.push(v1.layout, "v1", "secret/img")
    with pytest.raises(TransportError) as exc:
        source(f"{auth_registry.host}/secret/img:v1", tmp_path, tls_verify=False, creds=creds).manifest()
    assert str(exc.value) == (f"access to {auth_registry.host}/secret/img:v1 denied by the registry: "
                              "check the credentials (--src-creds, or the containers auth file)")


@pytest.mark.docker
def test_docker_daemon_source_with_daemon_host(dockerd, pushed, tmp_path):
    v1, _ = pushed
    archive = export_docker_archive(v1, tmp_path / "d.tar", ["example.com/daemon/src:v1"])
    dockerd.load(archive)
    src = source("docker-daemon:example.com/daemon/src:v1", tmp_path, daemon_host=dockerd.host)
    m = src.manifest()
    # the daemon and the archive it was loaded from describe the image the same way
    assert m.digest == source(f"docker-archive:{archive}", tmp_path).manifest().digest
    assert src.config(m) == v1.config_raw
    with pytest.raises(TransportError, match="cannot reach the docker daemon"):
        source("docker-daemon:example.com/daemon/src:v1", tmp_path,
               daemon_host=f"unix://{tmp_path}/no.sock").manifest()


def test_oci_archive_index_resolves_inside_the_source(tmp_path):
    """An index in an OCI archive: the instance is read from the archive's blobs, checked
    against its digest, and a copy delivers that same instance."""
    _, images = build_multiarch_layout(
        {"arm64": ImageSpec(architecture="arm64", labels={"arch": "arm64"}),
         "amd64": ImageSpec(labels={"arch": "amd64"})}, tmp_path / "multi", "m")
    archive = export_oci_archive(tmp_path / "multi", tmp_path / "multi.tar")
    src = source(f"oci-archive:{archive}:m", tmp_path)
    m = src.manifest()
    assert (m.digest, m.raw) == (images["amd64"].manifest.digest, images["amd64"].manifest_raw)
    src.copy(tmp_path / "out", tmp_path / "blobs")
    assert src.config(m, tmp_path / "blobs") == images["amd64"].config_raw


def test_index_whose_instance_blob_is_corrupt_is_refused(tmp_path):
    _, images = build_multiarch_layout(
        {"amd64": ImageSpec(labels={"arch": "amd64"})}, tmp_path / "multi", "m")
    blob = tmp_path / "multi" / "blobs" / "sha256" / images["amd64"].manifest.digest[7:]
    os.chmod(blob, 0o644)
    blob.write_bytes(images["amd64"].manifest_raw + b" ")
    with pytest.raises(BadImage, match="does not match its digest"):
        source(f"oci:{tmp_path / 'multi'}:m", tmp_path).manifest()
