"""systemctl / systemd-tmpfiles / journalctl wrappers, for the system and the user manager.

Status for many units comes from ONE `systemctl show` call (list must stay fast with 100
containers), never one process per container.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..errors import CommandError, ServiceError
from ..paths import SYSTEM_UNIT_DIRS, USER_UNIT_DIRS
from ..proc import Result, run, spawn_output
from . import unitstate


@dataclass(frozen=True)
class UnitOrigin:
    load_state: str            # loaded, not-found, masked, error, bad-setting ...
    fragment: str | None       # the file that defines the unit (FragmentPath), if any

    @property
    def known(self) -> bool:
        return self.load_state not in ("", "not-found") or self.fragment is not None


@dataclass(frozen=True)
class ServiceState:
    """What `list` reports of a unit: ``status`` is a machine value (running, restarting,
    starting, stopping, failed, inactive, no service); ``restarts`` counts the automatic
    restarts (Restart=) since the unit was last started by hand (systemd's NRestarts)."""

    status: str
    restarts: int = 0

    @classmethod
    def from_properties(cls, props: dict[str, str]) -> "ServiceState":
        return cls(*unitstate.state_of(props))

    def display(self) -> str:
        """For the table: the restart count next to the status when there were restarts."""
        return unitstate.display(self.status, self.restarts)


class ServiceManager(Protocol):
    """What lifecycle asks of systemd: the seam its unit tests replace with a fake that
    records calls (tests/unit/test_activation.py). :class:`Systemd` is the real one."""

    user_mode: bool

    def daemon_reload(self) -> None: ...
    def enable(self, unit: str, reload: bool = True) -> None: ...
    def disable_now(self, unit: str, reload: bool = True) -> None: ...
    def start(self, unit: str) -> None: ...
    def stop(self, unit: str) -> None: ...
    def is_active(self, unit: str) -> bool: ...
    def is_enabled(self, unit: str) -> bool: ...
    def reset_failed(self, unit: str) -> None: ...
    def statuses(self, units: list[str]) -> dict[str, "ServiceState"]: ...
    def tmpfiles(self, action: str, conf: str) -> None: ...
    def journal_args(self, name: str) -> list[str]: ...
    def needs_reload(self, unit: str) -> bool: ...


@dataclass(frozen=True)
class Systemd:
    """systemctl and systemd-tmpfiles of the system (or, ``user_mode``, the user) manager;
    implements :class:`ServiceManager`."""

    user_mode: bool

    def _scope(self) -> list[str]:
        return ["--user"] if self.user_mode else []

    def systemctl(self, *args: str, check: bool = True) -> Result:
        try:
            return run(["systemctl", *self._scope(), *args], check=check,
                       what=f"systemctl {' '.join(args)}")
        except CommandError as e:
            raise ServiceError(e.message) from None

    def daemon_reload(self) -> None:
        self.systemctl("daemon-reload")

    def enable(self, unit: str, reload: bool = True) -> None:
        """Enable ``unit``. systemctl reloads the manager after enabling (a full daemon-reload,
        ~90 ms); ``reload=False`` skips that for callers that run daemon_reload right after."""
        self.systemctl("enable", *(() if reload else ("--no-reload",)), unit)

    def disable_now(self, unit: str, reload: bool = True) -> None:
        """Disable and stop; a unit systemd no longer knows is not an error (re-runnable).
        ``reload=False``: no reload by systemctl, for callers that reload right after."""
        self.systemctl("disable", *(() if reload else ("--no-reload",)), "--now", unit,
                       check=False)

    def start(self, unit: str) -> None:
        self.systemctl("start", unit)

    def stop(self, unit: str) -> None:
        self.systemctl("stop", unit)

    def restart(self, unit: str) -> None:
        self.systemctl("restart", unit)

    def is_active(self, unit: str) -> bool:
        return self.systemctl("is-active", "--quiet", unit, check=False).returncode == 0

    def reset_failed(self, unit: str) -> None:
        self.systemctl("reset-failed", unit, check=False)

    def is_enabled(self, unit: str) -> bool:
        """Enabled for good (``systemctl is-enabled`` says "enabled"): not disabled, masked,
        static, or enabled for this boot only (``enable --runtime``)."""
        res = self.systemctl("is-enabled", unit, check=False)
        return res.stdout.strip() == "enabled"

    def statuses(self, units: list[str]) -> dict[str, "ServiceState"]:
        """unit -> its state (:class:`ServiceState`), for all ``units`` in at most TWO
        systemctl processes, whatever their number (`list` must stay fast with hundreds).

        `list-units` answers from the manager's memory (12 ms for 200 units here) but has no
        restart count; `show` has it but costs ~3 ms per loaded unit and ~10 ms per unit it
        must load first. So: list-units for all, then one `show` for the units that need it —
        those not inactive (their restart count) and those not loaded at all (a unit file,
        so "inactive", or none, so "no service").
        """
        if not units:
            return {}
        res = self.systemctl("list-units", "--all", "--full", "--plain", "--no-legend",
                             "--no-pager", "--", *units, check=False)
        states: dict[str, ServiceState] = {}
        for line in res.stdout.splitlines():
            fields = line.split()
            if len(fields) >= 4:   # UNIT LOAD ACTIVE SUB DESCRIPTION...
                states[fields[0]] = ServiceState.from_properties(
                    {"Id": fields[0], "LoadState": fields[1], "ActiveState": fields[2],
                     "SubState": fields[3]})
        ask = [u for u in units if u not in states or states[u].status not in ("inactive",
                                                                                "no service")]
        return {**states, **self._show(ask)}

    def _show(self, units: list[str]) -> dict[str, "ServiceState"]:
        if not units:
            return {}
        res = self.systemctl("show", f"--property={unitstate.SHOW_PROPERTIES}", "--", *units,
                             check=False)
        return self.parse_states(res.stdout)

    @staticmethod
    def parse_states(stdout: str) -> dict[str, "ServiceState"]:
        """The states in ``systemctl show`` output of :data:`unitstate.SHOW_PROPERTIES`."""
        return {unit: ServiceState.from_properties(props)
                for unit, props in unitstate.parse_show(stdout).items()}

    def unit_origin(self, unit: str) -> UnitOrigin | None:
        """How the manager knows ``unit`` (load it if needed); None when it cannot be asked
        (no running manager)."""
        res = self.systemctl("show", "-p", "LoadState", "-p", "FragmentPath", "--", unit,
                             check=False)
        if res.returncode != 0:
            return None
        fields = dict(line.partition("=")[::2] for line in res.stdout.splitlines())
        fragment = fields.get("FragmentPath", "")
        return UnitOrigin(fields.get("LoadState", ""), fragment or None)

    def unit_dirs(self) -> list[str]:
        """The unit search path (``systemd-analyze unit-paths``; it needs no manager), or
        the usual directories when that fails."""
        try:
            res = run(["systemd-analyze", *self._scope(), "unit-paths"], check=False)
        except CommandError:
            res = None
        if res is not None and res.returncode == 0 and res.stdout.strip():
            return [line.strip() for line in res.stdout.splitlines() if line.strip()]
        return list(USER_UNIT_DIRS if self.user_mode else SYSTEM_UNIT_DIRS)

    def needs_reload(self, unit: str) -> bool:
        """Whether the unit's files changed since systemd loaded them (NeedDaemonReload;
        an unknown answer counts as yes)."""
        res = self.systemctl("show", "-p", "NeedDaemonReload", "--value", "--", unit,
                             check=False)
        return res.returncode != 0 or res.stdout.strip() != "no"

    def state_and_status_text(self, unit: str, started=None,
                              started_show=None) -> tuple["ServiceState", str]:
        """The unit's state (one ``show``: it has the restart count and loads a unit systemd
        has not loaded yet) and its ``systemctl status`` text, the two processes side by
        side (status reads the journal: it is the slower one). ``started`` /
        ``started_show``: those processes, already started by the caller or the command's
        front (anything with Popen's ``communicate()``; quickcontrol.EarlyProcess)."""
        status = started or spawn_output(["systemctl", *self._scope(), "status", "--no-pager",
                                          "--full", unit])
        try:
            if started_show is not None:
                states = self.parse_states(started_show.communicate()[0])
            else:
                states = self._show([unit])
            state = states.get(unit, ServiceState("no service"))
        finally:
            text, _ = status.communicate()
        return state, text

    # --- tmpfiles ------------------------------------------------------------------------
    def tmpfiles(self, action: str, conf: str) -> None:
        args = ["systemd-tmpfiles", f"--{action}"] + (["--user"] if self.user_mode else []) + [conf]
        try:
            run(args, what=f"systemd-tmpfiles --{action} {conf}")
        except CommandError as e:
            raise ServiceError(e.message) from None

    # --- logs ----------------------------------------------------------------------------
    def journal_args(self, name: str) -> list[str]:
        """journalctl arguments for a container's logs: the service and, for detached runc,
        the runc-NAME.scope it runs in (its output is not in the service's journal)."""
        return ["journalctl", *self._scope(), "--no-pager",
                "-u", f"{name}.service", "-u", f"runc-{name}.scope"]
