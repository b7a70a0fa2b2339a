"""atomic's own system-container command lines, with `atomic` replaced by `syscontainers`, on
the systemd test host (docs/atomic-migration.md). The lines are those of atomic's integration
tests (tests/integration/test_system_containers_*.sh), in their order of use; `docker:NAME`
(atomic's docker-daemon spelling) is covered by test_pull_transport.py, so the images here come
from the test registry and from a `dockertar:` archive."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.fixtures.examples import example_spec
from tests.fixtures.images import build_oci_layout
from tests.integration.sc_host import http_get, free_port

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.registry]

OWN = {"org.example.test": "atomic-cli", "version": "1.2", "release": "3"}


@pytest.fixture(scope="module")
def images(registry, tmp_path_factory):
    root = tmp_path_factory.mktemp("atomic-cli")
    refs = {}
    for tag, text in (("latest", "hello atomic\n"), ("update", "hello atomic update\n")):
        layout = build_oci_layout(example_spec(index_html=text, labels=OWN), root / tag, tag).layout
        refs[tag] = registry.push(layout, tag, "atomic-cli/system", dest_tag=tag)
        if tag == "latest":
            archive = root / "atomic-test-system.tar"
            subprocess.run(["skopeo", "copy", "--quiet", f"oci:{layout}:{tag}",
                            f"docker-archive:{archive}:atomic-cli-archive:latest"], check=True)
            refs["archive"] = str(archive)
    return refs


def lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def test_atomic_command_lines_work_as_they_are(sc, images):
    img, name = images["latest"], "atomiccli1"
    port, port2 = free_port(), free_port()
    sc.ok("pull", "--storage", "ostree", img)
    sc.host.path("/srv/atomic-cli.tar").write_bytes(open(images["archive"], "rb").read())
    sc.ok("pull", "--storage", "ostree", "dockertar://srv/atomic-cli.tar")
    assert img in sc.ok("images", "list", "-f", "type=ostree").out
    out = sc.ok("images", "list", "-f", "type=ostree", "-f", f"repo={img.split(':')[0]}").out
    assert [ln.split()[1] for ln in lines(out)[1:]] == [img], out
    assert lines(sc.ok("images", "list", "-f", "repo=non-existing-repo").out)[1:] == []
    ids = lines(sc.ok("images", "list", "-q").out)
    assert all(len(i) == 12 for i in ids) and len(ids) == len(set(ids))
    sc.ok("images", "list", "-f", "type=ostree", "--all")

    sc.ok("install", "--system", f"--name={name}", f"--set=PORT={port}", img)
    try:
        sc.ok("start", name)
        assert http_get(port) == "hello atomic\n"
        rows = json.loads(sc.ok("containers", "list", "--json").out)
        image_id = next(r["image_id"] for r in rows if r["name"] == name)
        assert image_id in sc.ok("containers", "list", "--all", "--no-trunc").out
        assert name in lines(sc.ok("containers", "list", "--quiet").out)
        assert name in sc.ok("containers", "list", "--no-trunc", "--filter", "backend=ostree").out
        assert name in sc.ok("containers", "list", "--filter", "image=atomic-cli/system").out
        assert sc.ok("containers", "list", "-aq", "--no-trunc", "--filter",
                     "container=non-existing-system").out == ""
        assert name not in sc.ok("containers", "list", "-n", "--filter", "state=no-such").out

        sc.ok("containers", "update", f"--set=PORT={port2}", name)
        assert http_get(port2) == "hello atomic\n"
        sc.ok("containers", "update", name, "--rebase", images["update"])
        assert http_get(port2) == "hello atomic update\n"
        sc.ok("containers", "rollback", name)
        assert http_get(port2) == "hello atomic\n"
        r = sc.ok("run", "--storage", "ostree", name, "echo", "hello", "world")
        assert r.out == "hello world\n"

        assert "RECEIVER" not in sc.ok("images", "info", "--storage", "ostree", img).out
        out = sc.ok("images", "version", "--storage", "ostree", img).out
        assert lines(out)[1].split()[1:] == [img, "1.2-3"], out
        sc.ok("images", "verify", "--storage", "ostree", img)
        sc.ok("images", "tag", "--storage", "ostree", img, "atomic-cli-tagged:latest")
        sc.host.run("mkdir", "-p", "/srv/atomic-cli-mount")
        sc.ok("mount", img, "--storage", "ostree", "/srv/atomic-cli-mount")
        assert sc.host.run("cat", "/srv/atomic-cli-mount/exports/manifest.json").returncode == 0
        sc.ok("umount", "/srv/atomic-cli-mount")
        r = sc.sc("mount", "--live", name, "/srv/atomic-cli-mount")
        assert r.code == 2 and r.err.count("\n") == 1 and "--rw" in r.err
        assert "unchanged" in sc.ok("images", "update", "--storage=ostree", img).out
    finally:
        sc.sc("uninstall", "--storage", "ostree", name)
    sc.ok("install", "--system", "--system-package=no", "--name", "atomiccli2",
          "--set", f"PORT={free_port()}", img)
    sc.ok("-y", "containers", "delete", "atomiccli2")
    assert "atomiccli2" not in sc.listing()
    sc.ok("--assumeyes", "images", "delete", "-f", "--storage=ostree", "atomic-cli-tagged:latest")
    sc.ok("--assumeyes", "images", "delete", "-f", "--storage", "ostree", "atomic-cli-archive:latest")
    sc.ok("images", "prune")
    assert sc.ok("install", "--help").out.startswith("usage: syscontainers install")


def test_a_storage_other_than_ostree_is_one_line(sc):
    r = sc.sc("pull", "--storage", "docker", "busybox")
    assert r.code == 2 and r.err.count("\n") == 1 and "--storage" in r.err and "'docker'" in r.err


def test_unknown_filters_and_verbs_are_one_line(sc):
    r = sc.sc("containers", "list", "--filter", "colour=red")
    assert r.code == 2 and r.err.startswith("error: --filter: unknown key 'colour' (known: container,")
    r = sc.sc("containers", "trim")
    assert r.code == 2 and r.err.count("\n") == 1 and "unknown" in r.err
