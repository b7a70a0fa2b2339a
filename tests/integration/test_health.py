"""Health checks on the real systemd test host: image checks (exec, http, tcp), the operator's
override and how updates carry it, list / status / healthcheck, the health-gated controlled
update and its automatic rollback, the fallback without a check, and sd_notify READY passed
through runc (docs/operations.md "Health checks", docs/templates.md "manifest.json" and
"Readiness: Type=notify")."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tests.fixtures.examples import SERVICE_TEMPLATE, config_template, example_spec
from tests.fixtures.images import File, ImageSpec, build_oci_layout
from tests.fixtures.sdnotify import sd_notify_binary
from tests.integration.sc_host import CHECKOUTS, ScHost, free_port, http_get, port_closed

pytestmark = [pytest.mark.systemd, pytest.mark.root, pytest.mark.registry]


def with_check(spec: ImageSpec, check: dict | None) -> ImageSpec:
    manifest = {"version": "1.0", "defaultValues": {"PORT": "8080"}}
    if check is not None:
        manifest["healthCheck"] = check
    return replace(spec, exports={**spec.exports, "manifest.json": json.dumps(manifest)})


FAST = {"interval": 1, "timeout": 2, "retries": 3}
HTTP_OK = {"http": "http://127.0.0.1:$PORT/", **FAST}
HTTP_404 = {"http": "http://127.0.0.1:$PORT/healthz", **FAST}   # busybox httpd: 404 Not Found
EXEC_OK = {"exec": ["/bin/sh", "-c", "test -f /srv/index.html && echo index is there"], **FAST}
TCP_OK = {"tcp": "$PORT", **FAST}

# runc waiting for READY does not act on SIGTERM: a short TimeoutStopSec ends a start that
# timed out quickly (docs/templates.md "Readiness: Type=notify").
NOTIFY_UNIT = SERVICE_TEMPLATE.replace("Type=forking", "Type=notify\nNotifyAccess=main\n"
                                       "TimeoutStartSec=6\nTimeoutStopSec=3") \
    .replace("PIDFile=$PIDFILE\n", "").replace("ExecStopPost=$EXEC_STOPPOST\n", "") \
    .replace("Restart=on-failure", "Restart=no")


# the same, with runc detached (run -d --pid-file, delete on stop-post)
NOTIFY_DETACHED_UNIT = SERVICE_TEMPLATE.replace("Type=forking", "Type=notify\nNotifyAccess=main\n"
                                                "TimeoutStartSec=6\nTimeoutStopSec=3") \
    .replace("Restart=on-failure", "Restart=no")


def notify_spec(tag: str, says_ready: bool, unit: str = NOTIFY_UNIT) -> ImageSpec:
    """httpd behind a shell that, when ``says_ready``, tells systemd READY=1 with a real
    sd_notify speaker once httpd listens (runc passes the socket in, docs/templates.md)."""
    cfg = json.loads(config_template())
    ready = ("echo $$NOTIFY_SOCKET > /data/notify-socket; until wget -q -O /dev/null "
             "http://127.0.0.1:$PORT/; do sleep 0.2; done; /usr/bin/sd-notify READY=1; "
             if says_ready else "")
    cfg["process"]["args"] = ["/bin/sh", "-c", "trap 'kill $$!; exit 0' TERM; "
                              f"/usr/sbin/httpd -f -p 127.0.0.1:$PORT -h /srv & {ready}wait"]
    spec = example_spec(index_html=f"notify {tag}\n")
    return replace(spec, layers=[*spec.layers, {"usr/bin/sd-notify": File(sd_notify_binary(), 0o755)}],
                   exports={**spec.exports, "service.template": unit,
                            "config.json.template": json.dumps(cfg)})


@pytest.fixture(scope="module")
def images(registry, tmp_path_factory):
    root = tmp_path_factory.mktemp("health-images")
    specs = {
        "http1": with_check(example_spec(index_html="health v1\n"), HTTP_OK),
        "http2": with_check(example_spec(index_html="health v2\n"), HTTP_OK),
        "http3": with_check(example_spec(index_html="health v3\n"), HTTP_404),
        "exec": with_check(example_spec(index_html="health exec\n"), EXEC_OK),
        "tcp": with_check(example_spec(index_html="health tcp\n"), TCP_OK),
        "plain1": with_check(example_spec(index_html="health plain1\n"), None),
        "plain2": with_check(example_spec(index_html="health plain2\n"), None),
        "notify": notify_spec("ready", True),
        "silent": notify_spec("silent", False),
        "notify-d": notify_spec("detached", True, NOTIFY_DETACHED_UNIT),
    }
    return {tag: registry.push(build_oci_layout(spec, root / tag, tag).layout, tag, "health/web")
            for tag, spec in specs.items()}


def link(sc: ScHost, name: str) -> str:
    return sc.host.run("readlink", str(CHECKOUTS / name)).stdout.strip()


def info(sc: ScHost, name: str) -> dict:
    return json.loads(sc.path(f"{link(sc, name)}/info").read_text())


def health(sc: ScHost, name: str) -> str:
    return sc.listing()[name]["health"]


@pytest.fixture
def installed(sc, testhost_units):
    """Names to uninstall after the test, whatever happened."""
    names: list[str] = []
    yield names
    for name in names:
        sc.sc("uninstall", "--force", name)


def test_failing_check_rolls_a_controlled_update_back(sc, images, installed, testhost_units):
    """The issue's done-when: v3's service starts but fails its check -> v2 back, healthy,
    exit != 0 and the error says why with the probe's output."""
    name, port = "hl-gate", free_port()
    installed.append(name)
    testhost_units.append(f"{name}.service")
    r = sc.ok("install", "--name", name, "--set", f"PORT={port}", images["http1"])
    assert f"health check: http http://127.0.0.1:{port}/\n" in r.out
    assert info(sc, name)["image-health-check"]["target"] == f"http://127.0.0.1:{port}/"
    sc.ok("start", name)
    r = sc.ok("update", name, "--rebase", images["http2"], "--controlled")
    assert f"{name} is healthy (http http://127.0.0.1:{port}/)" in r.out
    assert http_get(port) == "health v2\n"
    v2 = link(sc, name)

    # --timeout 20: the check's own verdict (3 failures, 1 s apart) comes first
    r = sc.sc("update", name, "--rebase", images["http3"], "--controlled", "--timeout", "20")
    assert r.code == 1, r.text
    error = r.err.strip().splitlines()[-1]
    assert error.startswith(f"error: update of {name} failed: the new version failed its health "
                            f"check (http http://127.0.0.1:{port}/healthz) 3 times in a row")
    assert f"; last probe: GET http://127.0.0.1:{port}/healthz: 404 Not Found" in error
    assert error.endswith(f"(see `syscontainers logs {name}`); rolled back to the previous version")
    assert link(sc, name) == v2
    assert http_get(port) == "health v2\n"
    assert sc.status(name) == "running" and health(sc, name) == "healthy"
    r = sc.ok("healthcheck", name)
    assert r.out.startswith(f"{name}: healthy (http http://127.0.0.1:{port}/): GET")


def test_exec_check_and_the_views(sc, images, installed, testhost_units):
    name, port = "hl-exec", free_port()
    installed.append(name)
    testhost_units.append(f"{name}.service")
    sc.ok("install", "--name", name, "--set", f"PORT={port}", images["exec"])
    assert health(sc, name) == "none"          # not running: nothing to probe
    sc.ok("start", name)
    http_get(port)
    r = sc.ok("healthcheck", name)
    assert r.out.strip() == f"{name}: healthy (exec /bin/sh -c test -f /srv/index.html && echo " \
                            "index is there): index is there"
    row = sc.listing()[name]
    assert row["health"] == "healthy"
    table = sc.ok("list").out
    assert any(line.startswith(name) and "running (healthy)" in line for line in table.splitlines())
    status = sc.sc("status", name)
    assert status.code == 0 and f"{name}: running (healthy)" in status.out
    assert "health: healthy (exec /bin/sh -c test -f /srv/index.html" in status.out
    as_json = json.loads(sc.ok("healthcheck", name, "--json").out)
    assert as_json == {"name": name, "health": "healthy", "check": as_json["check"],
                       "output": "index is there"}


def test_tcp_check_and_an_unhealthy_container(sc, images, installed, testhost_units):
    name, port = "hl-tcp", free_port()
    installed.append(name)
    testhost_units.append(f"{name}.service")
    sc.ok("install", "--name", name, "--set", f"PORT={port}", images["tcp"])
    sc.ok("start", name)
    http_get(port)
    assert sc.ok("healthcheck", name).out.startswith(f"{name}: healthy (tcp {port}): connected to "
                                                     f"127.0.0.1:{port}")
    # the operator points the check at a port nothing listens on: stored without a redeploy
    dead = free_port()
    r = sc.ok("update", name, "--health-tcp", f"127.0.0.1:{dead}", "--health-timeout", "1")
    assert "stored; the container was not redeployed" in r.out
    r = sc.sc("healthcheck", name)
    assert r.code == 1 and r.out.startswith(f"{name}: unhealthy (tcp 127.0.0.1:{dead}): connect "
                                            f"to 127.0.0.1:{dead}:"), r.text
    assert health(sc, name) == "unhealthy"


def test_operator_check_is_stored_and_carried_across_updates(sc, images, installed, testhost_units):
    name, port = "hl-carry", free_port()
    installed.append(name)
    testhost_units.append(f"{name}.service")
    sc.ok("install", "--name", name, "--set", f"PORT={port}", "--health-cmd", "cat /srv/index.html",
          "--health-interval", "1", images["plain1"])
    stored = info(sc, name)["health-check"]
    assert stored["kind"] == "exec" and stored["command"] == ["/bin/sh", "-c", "cat /srv/index.html"]
    assert stored["interval"] == 1 and info(sc, name)["image-health-check"] is None
    sc.ok("start", name)
    http_get(port)
    assert sc.ok("healthcheck", name).out.strip().endswith(": health plain1")
    # an update without flags keeps the operator's check; the gate uses it
    r = sc.ok("update", name, "--rebase", images["plain2"], "--controlled")
    assert f"{name} is healthy (exec /bin/sh -c cat /srv/index.html)" in r.out
    assert info(sc, name)["health-check"] == stored
    assert sc.ok("healthcheck", name).out.strip().endswith(": health plain2")
    # --display says what the check would become, and changes nothing
    r = sc.ok("update", name, "--display", "--health-tcp", str(port))
    assert f"would set the health check of {name} to tcp {port} (stored; no redeploy)" in r.out
    assert info(sc, name)["health-check"] == stored
    # the operator's check replaces the image's own
    sc.ok("update", name, "--rebase", images["http1"], "--controlled")
    assert info(sc, name)["image-health-check"]["kind"] == "http"
    assert "(exec /bin/sh -c cat /srv/index.html)" in sc.ok("healthcheck", name).out
    r = sc.ok("update", name, "--display", "--rebase", images["plain2"], "--no-healthcheck")
    assert "  health check: exec /bin/sh -c cat /srv/index.html -> none" in r.out
    # --no-healthcheck turns off even the image's check
    sc.ok("update", name, "--no-healthcheck")
    assert info(sc, name)["health-check"]["kind"] == "none"
    r = sc.sc("healthcheck", name)
    assert r.code == 2 and r.err.strip() == (
        f"error: container {name} has no health check (the image declares none; give one with "
        "update --health-cmd/--health-url/--health-tcp)")
    assert health(sc, name) == "none"


def test_operator_check_that_fails_rolls_back_with_the_exec_output(sc, images, installed,
                                                                  testhost_units):
    name, port = "hl-opfail", free_port()
    installed.append(name)
    testhost_units.append(f"{name}.service")
    sc.ok("install", "--name", name, "--set", f"PORT={port}", images["plain1"])
    sc.ok("start", name)
    http_get(port)
    before = link(sc, name)
    r = sc.sc("update", name, "--rebase", images["plain2"], "--controlled", "--health-cmd",
              "echo not ready >&2; exit 4", "--health-interval", "1", "--health-retries", "2")
    assert r.code == 1, r.text
    assert "failed its health check (exec /bin/sh -c echo not ready >&2; exit 4) 2 times in a " \
           "row; last probe: exit status 4: not ready (see `syscontainers logs hl-opfail`); " \
           "rolled back to the previous version" in r.err
    assert link(sc, name) == before and info(sc, name).get("health-check") is None
    assert http_get(port) == "health plain1\n"


def test_without_a_check_the_gate_is_active_for_the_timeout(sc, images, installed, testhost_units):
    name, port = "hl-plain", free_port()
    installed.append(name)
    testhost_units.append(f"{name}.service")
    sc.ok("install", "--name", name, "--set", f"PORT={port}", images["plain1"])
    sc.ok("start", name)
    r = sc.ok("update", name, "--rebase", images["plain2"], "--controlled", "--timeout", "2")
    assert "is healthy" not in r.out and f"updated {name}" in r.out
    assert http_get(port) == "health plain2\n" and health(sc, name) == "none"


def test_bad_health_flags_change_nothing(sc, images, installed):
    name = "hl-bad"
    r = sc.sc("install", "--name", name, "--health-url", "ftp://x/", images["plain1"])
    assert r.code == 2 and r.err.strip() == (
        "error: --health-url: health check URL 'ftp://x/' must be http://HOST[:PORT]/PATH")
    r = sc.sc("install", "--name", name, "--health-cmd", "true", "--health-tcp", "80", images["plain1"])
    assert r.code == 2 and "give one of --health-cmd, --health-url, --health-tcp" in r.err
    assert sc.traces(name) == []


def test_type_notify_ready_comes_from_the_container(sc, images, installed, testhost_units):
    """Type=notify: runc hands the container a socket (NOTIFY_SOCKET=/run/notify/notify.sock)
    and forwards its READY=1 to systemd; a container that never says it times out."""
    name, port = "hl-notify", free_port()
    installed.append(name)
    testhost_units.append(f"{name}.service")
    sc.ok("install", "--name", name, "--set", f"PORT={port}", images["notify"])
    unit = sc.path(f"/etc/systemd/system/{name}.service").read_text()
    assert "Type=notify" in unit and " run -d " not in unit
    sc.ok("start", name)       # returns once READY=1 arrived
    show = sc.host.run("systemctl", "show", "-p", "ActiveState,SubState,Type", f"{name}.service").stdout
    assert "ActiveState=active" in show and "Type=notify" in show
    assert http_get(port) == "notify ready\n"
    # where runc put its socket for the container (docs/templates.md)
    assert sc.path(f"/var/lib/{name}/notify-socket").read_text() == "/run/notify/notify.sock\n"

    silent, port2 = "hl-silent", free_port()
    installed.append(silent)
    testhost_units.append(f"{silent}.service")
    sc.ok("install", "--name", silent, "--set", f"PORT={port2}", images["silent"])
    r = sc.sc("start", silent)
    assert r.code == 1 and r.err.startswith(f"error: systemctl start {silent}.service"), r.text
    show = sc.host.run("systemctl", "show", "-p", "Result,ActiveState", f"{silent}.service").stdout
    assert "Result=timeout" in show and "ActiveState=failed" in show, show


def test_type_notify_detached(sc, images, installed, testhost_units):
    """Type=notify with runc detached: ``run -d`` waits for the container's READY=1, then
    systemd follows the container's PID from the pid file (docs/templates.md)."""
    name, port = "hl-notify-d", free_port()
    installed.append(name)
    testhost_units.append(f"{name}.service")
    sc.ok("install", "--name", name, "--set", f"PORT={port}", images["notify-d"])
    unit = sc.path(f"/etc/systemd/system/{name}.service").read_text()
    assert " run -d --pid-file " in unit
    sc.ok("start", name)       # runc run -d returns once READY=1 arrived
    show = sc.host.run("systemctl", "show", "-p", "ActiveState,MainPID", f"{name}.service").stdout
    pidfile = info(sc, name)["values"]["PIDFILE"]
    # the main process is the container's init (the pid file), not the runc that exited
    assert "ActiveState=active" in show, show
    assert f"MainPID={sc.host.run('cat', pidfile).stdout.strip()}" in show, show
    assert http_get(port) == "notify detached\n"
    sc.ok("stop", name)
    assert port_closed(port)
