"""Short names the containers way: ``unqualified-search-registries``, ``short-name-mode`` and
``[aliases]`` from registries.conf and its drop-ins (docs/operations.md, "Short names and
registries.conf").

A *short name* is a registry reference without a registry (``busybox``, ``coreos/etcd:v3``).
It is qualified, in this order:

1. an alias whose key is the name without tag or digest (``busybox``) gives the repository;
2. no search registries configured: Docker Hub, as atomic did (with a warning);
3. one search registry: that one;
4. several: ``short-name-mode = "enforcing"`` (the default) refuses the ambiguity — we never
   prompt, a system tool runs unattended —; ``permissive`` and ``disabled`` try them in
   order (the first that has the image wins).

The files are those skopeo reads for the same user (containers-registries.conf(5)): the
main file (``$CONTAINERS_REGISTRIES_CONF``, else ``~/.config/containers/registries.conf`` for a
non-root user when it exists, else ``/etc/containers/registries.conf``), then the ``*.conf``
drop-ins of ``/etc/containers/registries.conf.d`` (and the user's), in name order, each one
overriding the keys it sets. Reading them writes nothing.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, ReferenceError_
from .reference import DOCKER_HUB, ImageRef, parse_docker_name

SYSTEM_CONF = Path("/etc/containers/registries.conf")
SYSTEM_DROPINS = Path("/etc/containers/registries.conf.d")
MODES = ("enforcing", "permissive", "disabled")


@dataclass(frozen=True)
class RegistriesConf:
    search: tuple[str, ...] = ()
    mode: str = "enforcing"
    aliases: dict[str, tuple[str, Path]] = field(default_factory=dict)   # name -> (repo, file)
    files: tuple[Path, ...] = ()          # what was read, for messages and `info`


@dataclass(frozen=True)
class ShortName:
    """How a short name was qualified: ``candidates`` in the order to try, ``how`` for the
    operator ("alias in FILE", "the only search registry", ...)."""

    candidates: tuple[ImageRef, ...]
    how: str


def _user_config_home(env) -> Path:
    return Path(env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config"))


def conf_files(env=os.environ, euid: int | None = None) -> list[Path]:
    """The files in the order they apply (later ones override)."""
    euid = os.geteuid() if euid is None else euid
    user_dir = _user_config_home(env) / "containers"
    if env.get("CONTAINERS_REGISTRIES_CONF"):
        main = Path(env["CONTAINERS_REGISTRIES_CONF"])
    elif euid != 0 and (user_dir / "registries.conf").exists():
        main = user_dir / "registries.conf"
    else:
        main = SYSTEM_CONF
    dropin_dirs = [SYSTEM_DROPINS] + ([user_dir / "registries.conf.d"] if euid != 0 else [])
    dropins = [p for d in dropin_dirs if d.is_dir() for p in sorted(d.glob("*.conf"))]
    return [main, *dropins]


def load(env=os.environ, euid: int | None = None) -> RegistriesConf:
    search: tuple[str, ...] = ()
    mode, aliases, read = "enforcing", {}, []
    for path in conf_files(env, euid):
        data = _read(path)
        if data is None:
            continue
        read.append(path)
        search = _search(data, path) if _has_search(data) else search
        mode = _mode(data, path) if "short-name-mode" in data else mode
        aliases.update(_aliases(data, path))
    return RegistriesConf(search, mode, aliases, tuple(read))


def _read(path: Path) -> dict | None:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}") from None


def _has_search(data: dict) -> bool:
    return "unqualified-search-registries" in data or "search" in (data.get("registries") or {})


def _search(data: dict, path: Path) -> tuple[str, ...]:
    value = data.get("unqualified-search-registries")
    if value is None:      # the version 1 format: [registries.search] registries = [...]
        value = (data["registries"]["search"] or {}).get("registries", [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{path}: unqualified-search-registries must be a list of registry names")
    return tuple(value)


def _mode(data: dict, path: Path) -> str:
    mode = data["short-name-mode"]
    if mode not in MODES:
        raise ConfigError(f"{path}: short-name-mode must be one of {', '.join(MODES)}, not {mode!r}")
    return mode


def _aliases(data: dict, path: Path) -> dict[str, tuple[str, Path]]:
    table = data.get("aliases") or {}
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise ConfigError(f"{path}: [aliases] maps short names to repositories (strings)")
    return {key: (value, path) for key, value in table.items()}


# --- qualifying ---------------------------------------------------------------------------

def _bare(text: str) -> tuple[str, str]:
    """(name without tag/digest, the ``:tag`` / ``@digest`` suffix) of the operator's text."""
    name, at, digest = text.partition("@")
    suffix = f"@{digest}" if at else ""
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
        suffix = f":{tag}{suffix}"
    return name, suffix


def _qualified(ref: ImageRef, repository: str, suffix: str) -> ImageRef:
    try:
        docker, had_registry = parse_docker_name(repository + suffix)
    except ReferenceError_:
        raise ConfigError(f"registries.conf: {repository!r} is no repository name") from None
    if not had_registry:
        raise ConfigError(f"registries.conf: {repository!r} names no registry")
    return ImageRef(ref.transport, docker=docker, insecure=ref.insecure, short_name=True,
                    original=ref.original)


def _name_part(ref: ImageRef) -> str:
    text = ref.original
    for prefix in ("http:", "docker://", "https://", "//"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    return text


def qualify(ref: ImageRef, conf: RegistriesConf) -> ShortName:
    """The candidates for a short name (``ref.short_name``); a qualified ref is its own."""
    if not ref.short_name or ref.docker is None:
        return ShortName((ref,), "")
    name, suffix = _bare(_name_part(ref))
    if name in conf.aliases:
        repository, path = conf.aliases[name]
        return ShortName((_qualified(ref, repository, suffix),), f"alias in {path}")
    if not conf.search:
        return ShortName((_qualified(ref, f"{DOCKER_HUB}/{name}", suffix),), "default")
    refs = tuple(_qualified(ref, f"{registry}/{name}", suffix) for registry in conf.search)
    if len(refs) == 1:
        return ShortName(refs, "the only unqualified-search registry")
    if conf.mode == "enforcing":
        names = ", ".join(str(r.docker) for r in refs)
        raise ReferenceError_(
            f"short name {name!r} is ambiguous: it could be {names} (short-name-mode is "
            f"enforcing): use a fully qualified name, or add an alias to [aliases] in registries.conf")
    return ShortName(refs, f"unqualified-search-registries ({conf.mode} mode)")


__all__ = ["RegistriesConf", "ShortName", "conf_files", "load", "qualify"]
