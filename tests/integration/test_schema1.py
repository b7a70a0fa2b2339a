"""Docker schema 1 images (docs/formats.md): layer order from fsLayers reversed, labels from the
history's v1Compatibility, a working checkout."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.images import ImageSpec, build_oci_layout, whiteout

pytestmark = [pytest.mark.registry, pytest.mark.root]


@pytest.fixture(scope="module")
def schema1_ref(registry, tmp_path_factory):
    spec = ImageSpec(layers=[{"etc/first": "1\n", "etc/gone": "x\n"},
                             whiteout("etc/gone") | {"etc/second": "2\n"}],
                     labels={"org.example.schema": "one"})
    layout = build_oci_layout(spec, tmp_path_factory.mktemp("s1") / "layout", "v1").layout
    return registry.push(layout, "v1", "old/schema1", fmt="v2s1")


def test_schema1_pull_inspect_extract_verify(cli, schema1_ref, tmp_path):
    r = cli("pull", f"http:{schema1_ref}")
    assert r.code == 0, r.err
    info = json.loads(cli("images", "inspect", "--json", schema1_ref).out)
    assert info["labels"] == {"org.example.schema": "one"}, info
    assert len(info["layers"]) == 3          # busybox base + the two of the spec
    out = tmp_path / "tree"
    assert cli("extract", schema1_ref, str(out)).code == 0
    assert (out / "etc/first").read_text() == "1\n" and (out / "etc/second").read_text() == "2\n"
    assert not (out / "etc/gone").exists() and not (out / "etc/.wh.gone").exists()
    assert (out / "usr/bin/busybox").is_file() or (out / "bin/busybox").is_file()
    assert cli("images", "verify", schema1_ref).code == 0
