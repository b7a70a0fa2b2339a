"""systemctl / systemd-tmpfiles / journalctl wrappers, for the system and the user manager.

Status for many units comes from ONE `systemctl show` call (list must stay fast with 100
containers), never one process per container.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import CommandError, ServiceError
from ..proc import Result, run

# ActiveState -> the status `list` shows (SPEC 4)
_STATUS = {
    "active": "running", "reloading": "running", "activating": "running",
    "deactivating": "inactive", "inactive": "inactive", "failed": "failed",
}


@dataclass(frozen=True)
class UnitOrigin:
    load_state: str            # loaded, not-found, masked, error, bad-setting ...
    fragment: str | None       # the file that defines the unit (FragmentPath), if any

    @property
    def known(self) -> bool:
        return self.load_state not in ("", "not-found") or self.fragment is not None


@dataclass(frozen=True)
class Systemd:
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

    def disable_now(self, unit: str) -> None:
        """Disable and stop; a unit systemd no longer knows is not an error (re-runnable)."""
        self.systemctl("disable", "--now", unit, check=False)

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

    def statuses(self, units: list[str]) -> dict[str, str]:
        """unit -> running | failed | inactive | no service, in one systemctl call.

        `list-units` answers from the manager's memory (`show` loads every unit it is asked
        about, about twice as slow for 100 containers); a unit it does not list is either
        not loaded (inactive, nothing references it) or has no unit file at all.
        """
        if not units:
            return {}
        res = self.systemctl("list-units", "--all", "--full", "--plain", "--no-legend",
                             "--no-pager", "--", *units, check=False)
        listed: dict[str, str] = {}
        for line in res.stdout.splitlines():
            fields = line.split()
            if len(fields) >= 3:   # UNIT LOAD ACTIVE SUB DESCRIPTION...
                unit, load, active = fields[0], fields[1], fields[2]
                listed[unit] = "no service" if load == "not-found" else _STATUS.get(active, active)
        unlisted = [u for u in units if u not in listed]
        return {**listed, **self._unloaded(unlisted)}

    def _unloaded(self, units: list[str]) -> dict[str, str]:
        """Units list-units does not show: inactive when their unit file exists."""
        if not units:
            return {}
        res = self.systemctl("list-unit-files", "--full", "--plain", "--no-legend",
                             "--no-pager", "--", *units, check=False)
        have = {line.split()[0] for line in res.stdout.splitlines() if line.split()}
        return {u: ("inactive" if u in have else "no service") for u in units}

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
        if self.user_mode:
            return ["/etc/systemd/user", "/run/systemd/user", "/usr/local/lib/systemd/user",
                    "/usr/lib/systemd/user"]
        return ["/etc/systemd/system", "/run/systemd/system", "/run/systemd/transient",
                "/usr/local/lib/systemd/system", "/usr/lib/systemd/system",
                "/lib/systemd/system"]

    def status_text(self, unit: str) -> str:
        return self.systemctl("status", "--no-pager", "--full", unit, check=False).stdout

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
