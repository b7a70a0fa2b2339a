"""OSTree ref name encoding of image names (docs/formats.md): atomic's spelling, and it round-trips."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syscontainers.errors import ReferenceError_
from syscontainers.images.reference import (decode_name, encode_name, image_ref_name,
                                            is_layer_ref, layer_ref_name)


def test_encoding_matches_atomic():
    assert encode_name("docker.io/library/busybox:latest") == \
        "docker.io_2Flibrary_2Fbusybox_3Alatest"
    assert encode_name("127.0.0.1:5000/a_b/c-d:v1") == "127.0.0.1_3A5000_2Fa_5Fb_2Fc-d_3Av1"
    assert image_ref_name("x:y") == "ociimage/x_3Ay"


def test_layer_refs():
    hexd = "ab" * 32
    assert layer_ref_name("sha256:" + hexd) == "ociimage/" + hexd
    assert is_layer_ref("ociimage/" + hexd)
    assert not is_layer_ref(image_ref_name("busybox:latest"))
    with pytest.raises(ReferenceError_):
        layer_ref_name("sha256:../../etc")


@pytest.mark.parametrize("bad", ["a_3", "a_zz", "a/b", "a:b", "_C3", "a b"])
def test_invalid_encodings_are_errors(bad):
    with pytest.raises(ReferenceError_):
        decode_name(bad)


@given(st.text(min_size=1, max_size=80))
def test_round_trip(name):
    encoded = encode_name(name)
    assert re.fullmatch(r"[A-Za-z0-9._-]+", encoded)      # ref-safe characters only
    assert decode_name(encoded) == name


@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
def test_different_names_never_share_a_ref(a, b):
    if a != b:
        assert encode_name(a) != encode_name(b)


def test_containers_storage_references():
    from syscontainers.images.reference import parse_reference
    ref = parse_reference("containers-storage:[vfs@/r+/rr]localhost/app:1")
    assert (ref.transport, ref.path, str(ref.docker)) == ("containers-storage", "[vfs@/r+/rr]",
                                                           "localhost/app:1")
    ref = parse_reference("containers-storage:app")
    assert ref.path is None and str(ref.docker) == "docker.io/library/app:latest"
    for bad in ("containers-storage:", "containers-storage:[vfs@/r", "containers-storage:[x]"):
        with pytest.raises(ReferenceError_):
            parse_reference(bad)
