"""The config file: checkout_path, ostree_repository, runtime, default_storage, registries_d
(docs/operations.md, "Configuration file").

Format TOML. Where it is: ``paths.config_file`` (every location lives in paths.py). A missing
file is an empty
config; a malformed one is an error naming the file. Unknown keys are errors too, so that a
typo does not silently fall back to a default.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

KEYS = ("checkout_path", "ostree_repository", "runtime", "default_storage", "registries_d")


@dataclass(frozen=True)
class Config:
    checkout_path: str | None = None
    ostree_repository: str | None = None
    runtime: str | None = None
    default_storage: str | None = None
    registries_d: str | None = None   # skopeo's --registries.d (lookaside signatures)
    source: str | None = None  # the file it came from, for messages


def load_config(path: Path) -> Config:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return Config()
    except UnicodeDecodeError as e:
        raise ConfigError(f"invalid config file {path}: {e}") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    import tomllib   # here: most hosts have no config file (start/stop/status stay fast)

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"invalid config file {path}: {e}") from None
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r} in config file {path} (known: {', '.join(KEYS)})")
    for k, v in data.items():
        if not isinstance(v, str):
            raise ConfigError(f"config file {path}: {k} must be a string")
    return Config(**data, source=str(path))
