"""Coexistence with atomic on one host (docs/formats.md, "Our state directory (`.syscontainers/`)
and atomic's `.storage/`"): atomic's `images prune` (tests/fixtures/atomic_prune.py models it)
run over our store leaves our state alone; the config refs it deletes are detected and fetched
again, never read as "no labels"; state kept in `.storage` by older versions is moved out on
first use. (An image atomic stored with a re-encoded manifest is no update:
test_update_trust.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.atomic_prune import atomic_images_prune
from tests.fixtures.examples import example_spec
from tests.fixtures.images import ImageSpec, build_oci_layout
from tests.fixtures.registry import Registry
from tests.integration.sc_host import ScHost, ScResult, free_port, http_get

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.registry]

OWN = {"org.example.test": "atomic-coexistence"}   # this module's images only
# A checkouts dir (and so a store) of this module's own: atomic's prune deletes the config refs
# of every tagged image, which must not reach the images of the session's other tests.
CHECKOUTS = Path("/var/lib/coexist")
ENV = {"ATOMIC_OSTREE_CHECKOUT_PATH": str(CHECKOUTS)}


class Coex(ScHost):
    """syscontainers inside the test host, on this module's checkouts dir."""

    def sc(self, *args: str, env: dict | None = None, timeout: float = 180) -> ScResult:
        return super().sc(*args, env={**ENV, **(env or {})}, timeout=timeout)


@pytest.fixture(scope="module")
def csc(sc):
    return Coex(sc.host)


@pytest.fixture(scope="module")
def images(registry, tmp_path_factory):
    root = tmp_path_factory.mktemp("coexist-images")
    specs = {
        "svc": example_spec(index_html="hello coexist\n", labels=OWN),
        "once": ImageSpec(layers=[{"etc/motd": "coexist once\n"}],
                          labels={**OWN, "atomic.run": "once"},
                          cmd=["/bin/sh", "-c", "echo coexist-ran-once"]),
    }
    return {tag: registry.push(build_oci_layout(spec, root / tag, tag).layout, tag, "coexist/img")
            for tag, spec in specs.items()}


def labels(sc: Coex, image: str):
    return json.loads(sc.ok("images", "inspect", "--json", image).out)["labels"]


def config_ref(sc: Coex, image: str) -> str:
    manifest = json.loads(sc.ok("images", "inspect", "--json", image).out)["manifest"]
    return "ociimage/" + manifest["config"]["digest"].split(":", 1)[1]


def atomic_prune(sc: Coex) -> list[str]:
    return atomic_images_prune(sc.path(CHECKOUTS), sc.path(CHECKOUTS / ".storage/ostree"))


def test_atomic_prune_over_our_store_loses_nothing_and_config_refs_come_back(csc, images):
    sc = csc
    port = free_port()
    sc.ok("install", "--name", "coex1", "--set", f"PORT={port}", images["svc"])
    sc.ok("start", "coex1")
    sc.ok("pull", images["once"])
    sc.host.run("mkdir", "-p", "/srv/coexmnt")
    sc.ok("mount", "--rw", images["svc"], "/srv/coexmnt")
    try:
        sc.host.run("sh", "-c", "echo kept > /srv/coexmnt/etc/coexist")
        assert labels(sc, images["once"])["atomic.run"] == "once"
        deleted = atomic_prune(sc)
        # what atomic does: the config refs of our tagged images go; everything of ours stays
        assert {config_ref(sc, images["svc"]), config_ref(sc, images["once"])} <= set(deleted)
        assert sc.exists(CHECKOUTS / ".syscontainers/lock")
        assert sc.host.run("cat", "/srv/coexmnt/etc/coexist").stdout == "kept\n"
        assert http_get(port) == "hello coexist\n"

        # the missing config is detected, never read as "no labels"
        assert labels(sc, images["once"]) is None
        assert "config blob missing" in sc.ok("images", "inspect", images["once"]).out
        # install by name fetches it again: the image runs once, no service is installed
        r = sc.ok("install", "--name", "coex-once", images["once"])
        assert "missing from the store; pulling it again" in r.out and "coexist-ran-once" in r.out, r.text
        assert "coex-once" not in sc.listing()
        assert labels(sc, images["once"])["atomic.run"] == "once"
        # pull of a present image with its config gone repairs it
        sc.ok("pull", images["svc"])
        assert labels(sc, images["svc"])["org.example.test"] == "atomic-coexistence"
        # the installed container is the same image: no update, no restart
        r = sc.ok("update", "coex1")
        assert "Latest version already installed" in r.out, r.text
        assert sc.status("coex1") == "running"
    finally:
        sc.sc("umount", "/srv/coexmnt")
        sc.sc("uninstall", "coex1")


def test_a_missing_config_that_cannot_be_fetched_is_an_error(csc, tmp_path):
    sc = csc
    own = Registry(tmp_path / "registry").start()
    try:
        layout = build_oci_layout(ImageSpec(layers=[{"etc/motd": "gone\n"}],
                                            labels={**OWN, "atomic.run": "once"},
                                            cmd=["/bin/true"]), tmp_path / "gone", "v1").layout
        ref = own.push(layout, "v1", "coexist/gone")
        sc.ok("pull", f"http:{ref}")
    finally:
        own.stop()
    atomic_prune(sc)
    r = sc.sc("install", "--name", "coex-gone", ref)
    assert r.code != 0 and r.err.count("\n") == 1, r.text
    assert "config blob of image" in r.err and "missing from the store" in r.err, r.err
    assert not sc.exists(CHECKOUTS / "coex-gone") and not sc.exists(CHECKOUTS / "coex-gone.0")
    sc.ok("images", "delete", "--force", ref)


def test_state_older_versions_kept_in_dot_storage_is_moved_on_first_use(csc, images):
    sc = csc
    sc.ok("pull", images["svc"])             # the store exists
    storage, state = CHECKOUTS / ".storage", CHECKOUTS / ".syscontainers"
    sc.host.run("sh", "-c", f"touch {storage}/lock && mkdir -p {storage}/mounts/coexkey/upper "
                            f"{storage}/tmp/run-coex && echo upper > {storage}/mounts/coexkey/upper/f")
    sc.ok("images", "prune", "--dry-run")    # a verb that takes the lock
    assert sc.host.run("cat", f"{state}/mounts/coexkey/upper/f").stdout == "upper\n"
    assert not sc.exists(storage / "lock") and not sc.exists(storage / "mounts")
    assert not sc.exists(storage / "tmp")
    # atomic's prune finds nothing of ours to delete, and does not stop at a file
    atomic_prune(sc)
    assert sc.exists(state / "mounts/coexkey/upper/f")
    sc.host.run("rm", "-rf", f"{state}/mounts/coexkey")
