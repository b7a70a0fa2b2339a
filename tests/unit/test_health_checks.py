"""Health checks without a host: manifest.json healthCheck parsing and its errors, the
operator's flags, which check applies, the gate's decisions over a fake clock, and the
http/tcp probes against servers on 127.0.0.1 (docs/operations.md "Health checks",
docs/templates.md "manifest.json")."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from syscontainers.deploy import deployment as dl
from syscontainers.deploy.exports import parse_manifest
from syscontainers.errors import ConfigError, UsageError
from syscontainers.lifecycle import health as lh
from syscontainers.service import health as h
from syscontainers.service.health import HealthCheck, ProbeResult

PREFIX = "Invalid manifest.json file in image img: "


def manifest(check) -> HealthCheck | None:
    return parse_manifest(json.dumps({"healthCheck": check}), "img").health_check


def test_manifest_kinds_and_defaults():
    assert parse_manifest("{}", "img").health_check is None
    assert manifest({"exec": "pgrep x"}) == HealthCheck(kind="exec", command=("/bin/sh", "-c", "pgrep x"))
    assert manifest({"exec": ["/bin/check", "-q"]}).command == ("/bin/check", "-q")
    assert manifest({"http": "http://127.0.0.1:$PORT/health", "interval": 2, "timeout": 1.5,
                     "retries": 5, "startPeriod": 30}) == HealthCheck(
        kind="http", target="http://127.0.0.1:$PORT/health", interval=2.0, timeout=1.5, retries=5,
        start_period=30.0)
    assert manifest({"tcp": 8080}).target == "8080"
    assert manifest({"tcp": "127.0.0.1:$PORT"}).target == "127.0.0.1:$PORT"


@pytest.mark.parametrize("check, message", [
    ("pgrep x", 'healthCheck must be an object such as {"exec": "CMD"}, {"http": "URL"} or {"tcp": PORT}'),
    ({}, "healthCheck must be an object with exactly one of exec, http, tcp"),
    ({"exec": "a", "tcp": 1}, "healthCheck must be an object with exactly one of exec, http, tcp"),
    ({"exec": "a", "interva": 1}, "healthCheck.interva must be absent (known keys: exec, http, "
                                  "tcp, interval, timeout, retries, startPeriod)"),
    ({"exec": ""}, "healthCheck.exec must be a string or a non-empty list of strings"),
    ({"exec": [1]}, "healthCheck.exec must be a string or a non-empty list of strings"),
    ({"http": 80}, "healthCheck.http must be a URL string (http://HOST:PORT/PATH)"),
    ({"tcp": True}, 'healthCheck.tcp must be a port number or "HOST:PORT"'),
    ({"tcp": 1, "interval": 0}, "healthCheck.interval must be a positive number of seconds"),
    ({"tcp": 1, "timeout": "5"}, "healthCheck.timeout must be a positive number of seconds"),
    ({"tcp": 1, "startPeriod": -1}, "healthCheck.startPeriod must be a positive number of seconds"),
    ({"tcp": 1, "retries": 0}, "healthCheck.retries must be a whole number of at least 1"),
    ({"tcp": 1, "retries": 2.5}, "healthCheck.retries must be a whole number of at least 1"),
])
def test_manifest_errors_are_one_line(check, message):
    with pytest.raises(ConfigError) as e:
        manifest(check)
    assert str(e.value) == PREFIX + message


def test_rendered_image_check_is_validated():
    check = manifest({"http": "http://127.0.0.1:$PORT/"})
    assert check.substituted(lambda t: t.replace("$PORT", "81")).target == "http://127.0.0.1:81/"
    with pytest.raises(ConfigError, match="must be PORT or HOST:PORT"):
        h.validate(HealthCheck(kind="tcp", target="70000"), "x")
    with pytest.raises(ConfigError, match="must be http://HOST"):
        h.validate(HealthCheck(kind="http", target="/relative"), "x")


def test_operator_flags():
    assert lh.operator_check() is None
    assert lh.operator_check(disabled=True) == h.DISABLED
    assert lh.operator_check(cmd="test -f /x", retries=2) == HealthCheck(
        kind="exec", command=("/bin/sh", "-c", "test -f /x"), retries=2)
    assert lh.operator_check(tcp="9000").target == "9000"
    for kwargs, message in [
        (dict(cmd="a", url="http://h/"), "give one of --health-cmd, --health-url, --health-tcp"),
        (dict(interval=3), "--health-interval/-timeout/-retries/-start-period need"),
        (dict(disabled=True, tcp="1"), "--no-healthcheck goes without --health-* flags"),
        (dict(tcp="1", interval=0), "--health-interval must be positive (got 0)"),
        (dict(tcp="1", retries=0), "--health-retries must be positive (got 0)"),
        (dict(cmd=" "), "--health-cmd needs a command"),
        (dict(url="ftp://h/"), "--health-url: health check URL 'ftp://h/' must be"),
        (dict(tcp="x"), "--health-tcp: health check port 'x' must be PORT or HOST:PORT"),
    ]:
        with pytest.raises(UsageError) as e:
            lh.operator_check(**kwargs)
        assert str(e.value).startswith(message), str(e.value)


def info(**kw) -> dl.InstallInfo:
    return dl.InstallInfo(image="i", revision="r", ostree_commit="c", created=0, values={}, **kw)


def test_which_check_applies_and_the_info_round_trip():
    image = HealthCheck(kind="http", target="http://127.0.0.1:1/")
    mine = HealthCheck(kind="exec", command=("true",))
    assert lh.effective_check(info()) is None
    assert lh.effective_check(info(image_health_check=image.as_json())) == image
    assert lh.effective_check(info(health_check=mine.as_json(), image_health_check=image.as_json())) == mine
    assert lh.effective_check(info(health_check=h.DISABLED.as_json(),
                                   image_health_check=image.as_json())) is None
    text = info(health_check=mine.as_json()).to_json()
    back = dl.InstallInfo.from_json(text, "x")
    assert json.loads(text)["health-check"]["command"] == ["true"] and lh.effective_check(back) == mine
    assert lh.carried_check(back, None) == mine and lh.carried_check(back, image) == image
    with pytest.raises(ConfigError, match="wrong type"):
        dl.InstallInfo.from_json(json.dumps({"health-check": "exec true"}), "x")
    with pytest.raises(ConfigError, match="invalid health check in x"):
        lh.effective_check(info(health_check={"kind": "exec", "command": [1]}), "x")


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class Systemd:
    def __init__(self, active_until: float, clock: Clock):
        self.active_until, self.clock = active_until, clock

    def is_active(self, unit):
        return self.clock.now < self.active_until


def gate(tmp_path: Path, record: dl.InstallInfo, answers, active_until=1e9, timeout=10.0):
    dep = dl.Deployment("web", 1, tmp_path)
    dep.info_path.write_text(record.to_json())
    clock = Clock()
    host = SimpleNamespace(systemd=Systemd(active_until, clock),
                           paths=SimpleNamespace(config=SimpleNamespace(runtime="/bin/true")))
    seen = []

    def prober(check, *, runtime, name):
        seen.append(clock.now)
        return answers(len(seen))
    outcome = lh.wait_healthy(host, dep, timeout, lambda m: None, prober=prober, clock=clock,
                              sleep=clock.sleep)
    return outcome, seen


CHECK = HealthCheck(kind="exec", command=("check",), interval=2, timeout=1, retries=3)


def test_gate_first_success_is_healthy(tmp_path):
    outcome, seen = gate(tmp_path, info(health_check=CHECK.as_json()),
                         lambda n: ProbeResult(n == 2, "ok" if n == 2 else "no"))
    assert outcome.healthy and outcome.output == "ok" and seen == [0, 2]


def test_gate_retries_in_a_row_are_unhealthy_after_the_start_period(tmp_path):
    check = replace(CHECK, start_period=5)
    outcome, seen = gate(tmp_path, info(health_check=check.as_json()),
                         lambda n: ProbeResult(False, f"probe {n}"))
    # probes at 0, 2, 4 fall in the start period; 6, 8, 10 count
    assert seen == [0, 2, 4, 6, 8, 10] and not outcome.healthy
    assert outcome.reason == "failed its health check (exec check) 3 times in a row"
    assert outcome.output == "probe 6"


def test_gate_stops_when_the_service_is_not_active(tmp_path):
    outcome, seen = gate(tmp_path, info(health_check=CHECK.as_json()),
                         lambda n: ProbeResult(False, "refused"), active_until=3)
    assert (outcome.healthy, outcome.reason, outcome.output, seen) == \
        (False, "did not stay active", "refused", [0, 2])


def test_gate_gives_up_at_the_timeout(tmp_path):
    slow = replace(CHECK, retries=100, interval=1)
    outcome, seen = gate(tmp_path, info(health_check=slow.as_json()),
                         lambda n: ProbeResult(False, "x"), timeout=5)
    assert (outcome.healthy, outcome.reason, seen) == \
        (False, "was not healthy within 5 s (exec check)", [0, 1, 2, 3, 4, 5])
    # never less than the start period and one probe after it
    late = replace(CHECK, retries=1, interval=1, start_period=8)
    outcome, seen = gate(tmp_path, info(health_check=late.as_json()),
                         lambda n: ProbeResult(n == 9, "x"), timeout=2)
    assert outcome.healthy and seen == list(range(9))


def test_gate_without_a_check_wants_the_service_active_for_the_timeout(tmp_path):
    outcome, seen = gate(tmp_path, info(), lambda n: ProbeResult(True), timeout=3)
    assert outcome.healthy and outcome.check is None and seen == []
    outcome, _ = gate(tmp_path, info(), lambda n: ProbeResult(True), timeout=3, active_until=1)
    assert (outcome.healthy, outcome.reason) == (False, "did not stay active")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = {"/ok": 200, "/moved": 302}.get(self.path, 500)
        self.send_response(code)
        self.send_header("Location", "/elsewhere")
        self.end_headers()
        self.wfile.write(b"broken backend" if code == 500 else b"")

    def log_message(self, *args):
        pass


def test_http_and_tcp_probes_on_loopback():
    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        def probe(check):
            return h.probe(check, runtime="", name="")
        base = f"http://127.0.0.1:{port}"
        assert probe(HealthCheck(kind="http", target=f"{base}/ok")) == ProbeResult(True, f"GET {base}/ok: 200 OK")
        assert probe(HealthCheck(kind="http", target=f"{base}/moved")).healthy
        assert probe(HealthCheck(kind="http", target=f"{base}/bad")) == ProbeResult(
            False, f"GET {base}/bad: 500 Internal Server Error: broken backend")
        assert probe(HealthCheck(kind="tcp", target=str(port))) == ProbeResult(True, f"connected to 127.0.0.1:{port}")
    finally:
        server.shutdown()
        server.server_close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    r = h.probe(HealthCheck(kind="tcp", target=f"127.0.0.1:{closed}", timeout=1), runtime="", name="")
    assert not r.healthy and r.output.startswith(f"connect to 127.0.0.1:{closed}: ")


def test_exec_probe_runs_the_runtime(tmp_path):
    fake = tmp_path / "runtime"
    fake.write_text("#!/bin/sh\necho \"$@\"; exit 3\n")
    fake.chmod(0o755)
    r = h.probe(HealthCheck(kind="exec", command=("/bin/check", "-q")), runtime=str(fake), name="web")
    assert r == ProbeResult(False, "exit status 3: exec web /bin/check -q")
    slow = tmp_path / "slow"
    slow.write_text("#!/bin/sh\nexec sleep 5\n")
    slow.chmod(0o755)
    r = h.probe(HealthCheck(kind="exec", command=("x",), timeout=0.2), runtime=str(slow), name="web")
    assert r == ProbeResult(False, "exec x did not finish within 0.2 s")


def test_shorten_keeps_the_end():
    assert h.shorten("a\n b\tc") == "a b c"
    assert h.shorten("x" * 10 + "END", limit=8) == "...xxEND"


def test_a_missing_runtime_is_an_unhealthy_row_not_an_error(tmp_path, monkeypatch):
    paths = SimpleNamespace(config=SimpleNamespace(runtime="/nonexistent/runc"))
    dep = dl.Deployment("web", 0, tmp_path)
    dep.info_path.write_text(info(runtime="/nonexistent/runc",
                                  health_check=CHECK.as_json()).to_json())
    monkeypatch.setattr(dl, "current", lambda p, name: dep)
    report = lh.container_health(paths, "web", "running")
    assert report == lh.HealthReport("web", "unhealthy", "exec check",
                                     "the runtime /nonexistent/runc is not installed")
    assert lh.container_health(paths, "web", "inactive").state == "none"
    assert lh.container_health(paths, "web", "starting").state == "starting"
