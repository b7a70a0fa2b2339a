"""install / list / start / stop / uninstall on a real systemd test host (docs/templates.md, docs/operations.md)."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest

from tests.fixtures.examples import config_template, example_spec
from tests.fixtures.images import ImageSpec, build_oci_layout
from tests.integration.sc_host import CHECKOUTS, free_port, http_get, port_closed

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.registry]


def crashing_spec() -> ImageSpec:
    """The example image whose process exits at once with status 3."""
    spec = example_spec(index_html="crash\n")
    cfg = json.loads(config_template())
    cfg["process"]["args"] = ["/bin/sh", "-c", "echo about to crash; exit 3"]
    return replace(spec, exports={**spec.exports, "config.json.template": json.dumps(cfg)})


@pytest.fixture(scope="module")
def images(registry, tmp_path_factory):
    """Reference of each test image in the registry (name -> registry/repo:tag)."""
    root = tmp_path_factory.mktemp("lifecycle-images")
    specs = {
        "v1": example_spec(index_html="hello v1\n"),
        "v2": example_spec(index_html="hello v2\n"),
        "crash": crashing_spec(),
        "bare": ImageSpec(layers=[{"etc/bare": "1\n"}]),
        "needs-token": example_spec(required=["TOKEN"]),
        "hostfs": example_spec(hostfs={"/etc/example/app.conf": "port=$PORT\n"}),
        "once": ImageSpec(labels={"atomic.run": "once"},
                          cmd=["/bin/sh", "-c", "echo ran once in $(pwd); exit 7"]),
        "own": own_command_spec(),
    }
    refs = {}
    for tag, spec in specs.items():
        built = build_oci_layout(spec, root / tag, tag)
        repo = "test/web" if tag in ("v1", "v2", "crash") else f"test/{tag}"
        refs[tag] = registry.push(built.layout, tag, repo)
    # atomic's default name for tag 1.0 is httpd-1.0 (deployments httpd-1.0.0 / httpd-1.0.1)
    built = build_oci_layout(example_spec(index_html="one dot oh\n"), root / "httpd", "1.0")
    refs["httpd-1.0"] = registry.push(built.layout, "1.0", "test/httpd")
    return refs


def own_command_spec() -> ImageSpec:
    """No /exports: the image's own Entrypoint + Cmd, Env, WorkingDir and User must run."""
    return ImageSpec(layers=[{"etc/passwd": "root:x:0:0::/root:/bin/sh\napp:x:1234:1300::/srv:/bin/sh\n",
                              "etc/group": "root:x:0:\napp:x:1300:\n", "srv/app/.keep": ""}],
                     entrypoint=["/bin/sh", "-c"],
                     cmd=['echo "$GREETING from $(pwd) as $(id -u):$(id -g)"'],
                     env=["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hello-own"],
                     workdir="/srv/app", user="app")



def test_install_start_list_stop_uninstall(sc, images, testhost_units):
    port = free_port()
    testhost_units.append("web1.service")
    r = sc.ok("install", "--name", "web1", "--set", f"PORT={port}", images["v1"])
    assert "installed web1" in r.out
    assert sc.path("/etc/systemd/system/web1.service").is_file()
    assert sc.host.run("systemctl", "is-enabled", "web1.service", check=False).stdout.strip() == "enabled"
    info = json.loads(sc.path(CHECKOUTS / "web1.0/info").read_text())
    assert info["values"]["PORT"] == str(port) and info["values"]["NAME"] == "web1"
    assert sc.host.run("readlink", str(CHECKOUTS / "web1")).stdout.strip() == str(CHECKOUTS / "web1.0")
    assert sc.status("web1") == "inactive"          # install enables, does not start
    assert sc.path("/var/lib/web1").is_dir()          # tmpfiles created

    sc.ok("start", "web1")
    assert http_get(port) == "hello v1\n"
    row = sc.listing()["web1"]
    assert row["status"] == "running"
    assert row["image"] == images["v1"] and "httpd" in " ".join(row["command"])
    assert "web1" in sc.ok("list").out

    sc.ok("stop", "web1")
    assert sc.status("web1") == "inactive" and port_closed(port)

    sc.ok("uninstall", "web1")
    assert sc.traces("web1") == []
    assert "web1" not in sc.listing()
    again = sc.sc("uninstall", "web1")
    assert again.code == 1 and again.err.strip() == "error: container web1 is not installed"
    assert sc.sc("uninstall", "--force", "web1").code == 0


def test_uninstall_of_a_running_container_stops_it(sc, images, testhost_units):
    port = free_port()
    testhost_units.append("web2.service")
    sc.ok("install", "--name", "web2", "--set", f"PORT={port}", images["v1"])
    sc.ok("start", "web2")
    http_get(port)
    sc.ok("uninstall", "web2")
    assert port_closed(port) and sc.traces("web2") == []


def test_crashing_service_is_failed(sc, images, testhost_units):
    testhost_units.append("crash1.service")
    sc.ok("install", "--name", "crash1", images["crash"])    # its command uses no PORT
    sc.sc("start", "crash1")
    assert sc.wait_status("crash1", "failed", timeout=30) == "failed"
    assert "about to crash" in sc.host.journal("crash1.service")
    assert "about to crash" in sc.ok("logs", "crash1").out      # the runc scope is included
    assert sc.sc("status", "crash1").code == 3
    sc.ok("uninstall", "crash1")
    assert sc.traces("crash1") == []


def test_image_without_exports_gets_default_config_and_unit(sc, images):
    r = sc.ok("install", "--name", "bare1", images["bare"])
    assert "warning" in r.text and "config.json" in r.text
    cfg = json.loads(sc.path(CHECKOUTS / "bare1.0/config.json").read_text())
    assert cfg["root"] == {"path": "rootfs", "readonly": True}
    assert cfg["process"]["args"] == ["/bin/sh"] and cfg["process"]["terminal"] is False
    unit = sc.path("/etc/systemd/system/bare1.service").read_text()
    assert "Description=bare1" in unit and "Restart=on-failure" in unit
    assert "run -d --pid-file /run/container-bare1.pid 'bare1'" in unit
    assert "ExecStopPost=/usr/sbin/runc delete 'bare1'" in unit
    assert f"WorkingDirectory={CHECKOUTS}/bare1.0" in unit
    sc.ok("uninstall", "bare1")


def test_missing_variable_names_it_and_installs_nothing(sc, images):
    r = sc.sc("install", "--name", "tok1", images["needs-token"])
    assert r.code != 0 and "TOKEN" in r.err and len(r.err.strip().splitlines()) == 1
    assert sc.traces("tok1") == []
    r = sc.ok("install", "--name", "tok1", "--set", "TOKEN=abc", "--set", f"PORT={free_port()}",
              images["needs-token"])
    sc.ok("uninstall", "tok1")


def test_display_changes_nothing(sc, images):
    sc.ok("pull", images["v1"])
    before = sc.host.run("ls", "-a", str(CHECKOUTS), str(CHECKOUTS / ".storage"),
                         str(CHECKOUTS / ".syscontainers")).stdout
    r = sc.ok("install", "--display", "--name", "disp1", "--set", "PORT=1234", images["v1"])
    assert "would install disp1" in r.out and "-p 127.0.0.1:1234" in r.out, r.out
    assert sc.traces("disp1") == []
    assert sc.host.run("ls", "-a", str(CHECKOUTS), str(CHECKOUTS / ".storage"),
                       str(CHECKOUTS / ".syscontainers")).stdout == before


def test_install_of_an_existing_name_changes_nothing(sc, images):
    sc.ok("install", "--name", "dup1", "--set", f"PORT={free_port()}", images["v1"])
    info = sc.path(CHECKOUTS / "dup1.0/info").read_text()
    r = sc.sc("install", "--name", "dup1", images["v2"])     # another image: points to update
    assert r.code == 1 and "update dup1 --rebase" in r.err, r.text
    names = [n for row in json.loads(sc.ok("images", "list", "--json").out) for n in row["names"]]
    assert images["v2"] not in names          # nothing was pulled either
    assert sc.path(CHECKOUTS / "dup1.0/info").read_text() == info
    sc.ok("uninstall", "dup1")


def test_an_operators_unit_is_never_replaced(sc, images):
    unit = sc.path("/etc/systemd/system/mine1.service")
    unit.write_text("[Service]\nExecStart=/bin/true\n")
    try:
        r = sc.sc("install", "--name", "mine1", images["v1"])
        assert r.code != 0 and "already exists" in r.err
        assert unit.read_text() == "[Service]\nExecStart=/bin/true\n"
        assert sc.traces("mine1") == [str(unit).replace(str(sc.host.root), "")]
    finally:
        unit.unlink()


def test_bad_names_and_values_are_one_line_errors(sc, images):
    """Each bad input: its own exit status and message (one line), nothing left behind."""
    v1 = images["v1"]
    cases = (
        (("install", "--name", "../x", v1), 2,
         "error: invalid container name '../x': use letters, digits and _ . @ - "
         "(not starting with . or -, no '..')"),
        (("install", "--name", "a", "--set", "NOEQUALS", v1), 2,
         "error: Expected form NAME=VALUE, got 'NOEQUALS'"),
        (("install", "--name", "nl1", "--set", "PORT=80\nExecStartPre=/bin/evil", v1), 1,
         f"error: config.json rendered from config.json.template of image {v1} is not valid "
         "JSON: Invalid control character "),
        (("install", "--runtime", "/nonexistent/runc", v1), 1,
         "error: the runtime /nonexistent/runc is not installed"),
        (("start", "nosuch"), 1, "error: container nosuch is not installed"),
        (("install", "127.0.0.1:1/nothing/here:v1"), 1,
         "error: cannot reach registry 127.0.0.1:1: connection refused"),
    )
    for args, code, message in cases:
        r = sc.sc(*args)
        assert r.code == code, (args, r.text)
        lines = r.err.strip().splitlines()
        assert len(lines) == 1, (args, r.err)
        if "nl1" in args:                      # the JSON parser's detail follows
            assert lines[0].startswith(message), (args, r.err)
        else:
            assert lines[0] == message, (args, r.err)
    assert sc.traces("nl1") == [] and sc.traces("a") == [] and sc.traces("x") == []


def test_host_files_installed_and_removed(sc, images):
    port = free_port()
    sc.ok("install", "--name", "hf1", "--set", f"PORT={port}", images["hostfs"])
    conf = sc.path("/etc/example/app.conf")
    assert conf.is_file()
    info = json.loads(sc.path(CHECKOUTS / "hf1.0/info").read_text())
    assert "/etc/example/app.conf" in info["installed-files-checksum"]
    sc.ok("uninstall", "hf1")
    assert not conf.exists() and not conf.parent.exists()


def test_image_without_exports_runs_its_own_command(sc, images, testhost_units):
    testhost_units.append("own1.service")
    r = sc.ok("install", "--name", "own1", images["own"])
    assert "warning" in r.err and "the image's own command (/bin/sh -c echo" in r.err
    assert "you may want exports" in r.err
    cfg = json.loads(sc.path(CHECKOUTS / "own1.0/config.json").read_text())
    assert cfg["process"]["cwd"] == "/srv/app" and cfg["process"]["user"] == {"uid": 1234, "gid": 1300}
    try:
        sc.sc("start", "own1")               # it prints one line and exits
        deadline = time.monotonic() + 30
        while "hello-own from" not in sc.host.journal("own1.service") and time.monotonic() < deadline:
            time.sleep(0.3)
        assert "hello-own from /srv/app as 1234:1300" in sc.host.journal("own1.service")
    finally:
        sc.ok("uninstall", "own1")
    assert sc.traces("own1") == []


def test_run_once_label_runs_it_once_instead(sc, images):
    r = sc.sc("install", "--name", "once1", images["once"])
    assert r.code == 7, r.text                              # the container's exit status
    assert "ran once in /" in r.out and "atomic.run=once" in r.out
    assert sc.traces("once1") == [] and "once1" not in sc.listing()
    r = sc.ok("install", "--display", "--name", "once1", images["once"])
    assert "would run" in r.out and sc.traces("once1") == []


def test_install_of_an_existing_name_compares_image_and_values(sc, images):
    port = free_port()
    sc.ok("install", "--name", "ex1", "--set", f"PORT={port}", images["v1"])
    try:
        for same in (("--set", f"PORT={port}"), ()):
            r = sc.ok("install", "--name", "ex1", *same, images["v1"])
            assert "ex1 already present" in r.out
        r = sc.sc("install", "--name", "ex1", "--set", f"PORT={port + 1}", images["v1"])
        assert r.code == 1 and len(r.err.strip().splitlines()) == 1, r.err
        assert "other values for PORT" in r.err and "syscontainers update ex1 --set PORT=" in r.err
        r = sc.sc("install", "--name", "ex1", "--set", f"PORT={port}", images["v2"])
        assert r.code == 1 and f"update ex1 --rebase {images['v2']}" in r.err
        r = sc.sc("install", "--name=", images["v1"])
        assert r.code == 2 and r.err.strip() == "error: container name is empty"
        info = json.loads(sc.path(CHECKOUTS / "ex1.0/info").read_text())
        assert info["values"]["PORT"] == str(port) and info["image"] == images["v1"]
        assert not sc.exists(CHECKOUTS / "ex1.1")
    finally:
        sc.ok("uninstall", "ex1")


def test_names_ending_in_dot_index(sc, images, registry):
    ref = images["httpd-1.0"]
    nothing = f"{registry.host}/test/no-such-image:1"     # a pull of it would fail
    sc.ok("install", "--set", f"PORT={free_port()}", ref)
    try:
        assert sc.host.run("readlink", str(CHECKOUTS / "httpd-1.0")).stdout.strip() == \
            str(CHECKOUTS / "httpd-1.0.0")
        assert sc.listing()["httpd-1.0"]["status"] == "inactive"
        for clash, why in (("httpd-1", "would use httpd-1.0 as its deployment"),
                           ("httpd-1.0.1", "collides with the deployment httpd-1.0.1 of container "
                                           "httpd-1.0")):
            r = sc.sc("install", "--name", clash, nothing)   # refused before any pull
            assert r.code == 1 and why in r.err and len(r.err.strip().splitlines()) == 1, r.err
        assert not sc.exists(CHECKOUTS / "httpd-1.0.1") and not sc.exists(CHECKOUTS / "httpd-1.0.1.0")
        r = sc.sc("update", "httpd-1.0", "--set", "PROT=1")  # a typo
        assert r.code == 2 and "its variables: PIDFILE, PORT, STATE_DIRECTORY" in r.err
        sc.ok("update", "httpd-1.0", "--set", f"PORT={free_port()}")
        sc.ok("update", "httpd-1.0", "--force", "--set", "UNUSED=1")
        info = json.loads(sc.path(CHECKOUTS / "httpd-1.0.0/info").read_text())
        assert info["values"]["UNUSED"] == "1"                 # back on .0 after two updates
        assert list(sc.listing()).count("httpd-1.0") == 1
        assert "httpd-1.0" not in sc.ok("images", "prune", "--dry-run").out
    finally:
        sc.ok("uninstall", "httpd-1.0")
    assert sc.traces("httpd-1.0") == []
    assert not sc.exists(CHECKOUTS / "httpd-1.0.0") and not sc.exists(CHECKOUTS / "httpd-1.0.1")


def test_half_done_uninstall_is_finished_by_uninstall_or_prune(sc, images):
    for finisher in (("uninstall", "half1"), ("images", "prune")):
        sc.ok("install", "--name", "half1", "--set", f"PORT={free_port()}", images["v1"])
        r = sc.sc("uninstall", "half1", env={"SYSCONTAINERS_CRASH_AT": "uninstall-link"})
        assert r.code in (-9, 137)
        assert sc.exists(CHECKOUTS / "half1.0") and not sc.exists(CHECKOUTS / "half1")
        assert "half1" not in sc.listing()
        r = sc.ok(*finisher)
        assert sc.traces("half1") == [], (finisher, r.text)


def test_install_with_remote_rootfs(sc, images, testhost_units):
    port = free_port()
    testhost_units.append("rem1.service")
    sc.ok("pull", images["v1"])
    sc.ok("extract", images["v1"], "/srv/remote1/rootfs")
    sc.ok("install", "--name", "rem1", "--remote", "/srv/remote1", "--set", f"PORT={port}", images["v1"])
    dep = CHECKOUTS / "rem1.0"
    assert sc.host.run("readlink", str(dep / "rootfs")).stdout.strip() == "/srv/remote1/rootfs"
    cfg = json.loads(sc.path(dep / "config.json").read_text())
    assert cfg["root"]["path"] == "/srv/remote1/rootfs"
    assert json.loads(sc.path(dep / "info").read_text())["remote"] == "/srv/remote1"
    sc.ok("start", "rem1")
    assert http_get(port) == "hello v1\n"
    sc.ok("uninstall", "rem1")
    assert sc.path("/srv/remote1/rootfs/srv/index.html").is_file()   # the remote tree is not ours
    r = sc.sc("install", "--name", "rem2", "--remote", "/srv/nothing-here", images["v1"])
    assert r.code != 0 and "--remote" in r.err and sc.traces("rem2") == []


def test_preinstalled_containers_are_listed_started_and_not_updated(sc, images, testhost_units):
    """A container shipped with the OS under /usr/lib/containers/atomic/NAME (made here from a
    regular deployment; /usr/lib gets a writable overlay inside the test host only)."""
    testhost_units.append("pre1.service")
    port = free_port()
    run = sc.host.run
    run("mkdir", "-p", "/var/tmp/usrlib/upper", "/var/tmp/usrlib/work")
    run("mount", "-t", "overlay", "overlay", "-o",
        "lowerdir=/usr/lib,upperdir=/var/tmp/usrlib/upper,workdir=/var/tmp/usrlib/work", "/usr/lib")
    try:
        sc.ok("install", "--name", "pre1", "--set", f"PORT={port}", images["v1"])
        run("mkdir", "-p", "/usr/lib/containers/atomic")
        run("cp", "-a", str(CHECKOUTS / "pre1.0"), "/usr/lib/containers/atomic/pre1")
        unit = sc.path("/etc/systemd/system/pre1.service").read_text()
        sc.ok("uninstall", "pre1")
        unit = unit.replace(str(CHECKOUTS / "pre1.0"), "/usr/lib/containers/atomic/pre1")
        sc.path("/etc/systemd/system/pre1.service").write_text(unit)
        run("systemctl", "daemon-reload")
        row = sc.listing()["pre1"]
        assert row["preinstalled"] is True and row["status"] == "inactive"
        sc.ok("start", "pre1")
        assert http_get(port) == "hello v1\n" and sc.status("pre1") == "running"
        r = sc.sc("update", "pre1")
        assert r.code != 0 and "preinstalled" in r.err
        r = sc.sc("uninstall", "pre1")
        assert r.code != 0 and "preinstalled" in r.err
        sc.ok("stop", "pre1")
        assert sc.status("pre1") == "inactive"
    finally:
        run("systemctl", "stop", "pre1.service", check=False)
        sc.path("/etc/systemd/system/pre1.service").unlink(missing_ok=True)
        run("systemctl", "daemon-reload")
        run("umount", "-l", "/usr/lib", check=False)


def test_run_directory_with_a_blank_starts_and_gets_its_pid_file(sc, images, testhost_units):
    """RUN_DIRECTORY="/run/a b": the Exec lines quote the pid file (docs/templates.md)."""
    port = free_port()
    testhost_units.append("blank1.service")
    sc.host.run("mkdir", "-p", "/run/a b")
    try:
        sc.ok("install", "--name", "blank1", "--set", f"PORT={port}",
              "--set", "RUN_DIRECTORY=/run/a b", images["v1"])
        sc.ok("start", "blank1")
        assert http_get(port) == "hello v1\n"
        assert sc.wait_status("blank1", "running") == "running"
        pid = sc.host.run("cat", "/run/a b/container-blank1.pid").stdout.strip()
        assert pid.isdigit()
        sc.ok("uninstall", "blank1")
        assert port_closed(port) and sc.traces("blank1") == []
    finally:
        sc.sc("uninstall", "--force", "blank1")
        sc.host.run("rm", "-rf", "/run/a b", check=False)
