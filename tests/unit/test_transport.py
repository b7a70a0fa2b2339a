"""Manifest parsing, platform choice, skopeo error lines and archive names, without services."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from syscontainers.errors import BadImage, TransportError
from syscontainers.images.pull import archive_name
from syscontainers.images.reference import parse_reference
from syscontainers.images.transport import (SourceOptions, host_platform, image_manifest,
                                            is_manifest_list, open_source, pick_platform,
                                            skopeo_error)
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


# --- the seam: one factory, sources answer the questions callers used to branch on ---------

@pytest.mark.parametrize("text, family, skopeo", [
    ("docker://reg.example/a/b:1", "RegistrySource", "docker://reg.example/a/b:1"),
    ("http:reg.example:5000/a:1", "RegistrySource", "docker://reg.example:5000/a:1"),
    ("docker-daemon:reg.example/a:2", "DaemonSource", "docker-daemon:reg.example/a:2"),
    ("docker:busybox", "DaemonSource", "docker-daemon:docker.io/library/busybox:latest"),
    ("oci:/srv/l:v1", "OciLayoutSource", "oci:/srv/l:v1"),
    ("oci-archive:/srv/a.tar", "OciArchiveSource", "oci-archive:/srv/a.tar"),
    ("dockertar:/srv/d.tar", "DockerArchiveSource", "docker-archive:/srv/d.tar"),
])
def test_open_source_picks_one_family_per_transport(text, family, skopeo):
    src = open_source(parse_reference(text))
    assert type(src).__name__ == family
    assert src.pinned == skopeo and src.what == text


def test_sources_answer_what_callers_used_to_test_the_transport_for(monkeypatch, tmp_path):
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "none.json"))
    reg = open_source(parse_reference("http:reg.example:5000/a:1"))
    assert reg.registry_name() == "reg.example:5000/a:1"
    assert (reg.reach(True, False).tls_verify, reg.reach(True, True).credentials) == (False, "src-creds")
    short = open_source(parse_reference("busybox"))
    assert short.notes() == ("warning: busybox names no registry and registries.conf has no "
                             "alias or unqualified-search registry for it: docker.io was used",)
    daemon = open_source(parse_reference("docker-daemon:busybox"))
    assert (daemon.registry_name(), daemon.notes(), daemon.reach(True, True).tls_verify) == \
        (None, (), None)
    oci = open_source(parse_reference(f"oci:{tmp_path}:example.com/a:1"))
    assert oci.registry_name() is None and oci.stored_name() == "example.com/a:1"


def test_opening_a_source_with_credentials_writes_nothing(tmp_path):
    src = open_source(parse_reference("reg.example/a:1"), SourceOptions(creds=("u", "p")), tmp_path)
    assert src.stored_name() == "reg.example/a:1"
    assert list(tmp_path.iterdir()) == []
    assert "--authfile" in src.flags("")            # written when skopeo is about to run
    assert oct((tmp_path / "auth.json").stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("text, why", [
    ("oci:{tmp}/missing:v1", "no such file or directory"),
    ("oci-archive:{tmp}", "not a regular file (oci-archive: needs an archive file)"),
    ("docker-archive:/dev/null", "not a regular file (docker-archive: needs an archive file)"),
])
def test_file_sources_check_their_file_before_naming(tmp_path, text, why):
    with pytest.raises(TransportError, match=re.escape(why)):
        open_source(parse_reference(text.format(tmp=tmp_path))).stored_name()


def test_no_transport_test_outside_the_transport_package():
    """open_source is the one place that looks at ref.transport (docs/architecture.md)."""
    src = Path(__file__).resolve().parents[2] / "src" / "syscontainers"
    pattern = re.compile(r"\.transport\s*(==|!=|in\b|not in\b)|isinstance\([^)]*Manifest")
    offenders = [f"{path.relative_to(src)}:{n}" for path in src.rglob("*.py")
                 if "images/transport" not in path.as_posix()
                 for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert offenders == []


class _Destination:
    """A fake ImageDestination holding one complete image: pull must not need more."""

    def __init__(self, image):
        self.image, self.writes = image, []

    def find(self, name):
        return self.image if name == self.image.name else None

    def has_layer(self, digest):
        return digest in {layer.digest for layer in self.image.layers}

    def import_layers(self, items):
        self.writes.append(items)

    def write_image(self, *args):
        self.writes.append(args)


def test_pull_depends_on_the_destination_protocol_only(tmp_path):
    from syscontainers.images import pull as pull_mod
    from syscontainers.images.model import Image, Layer
    from syscontainers.paths import Paths

    assert "images.store" not in Path(pull_mod.__file__).read_text()
    (tmp_path / "layout").mkdir()
    image = Image(id="1" * 64, digest="sha256:" + "1" * 64, names=("layout:v1",), commit="c",
                  manifest_raw="{}", manifest={}, layers=(Layer(H1, 1), Layer(H2, 2)))
    dest, said = _Destination(image), []
    result = pull_mod.pull(dest, f"oci:{tmp_path / 'layout'}:v1", Paths.__new__(Paths),
                           say=said.append)
    assert (result.skipped, result.image, dest.writes) == (True, image, [])
    assert said == ["Image layout:v1 is already present"]
