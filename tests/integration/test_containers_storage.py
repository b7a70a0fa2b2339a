"""Images built with buildah (Debian's) installed from containers-storage without exporting
them first, on the systemd test host (docs/operations.md, "Transports"). buildah runs inside
the test host with a store of this module's own (vfs, under /srv), named in the reference as
skopeo takes it."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.fixtures.examples import example_spec
from tests.fixtures.images import build_oci_layout
from tests.integration.sc_host import CHECKOUTS, free_port, http_get

pytestmark = [pytest.mark.systemd, pytest.mark.root]

STORE = "[vfs@/srv/cs-root+/run/cs-run]"
BUILDAH = ("buildah", "--root", "/srv/cs-root", "--runroot", "/run/cs-run", "--storage-driver", "vfs")


def build(sc, text: str, tag: str) -> None:
    """FROM the example image, COPY a new index.html, commit as localhost/cs-web:TAG."""
    sc.host.path("/srv/cs-index.html").write_text(text)
    container = sc.host.run(*BUILDAH, "from", "--quiet", "oci:/srv/cs-src:v1").stdout.strip()
    try:
        sc.host.run(*BUILDAH, "copy", container, "/srv/cs-index.html", "/srv/index.html")
        sc.host.run(*BUILDAH, "config", "--label", "org.example.test=containers-storage", container)
        sc.host.run(*BUILDAH, "commit", "--quiet", container, f"localhost/cs-web:{tag}")
    finally:
        sc.host.run(*BUILDAH, "rm", container, check=False)


@pytest.fixture
def source(sc, tmp_path):
    layout = build_oci_layout(example_spec(labels={"org.example.test": "cs-base"}), tmp_path / "l", "v1")
    shutil.copytree(layout.layout, sc.path("/srv/cs-src"))
    try:
        yield
    finally:
        sc.host.run(*BUILDAH, "rmi", "--all", "--force", check=False)
        sc.host.run("rm", "-rf", "/srv/cs-src", "/srv/cs-root", "/run/cs-run", "/srv/cs-index.html")


def test_an_image_built_with_buildah_installs_and_updates_from_containers_storage(sc, source):
    build(sc, "built by buildah\n", "v1")
    ref = f"containers-storage:{STORE}localhost/cs-web:v1"
    port = free_port()
    sc.ok("install", "--name", "csweb1", "--set", f"PORT={port}", ref)
    try:
        sc.ok("start", "csweb1")
        assert http_get(port) == "built by buildah\n"
        info = json.loads(sc.path(CHECKOUTS / "csweb1.0/info").read_text())
        assert (info["image"], info["source"], info["source-transport"]) == \
            ("localhost/cs-web:v1", ref, "containers-storage")
        assert "up to date" in sc.ok("update", "csweb1", "--check").out
        build(sc, "rebuilt by buildah\n", "v1")          # the same name, new content
        r = sc.sc("update", "csweb1", "--check")
        assert r.code == 100, r.text
        sc.ok("update", "csweb1")
        assert http_get(port) == "rebuilt by buildah\n"
    finally:
        sc.sc("uninstall", "csweb1")
        sc.sc("images", "delete", "--force", "localhost/cs-web:v1")


def test_a_name_the_store_does_not_have_is_one_line(sc, source):
    r = sc.sc("pull", f"containers-storage:{STORE}localhost/cs-absent:v1")
    assert r.code == 1 and r.err.count("\n") == 1, r.text
    assert "cs-absent" in r.err
