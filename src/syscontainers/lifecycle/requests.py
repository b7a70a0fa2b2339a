"""What the operator asked, parsed once by the CLI into keyword-only request types.

``--set``, ``--set-secret`` and ``--allow`` become one :class:`Settings`; the image verbs get
one request each. The CLI builds these (through the parse functions here, so it imports
nothing below ``lifecycle``) and the lifecycle functions take them: no verb re-parses an
argument string (docs/architecture.md, "The CLI and the domain API").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from .images import RegistryFiles


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Template values (``--set`` and ``--set-secret`` merged), which of them are secret
    (never printed, docs/operations.md "File modes and secrets") and the privileges granted
    with ``--allow``."""

    values: dict[str, str] = field(default_factory=dict)
    secret_names: frozenset[str] = frozenset()
    allow: frozenset[str] = frozenset()


def parse_settings(*, set_args: Iterable[str] = (), secret_args: Iterable[str] = (),
                   allow_args: Iterable[str] = ()) -> Settings:
    """UsageError for a malformed pair, a name given by both --set and --set-secret, or an
    unknown privilege. A --set-secret value is read here, once (stdin or its file)."""
    # here: deploy's modules cost a pull (which builds no request with settings) ~30 ms
    from ..deploy.privileges import parse_allow
    from ..deploy.values import merge_set, parse_set, parse_set_secret

    secrets = parse_set_secret(secret_args)
    return Settings(values=merge_set(parse_set(set_args), secrets),
                    secret_names=frozenset(secrets), allow=parse_allow(allow_args))


@dataclass(frozen=True, kw_only=True)
class PullRequest:
    """``pull IMAGE``: a reference with its transport (docs/operations.md, "Images")."""

    image: str
    update: bool = False
    tls_verify: bool = True
    creds: tuple[str, str] | None = None
    progress: bool = False
    signature_policy: str | None = None   # --signature-policy FILE; None: the host's policy
    files: RegistryFiles = RegistryFiles()   # --authfile / --cert-dir


@dataclass(frozen=True, kw_only=True)
class MountRequest:
    """``mount IMAGE|NAME DIR``: ``what`` is an installed container's name or an image."""

    what: str
    target: str
    writable: bool = False
