"""Read-only views of installed containers: list and status (SPEC 4)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ..deploy import deployment as dl
from ..deploy.values import mask_text
from ..errors import ConfigError, ContainerNotFound, ReferenceError_
from ..images.reference import parse_docker_name
from ..paths import Paths
from ..service.systemd import Systemd
from .build import config_args


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
    status: str          # running | failed | inactive | no service
    deployment: str

    def as_json(self) -> dict:
        return asdict(self)


def normalize_image(name: str) -> str:
    """``registry/repo:tag`` for a registry name; other names (from files) as stored."""
    try:
        return str(parse_docker_name(name)[0])
    except ReferenceError_:
        return name


def _row(paths: Paths, name: str, dep: dl.Deployment, preinstalled: bool) -> ContainerRow | None:
    try:
        info = dep.read_info()
    except dl.UnreadableInfo:
        raise
    except ConfigError:
        return None
    return ContainerRow(
        name=name, image=normalize_image(info.image), image_id=info.revision,
        created=int(info.created or 0),
        command=[mask_text(a, info.values, info.secret_values) for a in config_args(dep)],
        runtime=info.runtime,
        type="user" if paths.user_mode else "system", preinstalled=preinstalled,
        status="no service", deployment=str(dep.path),
    )


def containers(paths: Paths) -> list[ContainerRow]:
    """Installed (and preinstalled) containers with their status from one systemd query."""
    rows: list[ContainerRow] = []
    for name in dl.installed_names(paths):
        row = _row(paths, name, dl.current(paths, name), False)
        if row:
            rows.append(row)
    seen = {r.name for r in rows}
    if not paths.user_mode and paths.preinstalled.is_dir():
        for d in sorted(paths.preinstalled.iterdir()):
            if d.is_dir() and d.name not in seen:
                row = _row(paths, d.name, dl.Deployment(d.name, 0, d), True)
                if row:
                    rows.append(row)
    statuses = Systemd(paths.user_mode).statuses([f"{r.name}.service" for r in rows])
    return [replace(r, status=statuses.get(f"{r.name}.service", "no service")) for r in rows]


def container(paths: Paths, name: str) -> ContainerRow:
    dl.validate_name(name)
    for row in containers(paths):
        if row.name == name:
            return row
    raise ContainerNotFound(f"container {name} is not installed")


def is_preinstalled(paths: Paths, name: str) -> bool:
    return not dl.link_path(paths, name).is_symlink() and (Path(paths.preinstalled) / name).is_dir()
