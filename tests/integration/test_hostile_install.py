"""Hostile images cannot write outside the deployment at install time (SPEC 7).

Each image is pushed to the registry and installed inside the test host; a canary directory
outside every deployment must stay exactly as it was, whatever the verdict (rejected, or
merged safely).
"""

from __future__ import annotations

import tarfile

import pytest

from tests.fixtures.images import ImageSpec, Raw, Symlink, build_oci_layout
from tests.integration.sc_host import CHECKOUTS, ScHost

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.registry]

CANARY = "/srv/canary"


def raw(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "", data: bytes = b"x") -> dict:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, linkname, 0o644
    return {name: Raw(info, data if kind == tarfile.REGTYPE else b"")}


HOSTILE = {
    # a lower layer's symlink to the canary, then files "through" it in a later layer
    "cross-layer-symlink": [{"etc2": Symlink(CANARY)}, {"etc2/pwned": "x\n"}],
    "cross-layer-symlink-rel": [{"up": Symlink("../../../../../../../srv/canary")},
                                {"up/pwned": "x\n"}],
    # the same inside one layer
    "same-layer-symlink": [{"link": Symlink(CANARY)} | raw("link/pwned")],
    "dotdot": [raw("../../../../../srv/canary/pwned")],
    "absolute": [raw("/srv/canary/pwned")],
    "hardlink-out": [raw("hl", tarfile.LNKTYPE, "../../../../../srv/canary/file")],
    "bad-whiteout": [raw(".wh.")],
}


@pytest.fixture(scope="module")
def hostile_images(registry, tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    refs = {}
    for tag, layers in HOSTILE.items():
        built = build_oci_layout(ImageSpec(layers=layers), root / tag, tag)
        refs[tag] = registry.push(built.layout, tag, "evil/img")
    return refs


@pytest.fixture(scope="module")
def sc(sc):
    """The shared test-host fixture, plus a canary directory outside every deployment."""
    canary = sc.path(CANARY)
    canary.mkdir(parents=True, exist_ok=True)
    (canary / "file").write_text("precious\n")
    return sc


def canary_state(sc: ScHost) -> list[tuple[str, str]]:
    canary = sc.path(CANARY)
    return sorted((str(p.relative_to(canary)), p.read_text() if p.is_file() else "")
                  for p in canary.rglob("*"))


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_image_never_escapes(sc, hostile_images, case):
    before = canary_state(sc)
    name = f"evil-{case}"
    r = sc.sc("install", "--name", name, hostile_images[case])
    assert canary_state(sc) == before == [("file", "precious\n")]
    if r.code != 0:
        assert len(r.err.strip().splitlines()) == 1, r.err     # one clear line, no traceback
        assert "Traceback" not in r.err and sc.traces(name) == []
        return
    # merged safely: the later layer's directory replaced the symlink inside the rootfs
    rootfs = sc.path(CHECKOUTS / f"{name}.0/rootfs")
    assert not any(p.is_symlink() and p.name in ("etc2", "up", "link") for p in rootfs.iterdir()
                   if (p / "pwned").exists())
    sc.ok("uninstall", name)
    assert canary_state(sc) == before
