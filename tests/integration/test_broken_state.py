"""Errors and broken state on a real systemd test host (docs/operations.md, "Errors and broken
state"): names that would shadow the OS, containers broken by hand, hostile exports files and
host failures (read-only /etc, a full disk, the wrong user) all end in one line on stderr and a
host as it was."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import pytest

from tests.fixtures.examples import config_template, example_spec
from tests.fixtures.images import build_oci_layout
from tests.integration.sc_host import CHECKOUTS, free_port

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.registry]


def with_exports(**files: str):
    """The example image with some of its exports files replaced."""
    spec = example_spec(index_html="broken-state\n")
    return replace(spec, exports={**spec.exports, **files})


def bad_config(**process) -> str:
    cfg = json.loads(config_template())
    cfg["process"].update(process)
    return json.dumps(cfg)


DEEP = "[" * 100_000 + "]" * 100_000

SPECS = {
    "good": lambda: example_spec(index_html="good\n"),
    "good2": lambda: example_spec(index_html="good2\n"),
    "args-int": lambda: with_exports(**{"config.json": bad_config(args=5)}),
    "args-ints": lambda: with_exports(**{"config.json": bad_config(args=[1, 2])}),
    "env-int": lambda: with_exports(**{"config.json": bad_config(env=[7])}),
    "deep-config": lambda: with_exports(**{"config.json": '{"a": ' + DEEP + "}"}),
    "deep-manifest": lambda: with_exports(**{"manifest.json": '{"defaultValues": ' + DEEP + "}"}),
    "huge-int": lambda: with_exports(**{"config.json": '{"x": ' + "9" * 5000 + "}"}),
    "surrogate": lambda: with_exports(
        **{"manifest.json": '{"defaultValues": {"PORT": "80\\udc80"}}'}),
}


@pytest.fixture(scope="module")
def images(registry, tmp_path_factory):
    root = tmp_path_factory.mktemp("broken-state")
    refs = {}
    for tag, make in SPECS.items():
        built = build_oci_layout(make(), root / tag, tag)
        refs[tag] = registry.push(built.layout, tag, "test/broken")
    return refs


def one_line_error(r) -> None:
    assert r.code != 0, r.text
    assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert r.err.startswith("error: "), r.err


def pulled_names(sc) -> set[str]:
    return {n for row in json.loads(sc.ok("images", "list", "--json").out) for n in row["names"]}


# ---------------------------------------------------------------------------- shadowing

def test_a_name_systemd_or_tmpfiles_already_has_is_refused_before_pulling(sc, images):
    # fstrim.service ships in the machine's /usr/lib/systemd/system (the test host's /usr);
    # legacy.conf in /usr/lib/tmpfiles.d; getty@tty9 is an instance of the vendor template.
    assert sc.exists("/usr/lib/systemd/system/fstrim.service")
    assert sc.exists("/usr/lib/tmpfiles.d/legacy.conf")
    assert images["good"] not in pulled_names(sc)
    for name, what in (("fstrim", "lib/systemd/system/fstrim.service"),
                       ("getty@tty9", "/getty@.service"),
                       ("legacy", "lib/tmpfiles.d/legacy.conf")):
        r = sc.sc("install", "--name", name, images["good"])
        one_line_error(r)
        assert f"the name {name} is taken" in r.err and what in r.err, r.err
        assert sc.traces(name) == []
    assert not sc.exists("/etc/systemd/system/fstrim.service")
    assert not sc.exists("/etc/tmpfiles.d/legacy.conf")
    assert images["good"] not in pulled_names(sc)      # refused before the pull


def test_our_own_container_still_installs_updates_and_reinstalls(sc, images, testhost_units):
    testhost_units.append("rb-own.service")
    port = free_port()
    sc.ok("install", "--name", "rb-own", "--set", f"PORT={port}", images["good"])
    sc.ok("update", "--rebase", images["good2"], "rb-own")
    sc.ok("rollback", "rb-own")
    sc.ok("uninstall", "rb-own")
    sc.ok("install", "--name", "rb-own", "--set", f"PORT={port}", images["good"])
    assert sc.listing()["rb-own"]["status"] == "inactive"
    sc.ok("uninstall", "rb-own")
    assert sc.traces("rb-own") == []


def test_an_install_a_crash_interrupted_is_ours_not_the_os(sc, images):
    """Our own unit file, left by a crash before the link, does not count as the OS's."""
    r = sc.sc("install", "--name", "rb-crash", "--set", f"PORT={free_port()}", images["good"],
              env={"SYSCONTAINERS_CRASH_AT": "install-unit"})
    assert r.code in (-9, 137)
    assert sc.exists("/etc/systemd/system/rb-crash.service")
    sc.ok("install", "--name", "rb-crash", "--set", f"PORT={free_port()}", images["good"])
    sc.ok("uninstall", "rb-crash")
    assert sc.traces("rb-crash") == []


# ---------------------------------------------------------------------------- broken containers

def test_one_broken_container_does_not_break_list_or_status(sc, images, testhost_units):
    testhost_units += ["rb-ok.service", "rb-bad.service"]
    sc.ok("install", "--name", "rb-ok", "--set", f"PORT={free_port()}", images["good"])
    sc.ok("install", "--name", "rb-bad", "--set", f"PORT={free_port()}", images["good"])
    config = sc.path(CHECKOUTS / "rb-bad.0/config.json")
    info = sc.path(CHECKOUTS / "rb-bad.0/info")
    good_info = info.read_text()
    try:
        for args, file, broken in ((5, config, None), ([1, 2], config, None),
                                   (None, info, "{not json"), (None, info, '{"values": 5}')):
            if file is config:
                cfg = json.loads(config.read_text())
                cfg["process"]["args"] = args
                config.write_text(json.dumps(cfg))
            else:
                info.write_text(broken)
            rows = {row["name"]: row for row in json.loads(sc.ok("list", "--json").out)}
            assert rows["rb-ok"]["status"] == "inactive" and rows["rb-ok"]["reason"] is None
            assert rows["rb-bad"]["status"] == "broken" and rows["rb-bad"]["reason"]
            r = sc.ok("list")
            assert "rb-ok" in r.out and "broken" in r.out
            assert "warning: container rb-bad is broken" in r.err
            assert "Traceback" not in r.err
            assert sc.sc("status", "rb-ok").code == 3       # inactive, not a crash
            r = sc.sc("status", "rb-bad")
            assert r.code == 1 and "rb-bad: broken (" in r.out and "Traceback" not in r.err
            config.write_text(config_template().replace("$PORT", "1"))   # next round
            info.write_text(good_info)
        sc.ok("uninstall", "rb-bad")
    finally:
        sc.sc("uninstall", "--force", "rb-bad")
        sc.ok("uninstall", "rb-ok")
    assert sc.traces("rb-bad") == [] and sc.traces("rb-ok") == []


def test_a_broken_container_is_a_failed_row_of_update_all(sc, images, testhost_units):
    """update --all goes on past a container whose info cannot be read: its row says
    "failed" with the reason, the others are updated or unchanged (exit 1)."""
    testhost_units += ["ra-ok.service", "ra-bad.service"]
    sc.ok("install", "--name", "ra-ok", "--set", f"PORT={free_port()}", images["good"])
    sc.ok("install", "--name", "ra-bad", "--set", f"PORT={free_port()}", images["good"])
    info = sc.path(CHECKOUTS / "ra-bad.0/info")
    good_info = info.read_text()
    try:
        info.write_text("{not json")
        r = sc.sc("update", "--all", "--json")
        assert r.code == 1 and "Traceback" not in r.err, r.text
        rows = {row["container"]: row for row in json.loads(r.out)}
        assert rows["ra-bad"]["result"] == "failed" and rows["ra-bad"]["before"] == ""
        assert "ra-bad.0" in rows["ra-bad"]["reason"] or "info" in rows["ra-bad"]["reason"]
        assert rows["ra-ok"]["result"] == "unchanged"
        assert rows["ra-ok"]["before"] == rows["ra-ok"]["after"] != ""
        r = sc.sc("update", "--all")
        assert r.code == 1 and "ra-bad" in r.out and "failed: " in r.out and "ra-ok" in r.out
        info.write_text(good_info)
    finally:
        info.write_text(good_info)
        sc.sc("uninstall", "--force", "ra-bad")
        sc.ok("uninstall", "ra-ok")


@pytest.mark.parametrize("case, field", [("args-int", "process.args"),
                                         ("args-ints", "process.args"),
                                         ("env-int", "process.env")])
def test_install_refuses_a_config_of_the_wrong_types(sc, images, case, field):
    name = f"rb-{case}"
    r = sc.sc("install", "--name", name, images[case])
    one_line_error(r)
    assert f"{field} must be a list of strings" in r.err
    assert sc.traces(name) == []


# ---------------------------------------------------------------------------- CHECKOUTS/NAME

def test_something_of_the_operator_at_checkouts_name_is_never_replaced(sc, images):
    file = sc.path(CHECKOUTS / "rb-file")
    folder = sc.path(CHECKOUTS / "rb-dir")
    foreign = sc.path(CHECKOUTS / "rb-link")
    file.write_text("the operator's notes\n")
    folder.mkdir()
    (folder / "kept").write_text("mine\n")
    foreign.symlink_to("/srv")
    try:
        for name, what in (("rb-file", "is a file"), ("rb-dir", "is a directory"),
                           ("rb-link", "is a link to /srv")):
            r = sc.sc("install", "--name", name, "--set", "PORT=1", images["good"])
            one_line_error(r)
            assert what in r.err and "syscontainers did not make" in r.err, r.err
            assert not sc.exists(CHECKOUTS / f"{name}.0")
            assert not sc.dot_leftovers(name)
            assert not sc.exists(f"/etc/systemd/system/{name}.service")
        assert file.read_text() == "the operator's notes\n"
        assert (folder / "kept").read_text() == "mine\n"
        assert str(foreign.readlink()) == "/srv"
    finally:
        file.unlink(missing_ok=True)
        if (folder / "kept").exists():
            (folder / "kept").unlink()
        folder.rmdir()
        foreign.unlink(missing_ok=True)


def test_a_link_whose_deployment_was_removed_by_hand(sc, images):
    sc.ok("install", "--name", "rb-gone", "--set", f"PORT={free_port()}", images["good"])
    sc.host.run("rm", "-rf", str(CHECKOUTS / "rb-gone.0"))
    r = sc.sc("install", "--name", "rb-gone", "--set", "PORT=1", images["good"])
    one_line_error(r)
    assert "rb-gone.0, which is missing" in r.err and "uninstall rb-gone" in r.err
    row = {x["name"]: x for x in json.loads(sc.ok("list", "--json").out)}["rb-gone"]
    assert row["status"] == "broken" and "is missing" in row["reason"]
    sc.ok("uninstall", "rb-gone")                       # what the message says to do
    assert sc.traces("rb-gone") == []
    sc.ok("install", "--name", "rb-gone", "--set", f"PORT={free_port()}", images["good"])
    sc.ok("uninstall", "rb-gone")


# ---------------------------------------------------------------------------- one line, not a stack

@pytest.mark.parametrize("case, words", [
    ("deep-config", "too deeply nested"),
    ("deep-manifest", "too deeply nested"),
    ("huge-int", "digits"),
    ("surrogate", "not valid Unicode"),
])
def test_hostile_exports_files_are_one_line_errors(sc, images, case, words):
    name = f"rb-{case}"
    r = sc.sc("install", "--name", name, "--set", "PORT=1", images[case])
    one_line_error(r)
    assert words in r.err, r.err
    assert sc.traces(name) == []


def test_set_value_that_is_not_utf8(sc, images):
    r = sc.sc("install", "--name", "rb-bytes", "--set", "PORT=80\udcff", images["good"])
    one_line_error(r)
    assert "not valid UTF-8" in r.err and sc.traces("rb-bytes") == []


def test_read_only_unit_directory(sc, images):
    run = sc.host.run
    run("mount", "--bind", "/etc/systemd/system", "/etc/systemd/system")
    try:
        run("mount", "-o", "remount,bind,ro", "/etc/systemd/system")
        r = sc.sc("install", "--name", "rb-ro", "--set", "PORT=1", images["good"])
        one_line_error(r)
        assert "/etc/systemd/system/rb-ro.service: Read-only file system (EROFS)" in r.err
        debug = sc.sc("--log-level", "debug", "install", "--name", "rb-ro", "--set", "PORT=1",
                      images["good"])
        assert "Traceback" in debug.err and debug.err.strip().endswith("(EROFS)")
    finally:
        run("umount", "/etc/systemd/system")
    assert sc.traces("rb-ro") == []


@pytest.fixture
def small_fs(sc):
    """A size- and inode-limited tmpfs inside the test host, unmounted afterwards."""
    mounted = []

    def mount(path: str, options: str) -> str:
        sc.host.run("mkdir", "-p", path)
        sc.host.run("mount", "-t", "tmpfs", "-o", options, "tmpfs", path)
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        sc.host.run("umount", "-l", path, check=False)
        sc.host.run("rmdir", path, check=False)


def test_inodes_run_out_during_pull_and_install(sc, images, small_fs):
    """The repository and the checkouts on a filesystem with few inodes: the pull runs out of
    them, or (pulled while there was room) the install does (ENOSPC); one line, nothing
    installed, nothing half-made."""
    top = small_fs("/srv/rb-inodes", "size=400m,nr_inodes=60")
    try:
        r = sc.sc("--checkout-path", top, "install", "--name", "rb-inodes", "--set", "PORT=1",
                  images["good"])
        one_line_error(r)
        assert "No space left on device" in r.err, r.err
        assert not sc.exists(f"{top}/rb-inodes") and not sc.exists(f"{top}/rb-inodes.0")
        assert not sc.exists("/etc/systemd/system/rb-inodes.service")

        top = small_fs("/srv/rb-inodes2", "size=400m,nr_inodes=300")
        sc.ok("--checkout-path", top, "pull", images["good"])
        sc.host.run("sh", "-c", f"mkdir {top}/fill && cd {top}/fill && i=0; "
                    "while touch f$i 2>/dev/null; do i=$((i+1)); done")
        r = sc.sc("--checkout-path", top, "install", "--name", "rb-inodes", "--set", "PORT=1",
                  images["good"])
        one_line_error(r)
        assert "No space left on device (ENOSPC)" in r.err, r.err
        assert not sc.exists(f"{top}/rb-inodes") and not sc.exists(f"{top}/rb-inodes.0")
        assert not sc.exists("/etc/systemd/system/rb-inodes.service")
        assert not sc.dot_leftovers("rb-inodes", top)
    finally:
        sc.sc("--checkout-path", top, "uninstall", "--force", "rb-inodes")


def test_disk_full_during_install_and_update(sc, images, small_fs, testhost_units):
    """Pulled while there was room, then the disk fills: install and update fail in one line,
    the installed version stays as it was."""
    testhost_units.append("rb-full.service")
    top = small_fs("/srv/rb-full", "size=300m")
    sc.ok("--checkout-path", top, "pull", images["good"])
    sc.ok("--checkout-path", top, "install", "--name", "rb-full", "--set", "PORT=1",
          images["good"])
    link = sc.host.run("readlink", f"{top}/rb-full").stdout
    sc.host.run("sh", "-c", f"cat /dev/zero > {top}/filler", check=False)
    try:
        r = sc.sc("--checkout-path", top, "update", "--set", "PORT=2", "rb-full")
        one_line_error(r)
        assert "No space left on device (ENOSPC)" in r.err, r.err
        assert sc.host.run("readlink", f"{top}/rb-full").stdout == link
        assert not sc.exists(f"{top}/rb-full.1")
        r = sc.sc("--checkout-path", top, "install", "--name", "rb-full2", "--set", "PORT=1",
                  images["good"])
        one_line_error(r)
        assert "No space left on device (ENOSPC)" in r.err, r.err
        assert not sc.exists(f"{top}/rb-full2.0") and not sc.exists(f"{top}/rb-full2")
        assert not sc.exists("/etc/systemd/system/rb-full2.service")
    finally:
        sc.host.run("rm", "-f", f"{top}/filler")
        sc.sc("--checkout-path", top, "uninstall", "rb-full")
    assert not sc.exists("/etc/systemd/system/rb-full.service")


def test_a_user_pointing_at_roots_store(sc, testhost):
    testhost.start_user("tester", 1000)
    from tests.integration.sc_host import SC
    cp = testhost.run_as_user("tester", SC, "--checkout-path", str(CHECKOUTS), "install",
                              "--name", "rb-user", "whatever:latest", check=False)
    assert cp.returncode != 0 and "Traceback" not in cp.stderr
    assert len(cp.stderr.strip().splitlines()) == 1, cp.stderr
    assert "Permission denied (EACCES)" in cp.stderr and str(CHECKOUTS) in cp.stderr


def test_user_mode_names_the_user_manager_or_user_tmpfiles_already_have(sc, testhost):
    """``--user``: the user manager's units (dconf.service ships in /usr/lib/systemd/user) and
    the user-tmpfiles.d directories count; refused before the (unreachable) image is asked."""
    from tests.integration.sc_host import SC
    testhost.start_user("tester", 1000)
    own = "/home/tester/.config/user-tmpfiles.d/rb-utmp.conf"
    testhost.run_as_user("tester", "mkdir", "-p", os.path.dirname(own))
    testhost.run_as_user("tester", "sh", "-c", f"echo 'd /tmp/x' > {own}")
    try:
        for name, what in (("dconf", "lib/systemd/user/dconf.service"), ("rb-utmp", own)):
            cp = testhost.run_as_user("tester", SC, "install", "--name", name,
                                      "127.0.0.1:1/nothing/here:1", check=False)
            assert cp.returncode == 1 and len(cp.stderr.strip().splitlines()) == 1, cp.stderr
            assert f"the name {name} is taken" in cp.stderr and what in cp.stderr, cp.stderr
        assert testhost.run_as_user("tester", "test", "-e",
                                    "/home/tester/.config/systemd/user/dconf.service",
                                    check=False).returncode != 0
    finally:
        testhost.run_as_user("tester", "rm", "-f", own)
