"""Failure and recovery paths on a real systemd test host (docs/testing.md, "Failure and
recovery paths"): a step that really fails (a directory where a host file goes, a tmpfiles line
systemd-tmpfiles cannot apply, a template that does not render, a service that dies after it
started), and what the host looks like afterwards. Each test here was shown to fail with the bug
it exists for planted in the code (see the commit messages).
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tests.fixtures.examples import SERVICE_TEMPLATE, TMPFILES_TEMPLATE, config_template, example_spec
from tests.fixtures.images import ImageSpec, build_oci_layout
from tests.integration.sc_host import CHECKOUTS, ScHost, free_port, http_get

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.registry]

V1_FILES = {"/etc/fp/app.conf": "v1 $PORT\n", "/etc/fp-v1only.conf": "only v1\n"}
V2_FILES = {"/etc/fp/app.conf": "v2 $PORT\n", "/etc/fp-v2only.conf": "only v2\n"}


def dies_later_spec(after: int) -> ImageSpec:
    """The example image whose process runs ``after`` seconds, then exits with status 3; its unit
    has no Restart= (a restart could hide the death between two looks at the unit)."""
    spec = example_spec(index_html="dies later\n")
    cfg = json.loads(config_template())
    cfg["process"]["args"] = ["/bin/sh", "-c", f"sleep {after}; echo dying now; exit 3"]
    service = SERVICE_TEMPLATE.replace("Restart=on-failure\n", "")
    return replace(spec, exports={**spec.exports, "config.json.template": json.dumps(cfg),
                                  "service.template": service})


def bad_tmpfiles_spec() -> ImageSpec:
    """The example image with a tmpfiles line systemd-tmpfiles --create cannot apply (after
    its own line for the state directory: the privilege review sees the bind source made)."""
    spec = example_spec(hostfs=V1_FILES)
    return replace(spec, exports={**spec.exports, "tmpfiles.template": TMPFILES_TEMPLATE +
                                  "d /proc/sc-cannot-create-$NAME 0755 - - - -\n"})


@pytest.fixture(scope="module")
def images(registry, tmp_path_factory):
    root = tmp_path_factory.mktemp("failure-images")
    specs = {
        "v1": example_spec(index_html="hello v1\n", hostfs=V1_FILES),
        "v2": example_spec(index_html="hello v2\n", hostfs=V2_FILES),
        "needs-token": example_spec(index_html="token\n", required=["TOKEN"]),
        "dies-later": dies_later_spec(3),
        "bad-tmpfiles": bad_tmpfiles_spec(),
    }
    refs = {tag: registry.push(build_oci_layout(spec, root / tag, tag).layout, tag, "fp/web")
            for tag, spec in specs.items()}
    refs["layouts"] = {tag: root / tag for tag in specs}
    return refs


def link(sc: ScHost, name: str) -> str:
    return sc.host.run("readlink", str(CHECKOUTS / name)).stdout.strip()


def uninstall_quietly(sc: ScHost, name: str) -> None:
    sc.sc("uninstall", "--force", name)


def one_line_error(r) -> str:
    assert r.code == 1, r.text
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.err
    return lines[0]


# --------------------------------------------------------------------------- install

def test_install_never_clobbers_an_operators_host_file(sc, images):
    conf = sc.path("/etc/fp/app.conf")
    conf.parent.mkdir(parents=True)
    conf.write_text("the operator's own\n")
    try:
        r = sc.sc("install", "--name", "fp-clobber", images["v1"])
        assert one_line_error(r) == ("error: cannot install /etc/fp/app.conf: the file exists and "
                                     "was not installed by this container; move it away first")
        assert conf.read_text() == "the operator's own\n"
        assert not sc.path("/etc/fp-v1only.conf").exists()
        assert sc.traces("fp-clobber") == []
    finally:
        uninstall_quietly(sc, "fp-clobber")
        conf.unlink()
        conf.parent.rmdir()


def test_install_refuses_a_tmpfiles_file_that_is_not_ours(sc, images):
    mine = sc.path("/etc/tmpfiles.d/fp-tmpf.conf")
    mine.write_text("d /run/operator-dir 0755 - - -\n")
    try:
        r = sc.sc("install", "--name", "fp-tmpf", images["v1"])
        assert one_line_error(r) == ("error: tmpfiles file /etc/tmpfiles.d/fp-tmpf.conf already "
                                     "exists; remove it or choose another --name")
        assert mine.read_text() == "d /run/operator-dir 0755 - - -\n"
        assert sc.traces("fp-tmpf") == ["/etc/tmpfiles.d/fp-tmpf.conf"]
        assert not sc.path("/etc/fp").exists()
    finally:
        uninstall_quietly(sc, "fp-tmpf")
        mine.unlink()


def test_install_undoes_every_step_when_tmpfiles_fails(sc, images):
    """The last activation step fails for real: host files, unit file, tmpfiles file, link,
    enablement and the deployment are all gone again (docs/operations.md: install undo)."""
    name = "fp-undo"
    try:
        r = sc.sc("install", "--name", name, "--set", f"PORT={free_port()}", images["bad-tmpfiles"])
        line = one_line_error(r)
        assert "systemd-tmpfiles --create" in line, line
        assert sc.traces(name) == []
        assert not sc.path("/etc/fp").exists() and not sc.path("/etc/fp-v1only.conf").exists()
        assert sc.host.run("systemctl", "is-enabled", f"{name}.service", check=False).stdout.strip() \
            in ("", "not-found")
        assert name not in sc.listing()
    finally:
        uninstall_quietly(sc, name)


# --------------------------------------------------------------------------- update / rollback

def assert_running_v1(sc: ScHost, name: str, port: int) -> None:
    assert link(sc, name) == str(CHECKOUTS / f"{name}.0")
    assert sc.status(name) == "running"
    assert http_get(port) == "hello v1\n"
    assert sc.path("/etc/fp/app.conf").read_text() == "v1 $PORT\n"
    assert sc.path("/etc/fp-v1only.conf").read_text() == "only v1\n"
    assert sc.path(f"/etc/systemd/system/{name}.service").read_text() == \
        sc.path(CHECKOUTS / f"{name}.0/{name}.service").read_text()
    assert not sc.exists(CHECKOUTS / f".{name}.switching")


def test_failed_update_step_restores_and_restarts_the_running_version(sc, images, testhost_units):
    """A host file of the new version cannot be installed (a directory is where it goes): the
    update fails after the service was stopped; the old version's files, link and unit are
    back and the service runs again."""
    name, port = "fp-upd", free_port()
    testhost_units.append(f"{name}.service")
    blocker = sc.path("/etc/fp-v2only.conf")
    try:
        sc.ok("install", "--name", name, "--set", f"PORT={port}", images["v1"])
        sc.ok("start", name)
        assert http_get(port) == "hello v1\n"
        blocker.mkdir()
        r = sc.sc("update", name, "--rebase", images["v2"])
        assert one_line_error(r) == "error: cannot install /etc/fp-v2only.conf: a directory is in the way"
        assert_running_v1(sc, name, port)
        assert not sc.exists(CHECKOUTS / f"{name}.1")
    finally:
        if blocker.is_dir():
            blocker.rmdir()
        uninstall_quietly(sc, name)


def test_failed_rollback_step_restores_and_restarts_the_running_version(sc, images, testhost_units):
    name, port = "fp-rb", free_port()
    testhost_units.append(f"{name}.service")
    blocker = sc.path("/etc/fp-v1only.conf")
    try:
        sc.ok("install", "--name", name, "--set", f"PORT={port}", images["v1"])
        sc.ok("start", name)
        sc.ok("update", name, "--rebase", images["v2"])
        assert http_get(port) == "hello v2\n" and not blocker.exists()
        blocker.mkdir()
        r = sc.sc("rollback", name)
        assert one_line_error(r) == "error: cannot install /etc/fp-v1only.conf: a directory is in the way"
        assert link(sc, name) == str(CHECKOUTS / f"{name}.1")
        assert sc.status(name) == "running" and http_get(port) == "hello v2\n"
        assert sc.path("/etc/fp/app.conf").read_text() == "v2 $PORT\n"
        assert sc.path(f"/etc/systemd/system/{name}.service").read_text() == \
            sc.path(CHECKOUTS / f"{name}.1/{name}.service").read_text()
        assert not sc.exists(CHECKOUTS / f".{name}.switching")
        assert sc.exists(CHECKOUTS / f"{name}.0/info")          # the rollback target is kept
        blocker.rmdir()
        sc.ok("rollback", name)
        assert http_get(port) == "hello v1\n"
    finally:
        if blocker.is_dir():
            blocker.rmdir()
        uninstall_quietly(sc, name)


def test_failed_build_keeps_the_rollback_target(sc, images, testhost_units):
    """update builds into the other deployment, which is the rollback target: a build that
    fails (a value missing) must leave it complete, so rollback still works."""
    name, port = "fp-keep", free_port()
    testhost_units.append(f"{name}.service")
    try:
        sc.ok("install", "--name", name, "--set", f"PORT={port}", images["v1"])
        sc.ok("start", name)
        sc.ok("update", name, "--rebase", images["v2"])
        target_info = sc.path(CHECKOUTS / f"{name}.0/info").read_text()
        r = sc.sc("update", name, "--rebase", images["needs-token"])
        assert "TOKEN" in one_line_error(r)
        assert link(sc, name) == str(CHECKOUTS / f"{name}.1") and http_get(port) == "hello v2\n"
        assert sc.path(CHECKOUTS / f"{name}.0/info").read_text() == target_info
        assert not sc.dot_leftovers(name)
        sc.ok("rollback", name)
        assert_running_v1(sc, name, port)
    finally:
        uninstall_quietly(sc, name)


def test_controlled_update_waits_the_settle_time(sc, images, testhost_units):
    """The new version starts fine and dies 3 s later, inside the 15 s settle time: the
    controlled update must notice and roll back (a one-time look right after the start would
    see it active)."""
    name, port = "fp-settle", free_port()
    testhost_units.append(f"{name}.service")
    try:
        sc.ok("install", "--name", name, "--set", f"PORT={port}", images["v1"])
        sc.ok("start", name)
        r = sc.sc("update", name, "--rebase", images["dies-later"], "--controlled", "--timeout", "15")
        assert r.code == 1 and r.err.strip().splitlines()[-1] == (
            f"error: update of {name} failed: the new version did not stay active "
            f"(see `syscontainers logs {name}`); rolled back to the previous version"), r.text
        assert_running_v1(sc, name, port)
        assert "dying now" in sc.ok("logs", name).out
    finally:
        uninstall_quietly(sc, name)


def test_update_all_is_controlled(sc, images, registry, testhost_units):
    """update --all rolls back a container whose new image dies (its tag now names it)."""
    name, port = "fp-all", free_port()
    testhost_units.append(f"{name}.service")
    ref = registry.push(images["layouts"]["v1"], "v1", "fp/all", dest_tag="moving")
    try:
        sc.ok("install", "--name", name, "--set", f"PORT={port}", ref)
        sc.ok("start", name)
        registry.push(images["layouts"]["dies-later"], "dies-later", "fp/all", dest_tag="moving")
        r = sc.sc("update", "--all", "--json", "--timeout", "15")
        assert r.code == 1, r.text
        row = next(row for row in json.loads(r.out) if row["container"] == name)
        assert row["result"] == "failed", row
        assert row["reason"].startswith(f"update of {name} failed: the new version did not "
                                        "stay active"), row
        assert row["after"] == row["before"]
        assert_running_v1(sc, name, port)
    finally:
        uninstall_quietly(sc, name)


# --------------------------------------------------------------------------- images

def test_images_prune_keeps_what_an_installed_container_uses(sc, images):
    """The image of an installed container, its name deleted, survives prune (its merged tree
    is what update/rollback check out again)."""
    name = "fp-prune"
    try:
        sc.ok("install", "--name", name, "--set", f"PORT={free_port()}", images["v2"])
        image_id = json.loads(sc.path(CHECKOUTS / f"{name}.0/info").read_text())["revision"]
        sc.ok("images", "delete", "--force", images["v2"])    # in use: refused without --force
        sc.ok("images", "prune")
        ids = [row["id"] for row in json.loads(sc.ok("images", "list", "--all", "--json").out)]
        assert image_id in ids
        assert image_id not in [row["id"] for row in json.loads(sc.ok("images", "list", "--json").out)]
        sc.ok("uninstall", name)
        sc.ok("images", "prune")
        ids = [row["id"] for row in json.loads(sc.ok("images", "list", "--all", "--json").out)]
        assert image_id not in ids
    finally:
        uninstall_quietly(sc, name)
