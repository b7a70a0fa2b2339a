"""Health checks: what a check is, how it is read, and one probe (docs/operations.md "Health
checks", docs/templates.md "manifest.json").

A check comes from an image's ``exports/manifest.json`` (``healthCheck``) or from the
operator (``--health-cmd/--health-url/--health-tcp``, stored in the info file). Both are
parsed here, strictly: a wrong type is one error line naming the key. A probe runs once and
returns a :class:`ProbeResult`; waiting and deciding (start period, retries, the update gate)
is lifecycle's (lifecycle/health.py).

Kinds:
- ``exec``: a command run inside the running container with ``RUNTIME exec NAME CMD`` (the
  runtime the container was installed with, its default state root: the one the unit's
  ``runc run`` used); exit 0 is healthy. A string is run by ``/bin/sh -c``, a list as argv.
- ``http``: ``GET URL`` from the host; a 2xx or 3xx answer is healthy (redirects are not
  followed: a 3xx proves the service answers).
- ``tcp``: a TCP connect from the host to ``HOST:PORT`` (``PORT`` alone: 127.0.0.1).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import asdict, dataclass, replace
from typing import Callable

from ..errors import ConfigError

KINDS = ("exec", "http", "tcp")
NONE = "none"          # the operator turned the image's check off (--no-healthcheck)
OUTPUT_LIMIT = 400     # characters of a probe's output kept for messages

DEFAULT_INTERVAL = 5.0
DEFAULT_TIMEOUT = 5.0
DEFAULT_RETRIES = 3
DEFAULT_START_PERIOD = 0.0


@dataclass(frozen=True)
class HealthCheck:
    """One check. ``command`` is the argv of an ``exec`` check; ``target`` the URL of an
    ``http`` one or ``HOST:PORT`` of a ``tcp`` one. Times are seconds; ``retries``
    consecutive failures after ``start_period`` make the container unhealthy."""

    kind: str
    command: tuple[str, ...] = ()
    target: str = ""
    interval: float = DEFAULT_INTERVAL
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    start_period: float = DEFAULT_START_PERIOD

    @property
    def disabled(self) -> bool:
        return self.kind == NONE

    def describe(self) -> str:
        """One line for people: ``exec /bin/check``, ``http http://...``, ``tcp 127.0.0.1:80``."""
        if self.kind == "exec":
            return "exec " + " ".join(self.command)
        return f"{self.kind} {self.target}" if self.kind != NONE else "none"

    def as_json(self) -> dict:
        """The info file's form (docs/formats.md "health-check"); read back by parse_stored."""
        data = asdict(self)
        data["command"] = list(self.command)
        return data

    def substituted(self, render: Callable[[str], str]) -> "HealthCheck":
        """The check with ``render`` (template substitution) applied to its command words and
        its target: an image's check names ``$PORT`` as its config does."""
        return replace(self, command=tuple(render(w) for w in self.command),
                       target=render(self.target) if self.target else self.target)


DISABLED = HealthCheck(kind=NONE)


@dataclass(frozen=True)
class ProbeResult:
    healthy: bool
    output: str = ""       # what the probe said (shortened), for status and error messages

    def line(self) -> str:
        return ("healthy" if self.healthy else "unhealthy") + (f": {self.output}" if self.output else "")


# --- parsing -------------------------------------------------------------------------------

def parse_manifest_check(data: object, bad: Callable[[str, str], Exception]) -> HealthCheck:
    """``healthCheck`` of manifest.json: ``{"exec": CMD}`` | ``{"http": URL}`` | ``{"tcp":
    PORT or "HOST:PORT"}`` plus optional ``interval``, ``timeout``, ``retries``,
    ``startPeriod``. ``bad(key, expected)`` makes the error (one line naming the image)."""
    if not isinstance(data, dict):
        raise bad("healthCheck", 'an object such as {"exec": "CMD"}, {"http": "URL"} or {"tcp": PORT}')
    kinds = [k for k in KINDS if k in data]
    if len(kinds) != 1:
        raise bad("healthCheck", "an object with exactly one of exec, http, tcp")
    unknown = sorted(set(data) - set(KINDS) - {"interval", "timeout", "retries", "startPeriod"})
    if unknown:
        raise bad(f"healthCheck.{unknown[0]}", "absent (known keys: exec, http, tcp, interval, "
                  "timeout, retries, startPeriod)")
    kind = kinds[0]
    value = data[kind]
    command, target = (), ""
    if kind == "exec":
        command = _command(value, lambda: bad("healthCheck.exec", "a string or a non-empty list of strings"))
    elif kind == "http":
        if not isinstance(value, str):
            raise bad("healthCheck.http", "a URL string (http://HOST:PORT/PATH)")
        target = value
    else:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise bad("healthCheck.tcp", 'a port number or "HOST:PORT"')
        target = str(value)
    times = {}
    for key, field_name in (("interval", "interval"), ("timeout", "timeout"),
                            ("startPeriod", "start_period")):
        if key in data:
            v = data[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or \
                    (key != "startPeriod" and v == 0):
                raise bad(f"healthCheck.{key}", "a positive number of seconds")
            times[field_name] = float(v)
    retries = data.get("retries", DEFAULT_RETRIES)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 1:
        raise bad("healthCheck.retries", "a whole number of at least 1")
    return HealthCheck(kind=kind, command=command, target=target, retries=retries, **times)


def _command(value: object, error: Callable[[], Exception]) -> tuple[str, ...]:
    if isinstance(value, str) and value.strip():
        return ("/bin/sh", "-c", value)
    if isinstance(value, list) and value and all(isinstance(w, str) for w in value):
        return tuple(value)
    raise error()


def parse_stored(data: object, where: str) -> HealthCheck | None:
    """The info file's ``health-check`` / ``image-health-check`` (as_json's form); None for
    null. ConfigError naming ``where`` when a hand edit broke it."""
    if data is None:
        return None
    try:
        if not isinstance(data, dict) or data.get("kind") not in (*KINDS, NONE):
            raise TypeError
        check = HealthCheck(kind=data["kind"], command=tuple(data.get("command", ())),
                            target=str(data.get("target", "")),
                            interval=float(data.get("interval", DEFAULT_INTERVAL)),
                            timeout=float(data.get("timeout", DEFAULT_TIMEOUT)),
                            retries=int(data.get("retries", DEFAULT_RETRIES)),
                            start_period=float(data.get("start_period", DEFAULT_START_PERIOD)))
        if not all(isinstance(w, str) for w in check.command):
            raise TypeError
    except (TypeError, ValueError):
        raise ConfigError(f"invalid health check in {where} (give it again with update "
                          "--health-cmd/--health-url/--health-tcp)") from None
    return check


def validate(check: HealthCheck, what: str) -> HealthCheck:
    """A rendered check must be usable: an http URL with a host, a tcp port in range.
    ConfigError naming ``what`` (the image, or the operator's flag)."""
    if check.kind == "http":
        url = urllib.parse.urlsplit(check.target)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(f"{what}: health check URL {check.target!r} must be http://HOST[:PORT]/PATH")
        try:
            url.port
        except ValueError:
            raise ConfigError(f"{what}: health check URL {check.target!r} has a bad port") from None
    if check.kind == "tcp":
        tcp_address(check.target, what)
    return check


def tcp_address(target: str, what: str = "health check") -> tuple[str, int]:
    host, sep, port = target.rpartition(":")
    host = host.strip("[]") if sep else "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{what}: health check port {target!r} must be PORT or HOST:PORT (1-65535)")
    return host, int(port)


# --- probing -------------------------------------------------------------------------------

def probe(check: HealthCheck, *, runtime: str, name: str) -> ProbeResult:
    """Run ``check`` once against container ``name`` (its ``runtime``), within its timeout."""
    if check.kind == "exec":
        return _probe_exec(check, runtime, name)
    if check.kind == "http":
        return _probe_http(check)
    if check.kind == "tcp":
        return _probe_tcp(check)
    return ProbeResult(True, "no health check")


# The probes import their modules themselves: http.client (email, ssl, socket) alone costs
# more than a `status` of a container without a check (docs/performance.md "start, stop, status").

def _probe_exec(check: HealthCheck, runtime: str, name: str) -> ProbeResult:
    import subprocess

    try:
        res = subprocess.run([runtime, "exec", name, *check.command], stdin=subprocess.DEVNULL,
                             capture_output=True, timeout=check.timeout)
    except subprocess.TimeoutExpired:
        return ProbeResult(False, f"{check.describe()} did not finish within {check.timeout:g} s")
    except OSError as e:
        return ProbeResult(False, f"cannot run {runtime}: {e.strerror}")
    output = shorten((res.stdout + res.stderr).decode("utf-8", "replace"))
    if res.returncode == 0:
        return ProbeResult(True, output)
    return ProbeResult(False, f"exit status {res.returncode}" + (f": {output}" if output else ""))


def _probe_http(check: HealthCheck) -> ProbeResult:
    import http.client   # here: its import (email, ssl) was a sixth of install's imports

    url = urllib.parse.urlsplit(check.target)
    cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    conn = cls(url.hostname, url.port, timeout=check.timeout)
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    try:
        conn.request("GET", path, headers={"User-Agent": "syscontainers-healthcheck"})
        answer = conn.getresponse()
        body = answer.read(OUTPUT_LIMIT).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as e:
        return ProbeResult(False, f"GET {check.target}: {_reason(e)}")
    finally:
        conn.close()
    line = f"GET {check.target}: {answer.status} {answer.reason}"
    if 200 <= answer.status < 400:
        return ProbeResult(True, line)
    return ProbeResult(False, shorten(f"{line}: {body.strip()}" if body.strip() else line))


def _probe_tcp(check: HealthCheck) -> ProbeResult:
    import socket

    host, port = tcp_address(check.target)
    try:
        with socket.create_connection((host, port), timeout=check.timeout):
            return ProbeResult(True, f"connected to {host}:{port}")
    except OSError as e:
        return ProbeResult(False, f"connect to {host}:{port}: {_reason(e)}")


def _reason(e: BaseException) -> str:
    if isinstance(e, TimeoutError):     # socket.timeout is TimeoutError (3.10+)
        return "timed out"
    return getattr(e, "strerror", None) or str(e) or type(e).__name__


def shorten(text: str, limit: int = OUTPUT_LIMIT) -> str:
    """One line of at most ``limit`` characters (the end kept: the reason is usually last)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else "..." + text[-(limit - 3):]


__all__ = ["HealthCheck", "ProbeResult", "DISABLED", "KINDS", "NONE", "parse_manifest_check",
           "parse_stored", "validate", "probe", "shorten", "tcp_address"]
