"""Read-only views of installed containers: list and status (docs/operations.md, "Service
state across update, rollback, stop and uninstall")."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from ..deploy import deployment as dl
from ..errors import ConfigError, ContainerNotFound, ReferenceError_
from ..fileops import text_or_none
from ..images.reference import parse_docker_name
from ..paths import Paths
from ..service import unitstate
from ..service.systemd import ServiceManager, ServiceState, Systemd

BROKEN = "broken"   # the container's deployment cannot be read; ContainerRow.reason says why


@dataclass(frozen=True)
class ContainerRow:
    name: str
    image: str
    image_id: str
    created: int
    command: list[str]
    runtime: str
    type: str            # system | user
    preinstalled: bool
    status: str          # running | restarting | starting | stopping | failed | inactive | no service | broken
    deployment: str
    reason: str | None = None   # why the container is broken (None otherwise)
    restarts: int = 0    # automatic restarts since the last start by hand (systemd NRestarts)
    drifted: bool = False       # the cheap drift check failed (`verify NAME` says what)
    pinned: bool = False
    auto_update: str = "off"   # the auto-update policy: registry | local | off (autopolicy.py)
    health: str = "none"  # healthy | unhealthy | starting | none (docs/operations.md "Health checks")

    def as_json(self) -> dict:
        # a shallow copy: dataclasses.asdict deep-copies every value, a third of `list
        # --json` with 1000 containers (docs/performance.md, "Where the time goes")
        return {**vars(self), "command": list(self.command)}

    def status_text(self) -> str:
        """The status for people (service/unitstate.py row_text)."""
        return unitstate.row_text(self.status, self.restarts, self.health, self.drifted,
                                  self.pinned)

    def status_line(self) -> str:
        """The first line of `status NAME` (the command's front prints the same line for
        the rows it builds itself: service/unitstate.py, src/front/status.c)."""
        return unitstate.status_line(self.name, self.status_text(), self.image, self.image_id,
                                     self.auto_update)


def iso_time(epoch: float | int | None) -> str | None:
    """A time as JSON carries it: ISO 8601 with the local offset (docs/json.md). Here, not
    in inspection.py, so `list --json` does not load inspect's imports."""
    if not epoch:
        return None
    return datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")


def normalize_image(name: str) -> str:
    """``registry/repo:tag`` for a registry name; other names (from files) as stored."""
    try:
        return str(parse_docker_name(name)[0])
    except ReferenceError_:
        return name


def _row(paths: Paths, name: str, dep: dl.Deployment, preinstalled: bool) -> ContainerRow:
    """The row of one container; a deployment that cannot be read (info file or config.json
    missing, unreadable or of the wrong shape) gives a ``broken`` row saying why, so one bad
    container never hides the others (docs/operations.md, "Errors and broken state")."""
    return _read_row(paths, name, dep, preinstalled)[0]


def _read_row(paths: Paths, name: str, dep: dl.Deployment,
              preinstalled: bool) -> tuple[ContainerRow, bool]:
    """:func:`_row`, and whether the info file records a health check (the operator's or the
    image's): `list` probes only those, so it neither reads the others' info twice nor loads
    the health code for them (docs/performance.md, "Where the time goes")."""
    kind = "user" if paths.user_mode else "system"
    try:
        if not dep.exists():
            raise ConfigError(f"its deployment {dep.path} is missing (removed by hand?)")
        info = dep.read_info()
        config = dl.config_text(dep)     # read once: the command and the drift check
        command = dl.args_of_config(dep, config)
        if info.secret_values:
            from ..deploy.values import mask_text   # (heavy: only when there are secrets)

            command = [mask_text(a, info.values, info.secret_values) for a in command]
    except dl.UnreadableInfo:
        raise    # another user's private deployment: one line, not a list of broken rows
    except ConfigError as e:
        return ContainerRow(name=name, image="", image_id="", created=0, command=[], runtime="",
                            type=kind, preinstalled=preinstalled, status=BROKEN,
                            deployment=str(dep.path), reason=str(e)), False
    has_check = info.health_check is not None or info.image_health_check is not None
    return ContainerRow(
        name=name, image=normalize_image(info.image), image_id=info.revision,
        created=int(info.created or 0), command=command, runtime=info.runtime,
        type=kind, preinstalled=preinstalled,
        status="no service", deployment=str(dep.path),
        drifted=not preinstalled and quick_drift(paths, dep, info, config), pinned=info.pinned,
        auto_update=info.auto_update if info.auto_update in ("registry", "local") else "off",
    ), has_check


def quick_drift(paths: Paths, dep: dl.Deployment, info: dl.InstallInfo,
                config: str | None) -> bool:
    """The cheap drift check of `list` (docs/operations.md, "Drift"): the unit file against
    the deployment's copy, config.json (its text ``config``, None: missing) against the
    checksum recorded when it was written (deployments made before that record: the unit
    only). `verify NAME` checks everything."""
    # (strings, not Path joins: a fifth of the rows' cost with 1000 containers)
    copy = text_or_none(f"{dep.path}/{dep.name}.service")
    if copy is not None and text_or_none(f"{paths.units_dir}/{dep.name}.service") != copy:
        return True
    if info.config_checksum:
        return config is None or hashlib.sha256(config.encode()).hexdigest() != info.config_checksum
    return False


def containers(paths: Paths, systemd: ServiceManager | None = None,
               with_health: bool = False) -> list[ContainerRow]:
    """Installed (and preinstalled) containers with their status from one systemd query
    (``systemd``: the verb's manager; None: the real one of ``paths``). ``with_health``:
    probe the running containers that have a health check (at once, health.healths)."""
    read = [_read_row(paths, dep.name, dep, False) for dep in dl.installed(paths)]
    rows = [row for row, _ in read]
    checked = {row.name for row, has_check in read if has_check}
    seen = {r.name for r in rows}
    if not paths.user_mode and paths.preinstalled.is_dir():
        for d in sorted(paths.preinstalled.iterdir()):
            if d.is_dir() and d.name not in seen:
                rows.append(_row(paths, d.name, dl.Deployment(d.name, 0, d), True))
    states = (systemd or Systemd(paths.user_mode)).statuses(
        [f"{r.name}.service" for r in rows if r.status != BROKEN])
    none = ServiceState("no service")
    rows = [r if r.status == BROKEN else
            replace(r, status=states.get(f"{r.name}.service", none).status,
                    restarts=states.get(f"{r.name}.service", none).restarts) for r in rows]
    probe = {r.name: r.status for r in rows if r.status in ("running", "starting")
             and r.name in checked}
    if not with_health or not probe:
        return rows
    from .health import healths   # health imports nothing of query; lazy keeps list's import light
    found = healths(paths, probe)
    return [replace(r, health=found[r.name].state) if r.name in found else r for r in rows]


def status(paths: Paths, name: str, started_text=None,
           started_show=None) -> tuple[ContainerRow, str]:
    """The row of one container (its state from one ``systemctl show``) and the text of
    ``systemctl status`` for it, the two systemctl processes side by side: status must cost
    little more than ``systemctl status`` (docs/performance.md "start, stop, status").
    ``started_text`` / ``started_show``: those processes, started before the imports by
    the CLI (quickcontrol.early_status_text) or the command's front (src/front/front.c)."""
    dl.validate_name(name)
    dep, preinstalled = dl.current(paths, name), False
    if dep is None:
        if not is_preinstalled(paths, name):
            raise ContainerNotFound(f"container {name} is not installed")
        dep, preinstalled = dl.Deployment(name, 0, paths.preinstalled / name), True
    row = _row(paths, name, dep, preinstalled)
    state, text = Systemd(paths.user_mode).state_and_status_text(
        f"{name}.service", started_text, started_show)
    if row.status != BROKEN:
        row = replace(row, status=state.status, restarts=state.restarts)
    return row, text


def container(paths: Paths, name: str, with_health: bool = False) -> ContainerRow:
    dl.validate_name(name)
    for row in containers(paths, with_health=with_health):
        if row.name == name:
            return row
    raise ContainerNotFound(f"container {name} is not installed")


def is_preinstalled(paths: Paths, name: str) -> bool:
    return not dl.link_path(paths, name).is_symlink() and (Path(paths.preinstalled) / name).is_dir()
