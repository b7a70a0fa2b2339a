"""Health of installed containers: which check applies, the operator's check from flags, the
wait the controlled update's gate uses, and the views of list / status / healthcheck
(docs/operations.md "Health checks"). One probe is service/health.py's.

Which check applies to a deployment (its info file): the operator's ``health-check`` when
given (``{"kind": "none"}``: none at all, --no-healthcheck), else the image's own
``image-health-check`` (rendered from manifest.json at build), else none.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from .. import progress
from ..deploy import deployment as dl
from ..errors import ConfigError, ContainerNotFound, SysContainersError, UsageError
from ..paths import Paths
from ..service import health as h
from ..service.health import DISABLED, HealthCheck, ProbeResult
from ..service.runtime import find_runtime
from ..service.systemd import ServiceManager, Systemd

Say = Callable[[str], None]
Prober = Callable[..., ProbeResult]

HEALTHY, UNHEALTHY, STARTING, NO_CHECK = "healthy", "unhealthy", "starting", "none"
POLL = 0.5      # seconds between "is it still active" looks without a check


# --- the operator's check ------------------------------------------------------------------

def operator_check(*, cmd: str | None = None, url: str | None = None, tcp: str | None = None,
                   interval: float | None = None, timeout: float | None = None,
                   retries: int | None = None, start_period: float | None = None,
                   disabled: bool = False) -> HealthCheck | None:
    """``--health-cmd/--health-url/--health-tcp`` (+ tuning flags) or ``--no-healthcheck`` as
    one check; None when none of them was given (install: the image's check applies; update:
    the stored choice is kept). UsageError for a bad combination or value."""
    given = [(k, v) for k, v in (("exec", cmd), ("http", url), ("tcp", tcp)) if v is not None]
    tuning = {k: v for k, v in (("interval", interval), ("timeout", timeout),
                                ("retries", retries), ("start_period", start_period)) if v is not None}
    if disabled:
        if given or tuning:
            raise UsageError("--no-healthcheck goes without --health-* flags")
        return DISABLED
    if len(given) > 1:
        raise UsageError("give one of --health-cmd, --health-url, --health-tcp")
    if not given:
        if tuning:
            raise UsageError("--health-interval/-timeout/-retries/-start-period need "
                             "--health-cmd, --health-url or --health-tcp")
        return None
    for key, value in tuning.items():
        if value < 0 or (key != "start_period" and value == 0) or (key == "retries" and value < 1):
            raise UsageError(f"--health-{key.replace('_', '-')} must be positive (got {value:g})")
    kind, value = given[0]
    if kind == "exec" and not value.strip():
        raise UsageError("--health-cmd needs a command")
    check = HealthCheck(kind=kind, command=("/bin/sh", "-c", value) if kind == "exec" else (),
                        target="" if kind == "exec" else value, **tuning)
    try:
        return h.validate(check, f"--health-{'url' if kind == 'http' else kind}")
    except ConfigError as e:
        raise UsageError(str(e)) from None


def effective_check(info: dl.InstallInfo, where: str = "the info file") -> HealthCheck | None:
    """The check that applies to a deployment (module docstring); None: no check."""
    mine = h.parse_stored(info.health_check, where)
    if mine is not None:
        return None if mine.disabled else mine
    return h.parse_stored(info.image_health_check, where)


def carried_check(info: dl.InstallInfo, new: HealthCheck | None) -> HealthCheck | None:
    """update: new flags replace the operator's stored check; no flags keep it."""
    return new if new is not None else h.parse_stored(info.health_check, "the info file")


# --- the gate ------------------------------------------------------------------------------

@dataclass(frozen=True)
class HealthOutcome:
    """What the gate saw: ``healthy``; ``reason`` (why not, for the error line); ``output``:
    the last failing probe's output (shortened); ``check``: the check used (None: the
    fallback, active for the whole timeout)."""

    healthy: bool
    reason: str = ""
    output: str = ""
    check: HealthCheck | None = None


def wait_healthy(host, deployment: dl.Deployment, timeout: float, say: Say, *,
                 prober: Prober = h.probe, clock=time.monotonic, sleep=time.sleep) -> HealthOutcome:
    """See :func:`_wait_healthy`; the progress line it shows on a terminal is cleared after."""
    try:
        return _wait_healthy(host, deployment, timeout, say, prober=prober, clock=clock,
                             sleep=sleep)
    finally:
        progress.clear()


def _wait_healthy(host, deployment: dl.Deployment, timeout: float, say: Say, *,
                  prober: Prober = h.probe, clock=time.monotonic, sleep=time.sleep) -> HealthOutcome:
    """After ``systemctl start``: wait until ``deployment``'s container is healthy.

    With a check: probe every ``interval``; the first success is healthy; failures count only
    after ``start_period``, and ``retries`` of them in a row are unhealthy; a service that is
    no longer active is unhealthy at once. The wait lasts at most ``timeout`` seconds, but
    never less than the start period plus one interval (an image that says it needs 30 s to
    start gets them, and one probe after). Without a check: healthy when the service stays
    active for ``timeout`` seconds (detached runc units report a good start and fail a moment
    later)."""
    info = deployment.read_info()
    check = effective_check(info, str(deployment.info_path))
    unit = f"{deployment.name}.service"
    systemd: ServiceManager = host.systemd
    start = clock()
    if check is None:
        while systemd.is_active(unit):
            progress.show(f"waiting: {deployment.name} must stay active for {timeout:g} s "
                          f"({clock() - start:.0f} s)")
            if clock() - start >= timeout:
                return HealthOutcome(True)
            sleep(POLL)
        return HealthOutcome(False, "did not stay active")
    runtime = _runtime(host.paths, info)
    limit = max(timeout, check.start_period + check.interval)
    failures, last = 0, ""
    while True:
        if not systemd.is_active(unit):
            return HealthOutcome(False, "did not stay active", last, check)
        progress.show(f"waiting for {deployment.name} to be healthy ({clock() - start:.0f} s of "
                      f"at most {limit:g} s; {failures} failed probe(s))")
        result = prober(check, runtime=runtime, name=deployment.name)
        if result.healthy:
            return HealthOutcome(True, "", result.output, check)
        last = result.output
        if clock() - start >= check.start_period:
            failures += 1
        if failures >= check.retries:
            return HealthOutcome(False, f"failed its health check ({check.describe()}) "
                                 f"{failures} times in a row", last, check)
        if clock() - start + check.interval > limit:
            return HealthOutcome(False, f"was not healthy within {limit:g} s "
                                 f"({check.describe()})", last, check)
        sleep(check.interval)


def _runtime(paths: Paths, info: dl.InstallInfo) -> str:
    return find_runtime(info.runtime or paths.config.runtime)


# --- views ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class HealthReport:
    """``healthcheck NAME`` and ``status NAME``: ``state`` is healthy / unhealthy / starting /
    none (no check, or a service that is not running: nothing to probe)."""

    name: str
    state: str
    check: str = ""          # the check, described ("" without one)
    output: str = ""         # what the probe said

    def detail(self) -> str:
        """``healthy (http http://...): GET ...: 200 OK``; ``no health check``."""
        if self.state == NO_CHECK and not self.check:
            return "no health check"
        return f"{self.state} ({self.check})" + (f": {self.output}" if self.output else "")

    def line(self) -> str:
        return f"{self.name}: {self.detail()}"


def container_health(paths: Paths, name: str, status: str, *, prober: Prober = h.probe) -> HealthReport:
    """One container's health now (``status``: its service status as list shows it)."""
    dep = dl.current(paths, name)
    if dep is None:
        return HealthReport(name, NO_CHECK)
    try:
        info = dep.read_info()
        check = effective_check(info, str(dep.info_path))
    except SysContainersError as e:
        return HealthReport(name, UNHEALTHY, "", str(e))
    if check is None:
        return HealthReport(name, NO_CHECK)
    if status == "starting":
        return HealthReport(name, STARTING, check.describe(), "the service is starting")
    if status != "running":
        return HealthReport(name, NO_CHECK, check.describe(), f"the service is {status}")
    try:
        result = prober(check, runtime=_runtime(paths, info), name=name)
    except SysContainersError as e:     # the runtime is gone: one row, never the listing
        result = ProbeResult(False, str(e))
    return HealthReport(name, HEALTHY if result.healthy else UNHEALTHY, check.describe(),
                        result.output)


def healths(paths: Paths, statuses: dict[str, str], *, prober: Prober = h.probe) -> dict[str, HealthReport]:
    """Health of many containers (``list``): the running ones with a check are probed at
    once, in threads, so the listing takes about one probe's time, not the sum."""
    if not statuses:
        return {}
    from concurrent.futures import ThreadPoolExecutor   # (imports logging: list only, not status)

    with ThreadPoolExecutor(max_workers=min(16, len(statuses))) as pool:
        futures = {name: pool.submit(container_health, paths, name, status, prober=prober)
                   for name, status in statuses.items()}
        return {name: f.result() for name, f in futures.items()}


def run_healthcheck(paths: Paths, name: str) -> HealthReport:
    """``healthcheck NAME``: run the container's check once. ContainerNotFound for an unknown
    NAME; UsageError when it has no check."""
    dl.validate_name(name)
    if dl.current(paths, name) is None:
        raise ContainerNotFound(f"container {name} is not installed")
    unit = f"{name}.service"
    state = Systemd(paths.user_mode).statuses([unit]).get(unit)
    report = container_health(paths, name, state.status if state else "no service")
    if report.state == NO_CHECK and not report.check:
        raise UsageError(f"container {name} has no health check (the image declares none; "
                         "give one with update --health-cmd/--health-url/--health-tcp)")
    return report
