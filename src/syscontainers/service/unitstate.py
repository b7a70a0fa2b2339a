"""What `list` and `status` make of systemd's answer for a unit, with nothing imported: the
status line of a plain ``status NAME`` is built from these before any other module of ours
loads (lifecycle/quickstatus.py; docs/performance.md "start, stop, status"), and the full
path (service/systemd.py ServiceState, lifecycle/query.py) uses the same functions.
"""

from __future__ import annotations

# The properties of the one `systemctl show` (Systemd._show; src/front/front.c passes the
# same list; tests/unit/test_front.py checks that).
SHOW_PROPERTIES = "Id,LoadState,ActiveState,SubState,NRestarts"

# ActiveState -> the status `list` shows (docs/operations.md "Service state across update,
# rollback, stop and uninstall"); activating is "starting", or "restarting" below
_STATUS = {
    "active": "running", "reloading": "running", "activating": "starting",
    "deactivating": "stopping", "inactive": "inactive", "failed": "failed",
}


def parse_show(stdout: str) -> dict[str, dict[str, str]]:
    """``systemctl show`` output (blocks of KEY=VALUE lines) by unit Id."""
    units = {}
    for block in stdout.split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if props.get("Id"):
            units[props["Id"]] = props
    return units


def state_of(props: dict[str, str]) -> tuple[str, int]:
    """The status and the automatic restarts (systemd's NRestarts) of a unit's properties."""
    active = props.get("ActiveState", "")
    if props.get("LoadState") in ("not-found", "", None) and active in ("inactive", ""):
        return "no service", 0   # (a unit whose file went while it ran still runs)
    try:
        restarts = int(props.get("NRestarts") or 0)
    except ValueError:
        restarts = 0
    sub = props.get("SubState", "")
    status = _STATUS.get(active, active)
    # Between a crash and the next automatic start systemd says activating/auto-restart;
    # the start after it is activating too: the service is crash-looping, not starting.
    if sub == "auto-restart" or (active == "activating" and restarts > 0):
        status = "restarting"
    return status, restarts


def display(status: str, restarts: int) -> str:
    """For the table: the restart count next to the status when there were restarts."""
    if status == "restarting":
        return f"restarting ({restarts})"
    if restarts and status in ("running", "failed"):
        return f"{status} ({restarts} restarts)"
    return status


def row_text(status: str, restarts: int, health: str = "none", drifted: bool = False,
             pinned: bool = False) -> str:
    """A container's status for people: ``restarting (3)``, ``running (2 restarts)``,
    ``running (healthy)``, ``running (2 restarts; unhealthy)``, with ``, drifted`` /
    ``, pinned`` added."""
    text = display(status, restarts)
    if health != "none":
        text = text[:-1] + f"; {health})" if text.endswith(")") else f"{text} ({health})"
    marks = [m for m, on in (("drifted", drifted), ("pinned", pinned)) if on]
    return ", ".join([text, *marks])


def status_line(name: str, text: str, image: str, image_id: str, auto_update: str) -> str:
    """The first line of `status NAME`."""
    return f"{name}: {text} (image {image}, {image_id[:12]}, auto-update {auto_update})"
