"""Short names through registries.conf on the systemd test host (docs/operations.md, "Short
names and registries.conf"): an alias in a drop-in, search registries in enforcing and
permissive mode. The search-registry files are given with CONTAINERS_REGISTRIES_CONF (skopeo
reads the same file), so the session's other tests keep the host's own registries.conf."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.examples import example_spec
from tests.fixtures.images import build_oci_layout
from tests.integration.sc_host import CHECKOUTS, free_port

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.registry]

ALIAS_FILE = "/etc/containers/registries.conf.d/90-sc-short-names-test.conf"


@pytest.fixture(scope="module")
def pushed(registry, tmp_path_factory):
    root = tmp_path_factory.mktemp("short-images")
    own = {"org.example.test": "short-names"}
    layout = build_oci_layout(example_spec(index_html="hello short\n", labels=own), root / "web", "v1")
    return registry.push(layout.layout, "v1", "short/web")


def search_conf(sc, registry, mode: str, first: str) -> dict:
    """A registries.conf searching ``first`` then the test registry (marked plain HTTP)."""
    path = f"/tmp/sc-short-{mode}.conf"
    sc.host.path(path).write_text(
        f'unqualified-search-registries = ["{first}", "{registry.host}"]\n'
        f'short-name-mode = "{mode}"\n'
        f'[[registry]]\nlocation = "{registry.host}"\ninsecure = true\n')
    return {"CONTAINERS_REGISTRIES_CONF": path}


def test_an_alias_in_a_drop_in_names_the_registry(sc, registry, pushed):
    sc.host.path(ALIAS_FILE).write_text(f'[aliases]\n"sc-alias-web" = "{registry.host}/short/web"\n')
    try:
        r = sc.ok("install", "--name", "shorta1", "--set", f"PORT={free_port()}", "sc-alias-web:v1")
        assert f"sc-alias-web:v1 is {pushed} (alias in {ALIAS_FILE})" in r.out, r.text
        info = json.loads(sc.path(CHECKOUTS / "shorta1.0/info").read_text())
        # what the alias said is recorded: update reaches the same image if the alias changes
        assert info["image"] == pushed and info["source"] == pushed
        # the stored image is found by the short name too (no second pull)
        r = sc.ok("pull", "sc-alias-web:v1")
        assert f"Image {pushed} is already present" in r.out, r.text
    finally:
        sc.sc("uninstall", "shorta1")
        sc.host.path(ALIAS_FILE).unlink(missing_ok=True)


def test_several_search_registries_enforcing_is_an_error(sc, registry, pushed):
    env = search_conf(sc, registry, "enforcing", "127.0.0.1:1")
    r = sc.sc("pull", "short/web:v1", env=env)
    assert r.code != 0 and r.err.count("\n") == 1, r.text
    assert "short name 'short/web' is ambiguous" in r.err and "[aliases]" in r.err, r.err


def test_permissive_mode_tries_the_search_registries_in_order(sc, registry, pushed):
    sc.sc("images", "delete", pushed)
    env = search_conf(sc, registry, "permissive", "127.0.0.1:1")
    r = sc.ok("pull", "short/web:v1", env=env)
    assert f"short/web:v1 is {pushed} (unqualified-search-registries (permissive mode))" in r.out, r.text
    assert pushed in sc.ok("images", "list").out
    # found in no search registry: one line naming what was tried
    r = sc.sc("pull", "short/absent:v1", env=env)
    assert r.code != 0 and r.err.count("\n") == 1, r.text
    assert "found in no unqualified-search registry" in r.err and "127.0.0.1:1/short/absent:v1" in r.err
