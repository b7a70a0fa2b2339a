"""The access record (how install reached an image) and what "the same image" means."""

import json

import pytest

from syscontainers.deploy import deployment as dl
from syscontainers.images.model import Image, Layer
from syscontainers.images.transport import Manifest
from syscontainers.lifecycle import images as li

D = {c: "sha256:" + c * 64 for c in "abcdef"}


@pytest.fixture(autouse=True)
def no_auth_files(tmp_path, monkeypatch):
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "auth.json"))
    return tmp_path / "auth.json"


def test_http_reference_is_recorded_as_given_with_tls_off():
    a = li.access_for("http:127.0.0.1:5000/demo/web:1", "127.0.0.1:5000/demo/web:1")
    assert a == li.Access("http:127.0.0.1:5000/demo/web:1", "docker", False, None)
    assert a.pull_options().tls_verify is False


def test_tls_verify_false_and_src_creds_are_recorded_but_no_secret():
    a = li.access_for("reg.example/x:1", "reg.example/x:1", tls_verify=False, creds_given=True)
    assert (a.tls_verify, a.credentials) == (False, "src-creds")
    assert set(a.info_fields()) == {"source", "source_transport", "source_tls_verify",
                                    "source_credentials", "source_signature_policy",
                                    "source_auth_file", "source_cert_dir"}


def test_authfile_and_cert_dir_are_recorded_as_absolute_paths_and_used_again(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = li.RegistryFiles("auth.json", "certs")
    a = li.access_for("reg.example/x:1", "reg.example/x:1", files=files)
    assert (a.auth_file, a.cert_dir) == (str(tmp_path / "auth.json"), str(tmp_path / "certs"))
    assert a.credentials == "auth-file"
    options = a.pull_options()
    assert (options.auth_file, options.cert_dir) == (a.auth_file, a.cert_dir)
    options = a.pull_options(files=li.RegistryFiles("/other.json"))       # given again: wins
    assert (options.auth_file, options.cert_dir) == ("/other.json", a.cert_dir)


def test_the_registry_source_passes_authfile_and_cert_dir_to_skopeo():
    from syscontainers.images.reference import parse_reference
    from syscontainers.images.transport import SourceOptions, open_source

    src = open_source(parse_reference("reg.example/x:1"),
                      SourceOptions(auth_file="/a.json", cert_dir="/certs"))
    assert src.flags("src-") == ["--src-authfile", "/a.json", "--src-cert-dir", "/certs"]
    assert src.flags("") == ["--authfile", "/a.json", "--cert-dir", "/certs"]


def test_an_auth_file_entry_is_recorded_as_the_credentials_source(no_auth_files):
    no_auth_files.write_text(json.dumps({"auths": {"reg.example:5000": {"auth": "c2VjcmV0"}}}))
    assert li.access_for("reg.example:5000/x:1", "reg.example:5000/x:1").credentials == "auth-file"
    assert li.access_for("other.example/x:1", "other.example/x:1").credentials is None


def test_an_id_prefix_or_other_stored_name_records_the_image_name():
    a = li.access_for("db47519b", "127.0.0.1:5000/demo/web:1")
    assert (a.reference, a.transport, a.tls_verify) == ("127.0.0.1:5000/demo/web:1", "docker", True)


def test_file_transports_keep_their_reference_and_no_tls():
    a = li.access_for("oci:/srv/layouts/web:2", "web:2")
    assert a == li.Access("oci:/srv/layouts/web:2", "oci", None, None)


def test_an_info_file_without_a_record_is_reached_by_its_image_name():
    info = dl.InstallInfo(image="reg.example/x:1", revision="a" * 64, ostree_commit="",
                          created=0, values={})
    assert li.Access.from_info(info).reference == "reg.example/x:1"
    rec = dl.InstallInfo.from_json(dl.InstallInfo(
        image="h/x:1", revision="a" * 64, ostree_commit="", created=0, values={},
        **li.access_for("http:h:1/x:1", "h:1/x:1").info_fields()).to_json(), "info")
    assert li.Access.from_info(rec) == li.Access("http:h:1/x:1", "docker", False, None)
    assert json.loads(rec.to_json())["source-tls-verify"] is False


def _image(manifest: dict, layers) -> Image:
    return Image(id="1" * 64, digest="sha256:" + "1" * 64, names=(), commit="", manifest_raw="",
                 manifest=manifest, layers=tuple(Layer(d, 1) for d in layers))


def test_same_config_and_layers_is_the_same_image_whatever_the_manifest_bytes():
    installed = _image({"config": {"digest": D["a"]}}, [D["b"], D["c"]])
    reencoded = Manifest(b"{ }", "sha256:" + "9" * 64, "docker", D["a"],
                         (Layer(D["b"], 1), Layer(D["c"], 1)))
    assert li.manifest_content(reencoded) == li.content(installed)
    other_layer = Manifest(b"{}", "sha256:" + "9" * 64, "docker", D["a"],
                           (Layer(D["b"], 1), Layer(D["d"], 1)))
    other_config = Manifest(b"{}", "sha256:" + "9" * 64, "docker", D["e"],
                            (Layer(D["b"], 1), Layer(D["c"], 1)))
    assert li.manifest_content(other_layer) != li.content(installed)
    assert li.manifest_content(other_config) != li.content(installed)
