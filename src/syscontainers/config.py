"""The config file: checkout_path, ostree_repository, runtime, default_storage
(docs/operations.md, "Configuration file").

Format TOML. Location: ``$SYSCONTAINERS_CONFIG`` when set, else
``/etc/containers/syscontainers.toml`` (system mode) or
``$XDG_CONFIG_HOME/containers/syscontainers.toml`` (user mode). A missing file is an empty
config; a malformed one is an error naming the file. Unknown keys are errors too, so that a
typo does not silently fall back to a default.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

KEYS = ("checkout_path", "ostree_repository", "runtime", "default_storage")


@dataclass(frozen=True)
class Config:
    checkout_path: str | None = None
    ostree_repository: str | None = None
    runtime: str | None = None
    default_storage: str | None = None
    source: str | None = None  # the file it came from, for messages


def config_file(user_mode: bool, env: dict[str, str] | os._Environ = os.environ) -> Path:
    if env.get("SYSCONTAINERS_CONFIG"):
        return Path(env["SYSCONTAINERS_CONFIG"])
    if user_mode:
        base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
        return Path(base) / "containers" / "syscontainers.toml"
    return Path("/etc/containers/syscontainers.toml")


def load_config(path: Path) -> Config:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return Config()
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"invalid config file {path}: {e}") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r} in config file {path} (known: {', '.join(KEYS)})")
    for k, v in data.items():
        if not isinstance(v, str):
            raise ConfigError(f"config file {path}: {k} must be a string")
    return Config(**data, source=str(path))
