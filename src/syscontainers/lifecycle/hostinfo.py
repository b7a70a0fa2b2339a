"""``syscontainers info`` and the names shell completion offers (docs/operations.md, "The
command line"): what this host's syscontainers uses, read without writing anything."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .. import proc
from ..deploy import deployment as dl
from ..errors import SysContainersError
from ..images import registries
from ..images.store import Store
from ..images.transport import default_auth_file
from ..paths import Paths, config_file
from ..service.runtime import find_runtime


@dataclass(frozen=True)
class HostInfo:
    mode: str
    checkouts: str
    repository: str
    repository_mode: str
    units_dir: str
    tmpfiles_dir: str
    config_file: str
    config_file_exists: bool
    runtime: str | None
    versions: dict[str, str | None]       # runc (or the configured runtime), skopeo, systemd
    registries_conf: list[str]            # the files read, in order
    unqualified_search_registries: list[str]
    short_name_mode: str
    auth_file: str
    containers: int

    def as_json(self) -> dict:
        return asdict(self)


def host_info(paths: Paths) -> HostInfo:
    try:
        runtime = find_runtime(paths.config.runtime)
    except SysContainersError:
        runtime = None
    try:
        conf = registries.load()
    except SysContainersError:
        conf = registries.RegistriesConf()
    return HostInfo(
        mode="user" if paths.user_mode else "system",
        checkouts=str(paths.checkouts), repository=str(paths.repo),
        repository_mode=paths.repo_mode, units_dir=str(paths.units_dir),
        tmpfiles_dir=str(paths.tmpfiles_dir), config_file=str(config_file(paths.user_mode)),
        config_file_exists=config_file(paths.user_mode).exists(), runtime=runtime,
        versions={"runtime": _version(runtime, "--version"), "skopeo": _version("skopeo", "--version"),
                  "systemd": _version("systemctl", "--version")},
        registries_conf=[str(p) for p in conf.files],
        unqualified_search_registries=list(conf.search), short_name_mode=conf.mode,
        auth_file=str(default_auth_file()), containers=len(dl.installed_names(paths)))


def _version(program: str | None, flag: str) -> str | None:
    """The first line a program prints for ``flag`` (None when it is not installed)."""
    if program is None:
        return None
    try:
        res = proc.run([program, flag], check=False)
    except SysContainersError:
        return None
    return proc.last_line(res.stdout.splitlines()[0] if res.stdout.strip() else "") or None


def container_names(paths: Paths) -> list[str]:
    return dl.installed_names(paths)


def image_names(paths: Paths) -> list[str]:
    return sorted(name for image in Store(paths).images() for name in image.names)
