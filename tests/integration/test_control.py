"""start / stop / status on a real systemd test host: the quick paths (a stat instead of a
query when nothing was interrupted and no container state is left) still complete an
interrupted update and report one container's state (docs/performance.md "start, stop,
status"; docs/operations.md "Service state across update, rollback, stop and uninstall")."""

from __future__ import annotations

import pytest

from tests.fixtures.examples import example_spec
from tests.fixtures.images import build_oci_layout
from tests.integration.sc_host import CHECKOUTS, free_port, http_get, port_closed

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.registry]


@pytest.fixture(scope="module")
def images(registry, tmp_path_factory):
    root = tmp_path_factory.mktemp("control-images")
    specs = {"v1": example_spec(index_html="ctl v1\n"), "v2": example_spec(index_html="ctl v2\n")}
    return {tag: registry.push(build_oci_layout(spec, root / tag, tag).layout, tag, "ctl/web")
            for tag, spec in specs.items()}


def test_start_completes_an_update_a_crash_interrupted(sc, images, testhost_units):
    name, port = "ctl1", free_port()
    testhost_units.append(f"{name}.service")
    sc.ok("install", "--name", name, "--set", f"PORT={port}", images["v1"])
    try:
        sc.ok("start", name)
        r = sc.sc("update", name, "--rebase", images["v2"],
                  env={"SYSCONTAINERS_CRASH_AT": "switch-link"})
        assert r.code in (-9, 137), r.text
        assert sc.exists(CHECKOUTS / f".{name}.switching")
        sc.ok("start", name)          # reconciles first: the link's deployment, marker gone
        assert http_get(port) == "ctl v2\n"
        assert not sc.exists(CHECKOUTS / f".{name}.switching")
    finally:
        sc.sc("uninstall", name)


def test_status_of_one_container_among_others(sc, images, testhost_units):
    names = ["ctl2", "ctl3"]
    port = free_port()
    testhost_units.extend(f"{n}.service" for n in names)
    sc.ok("install", "--name", "ctl2", "--set", f"PORT={port}", images["v1"])
    sc.ok("install", "--name", "ctl3", "--set", f"PORT={free_port()}", images["v2"])
    try:
        sc.ok("start", "ctl2")
        r = sc.sc("status", "ctl2")
        first, rest = r.out.split("\n", 1)
        assert r.code == 0 and first == f"ctl2: running (image {images['v1']}, " \
            f"{sc.listing()['ctl2']['image_id'][:12]}, auto-update off)"
        assert "ctl2.service" in rest and "Active: active (running)" in rest
        r = sc.sc("status", "ctl3")
        assert r.code == 3 and r.out.startswith("ctl3: inactive (image ")
        assert "Active: inactive (dead)" in r.out
        sc.ok("stop", "ctl2")
        assert port_closed(port)
        assert sc.host.run("runc", "state", "ctl2", check=False).returncode != 0
        missing = sc.sc("status", "nosuch9")
        # as `systemctl status` of an unknown unit (docs/json.md, "Exit codes")
        assert missing.code == 4 and missing.err.strip() == "error: container nosuch9 is not installed"
    finally:
        for n in names:
            sc.sc("uninstall", n)


# The plain case (lifecycle/quickcontrol.py): what a start or stop loaded, and its exit code,
# from the CLI's own main() run by the venv's Python inside the test host.
_PLAIN = ("import sys\n"
          "from syscontainers.cli.__main__ import main\n"
          "rc = main(sys.argv[1:])\n"
          "heavy = ('dataclasses', 'pathlib', 'subprocess', 'argparse', 'json.decoder', 're',"
          " 'syscontainers.paths', 'syscontainers.deploy.deployment',"
          " 'syscontainers.lifecycle.control')\n"
          "print(rc, sorted(m for m in sys.modules if m in heavy))\n")


def _plain(sc, *argv: str) -> str:
    from tests.testhost.host import REPO_ROOT
    r = sc.host.run(str(REPO_ROOT / ".venv/bin/python"), "-c", _PLAIN, *argv, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.strip()


def test_plain_start_and_stop_run_one_systemctl_and_nothing_of_the_full_path(
        sc, images, testhost_units):
    name, port = "ctl4", free_port()
    testhost_units.append(f"{name}.service")
    sc.ok("install", "--name", name, "--set", f"PORT={port}", images["v1"])
    try:
        assert _plain(sc, "start", name) == "0 []"
        assert http_get(port) == "ctl v1\n"
        assert sc.host.run("systemctl", "is-active", f"{name}.service").stdout.strip() == "active"
        assert _plain(sc, "stop", name) == "0 []"
        assert port_closed(port)
        assert sc.host.run("runc", "state", name, check=False).returncode != 0
        # the command itself, with global flags, the same way
        assert sc.ok("--system", "-q", "start", name).text == ""
        assert http_get(port) == "ctl v1\n"
        assert sc.ok("stop", name).text == ""
        assert sc.status(name) == "inactive"
    finally:
        sc.sc("uninstall", name)


def test_plain_start_failing_is_systemds_last_line(sc, images, testhost_units):
    """A start job that fails: one line (systemctl's last), exit status 1, on the quick path
    as on the full one (--log-level debug takes the full path)."""
    name = "ctl5"
    testhost_units.append(f"{name}.service")
    sc.ok("install", "--name", name, "--set", f"PORT={free_port()}", images["v1"])
    dropin = sc.path(f"/etc/systemd/system/{name}.service.d/fail.conf")
    try:
        dropin.parent.mkdir(parents=True, exist_ok=True)
        dropin.write_text("[Service]\nExecStartPre=/bin/false\n")
        sc.host.run("systemctl", "daemon-reload")
        direct = sc.host.run("systemctl", "start", f"{name}.service", check=False)
        assert direct.returncode != 0
        want = f"error: systemctl start {name}.service: {direct.stderr.strip().splitlines()[-1]}"
        sc.host.run("systemctl", "reset-failed", f"{name}.service", check=False)
        assert _plain(sc, "start", name).startswith("1 [")   # main() returned 1, printed
        quick = sc.sc("start", name)
        assert (quick.code, quick.out, quick.err.strip()) == (1, "", want)
        full = sc.sc("--log-level", "debug", "start", name)
        assert full.code == 1 and full.err.strip().splitlines()[-1] == want
        assert sc.status(name) != "running"
    finally:
        dropin.unlink(missing_ok=True)
        sc.host.run("systemctl", "daemon-reload")
        sc.sc("uninstall", name)


def test_start_and_stop_of_unknown_or_invalid_names(sc):
    for verb in ("start", "stop"):
        r = sc.sc(verb, "nosuch8")
        assert (r.code, r.err.strip()) == (1, "error: container nosuch8 is not installed")
        r = sc.sc(verb, "bad..name")
        assert r.code == 2 and r.err.strip().startswith("error: invalid container name")


def test_a_leftover_container_is_still_removed_by_a_plain_stop(sc, images, testhost_units):
    """runc's state of the container is there after the unit stopped (killed the way a
    timed-out stop kills it): stop hands it to the full path's leftover.clear."""
    name, port = "ctl6", free_port()
    testhost_units.append(f"{name}.service")
    sc.ok("install", "--name", name, "--set", f"PORT={port}", images["v1"])
    try:
        sc.ok("start", name)
        assert http_get(port) == "ctl v1\n"
        # a state dir with nothing running: what a SIGKILLed runc leaves
        sc.host.run("systemctl", "kill", "--signal=SIGKILL", f"{name}.service")
        sc.wait_status(name, "failed")
        assert sc.exists(f"/run/runc/{name}")
        assert sc.ok("stop", name).text == ""
        assert not sc.exists(f"/run/runc/{name}")
        sc.ok("start", name)       # runc would refuse an existing container ID
        assert http_get(port) == "ctl v1\n"
        sc.ok("stop", name)
    finally:
        sc.sc("uninstall", name)


def _ours(out: str, name: str) -> list[str]:
    """The lines of a status before systemctl's text (whose memory and times move between
    two runs); that text is there."""
    lines = out.splitlines()
    head = [i for i, line in enumerate(lines) if f"{name}.service - " in line]
    assert head, out
    return lines[:head[0]]


def _status_by_front_and_python(sc, name: str) -> tuple[str, bool]:
    """`status NAME` through the front, checked against the full Python path's (--log-level
    debug takes it); and whether the front printed it by itself (no Python import lines)."""
    front = sc.sc("status", name, env={"PYTHONPROFILEIMPORTTIME": "1"})
    python = sc.sc("--log-level", "debug", "status", name)
    assert front.code == python.code, (front, python)
    assert _ours(front.out, name) == _ours(python.out, name), (front.out, python.out)
    return front.out, "import time:" not in front.err


def test_the_fronts_status_is_the_full_paths(sc, images, testhost_units):
    """The command's front prints a plain status without Python (docs/performance.md "The
    command's front"): the same line in each state, and Python's for a row it leaves."""
    name, port = "ctl7", free_port()
    testhost_units.append(f"{name}.service")
    sc.ok("install", "--name", name, "--set", f"PORT={port}", images["v1"])
    unit = sc.path(f"/etc/systemd/system/{name}.service")
    try:
        out, itself = _status_by_front_and_python(sc, name)
        assert itself and out.startswith(f"{name}: inactive (image {images['v1']}, ")
        sc.ok("start", name)
        out, itself = _status_by_front_and_python(sc, name)
        assert itself and out.startswith(f"{name}: running (image ")
        sc.ok("pin", name)
        unit.write_text(unit.read_text() + "# edited by hand\n")
        out, itself = _status_by_front_and_python(sc, name)
        assert itself and out.startswith(f"{name}: running, drifted, pinned (image ")
        sc.ok("update", name, "--force", "--health-tcp", str(port))   # the full path probes it
        out, itself = _status_by_front_and_python(sc, name)
        assert not itself and "health: " in out
        sc.ok("stop", name)
        assert sc.status(name) == "inactive"
    finally:
        sc.sc("uninstall", name)
