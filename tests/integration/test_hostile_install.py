"""Hostile images cannot write outside the deployment at install time (docs/formats.md, "Layer import: what is accepted").

Each image is pushed to the registry and installed inside the test host; a canary directory
outside every deployment must stay exactly as it was, whatever the verdict (rejected, or
merged safely).
"""

from __future__ import annotations

import re
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


# The verdict for each case: the one-line error (after "error: layer sha256:<digest>: "), or
# for a layer that is merged safely, what the merged rootfs holds instead of the escape.
REJECTED = {
    "bad-whiteout": "entry '.wh.': invalid whiteout name '.wh.'",
    "dotdot": "entry '../../../../../srv/canary/pwned' contains '..'",
    "hardlink-out": "hard link target '../../../../../srv/canary/file' contains '..'",
    "same-layer-symlink": "entry 'link/pwned' goes through 'link', which is not a directory (symlink)",
}
MERGED = {   # path inside the rootfs that must be a plain directory, the file inside it
    "absolute": ("srv/canary", "srv/canary/pwned"),
    "cross-layer-symlink": ("etc2", "etc2/pwned"),
    "cross-layer-symlink-rel": ("up", "up/pwned"),
}


def test_every_case_has_a_verdict():
    assert set(REJECTED) | set(MERGED) == set(HOSTILE)


def inside(sc: ScHost, test_flag: str, path: str) -> bool:
    """``test FLAG PATH`` run inside the test host (so symlinks resolve there, not here)."""
    return sc.host.run("test", test_flag, path, check=False).returncode == 0


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_image_never_escapes(sc, hostile_images, case):
    before = canary_state(sc)
    name = f"evil-{case}"
    try:
        r = sc.sc("install", "--name", name, hostile_images[case])
        assert canary_state(sc) == before == [("file", "precious\n")]
        if case in REJECTED:
            assert r.code == 1 and "Traceback" not in r.err, r.err
            assert re.fullmatch(r"error: layer sha256:[0-9a-f]{64}: " + re.escape(REJECTED[case]) + "\n",
                                r.err), r.err
            assert sc.traces(name) == []
            return
        assert r.code == 0, r.text
        rootfs = f"{CHECKOUTS}/{name}.0/rootfs"
        directory, file = MERGED[case]
        assert inside(sc, "-d", f"{rootfs}/{directory}") and not inside(sc, "-L", f"{rootfs}/{directory}")
        assert inside(sc, "-f", f"{rootfs}/{file}") and not inside(sc, "-L", f"{rootfs}/{file}")
        sc.ok("uninstall", name)
        assert canary_state(sc) == before and sc.traces(name) == []
    finally:
        sc.sc("uninstall", "--force", name)
