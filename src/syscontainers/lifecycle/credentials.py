"""``login`` and ``logout`` (docs/operations.md, "Registry credentials: login and logout"):
the transport package talks to skopeo; this is the verb."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..images.transport import default_auth_file, login as _login, logout as _logout


@dataclass(frozen=True, kw_only=True)
class LoginRequest:
    registry: str
    username: str
    password: str
    auth_file: str | None = None        # --authfile; default: default_auth_file()
    tls_verify: bool = True


@dataclass(frozen=True, kw_only=True)
class LogoutRequest:
    registry: str | None = None         # None: --all
    auth_file: str | None = None


def _file(given: str | None) -> Path:
    return Path(given) if given else default_auth_file()


def login(req: LoginRequest) -> tuple[str, Path]:
    """(the registry, the auth file written). The registry checks the credentials first."""
    path = _file(req.auth_file)
    return _login(req.registry, req.username, req.password, auth_file=path,
                  tls_verify=req.tls_verify), path


def logout(req: LogoutRequest) -> tuple[str, Path]:
    path = _file(req.auth_file)
    return _logout(req.registry, auth_file=path), path
