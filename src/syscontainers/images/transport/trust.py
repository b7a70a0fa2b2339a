"""The containers trust policy: which policy file, and skopeo as its only judge.

Signatures are never checked here: skopeo evaluates ``policy.json`` and the lookaside
configuration of ``registries.d`` (containers-policy.json(5), containers-registries.d(5)).
This module only says which files skopeo is given (docs/operations.md, "Signatures and the
trust policy"):

- ``--signature-policy FILE`` wins; else, in user mode, ``~/.config/containers/policy.json``
  when it exists; else ``/etc/containers/policy.json``. System mode does not look in root's
  home: the host's policy is the one in /etc.
- No policy file at all is refused, as skopeo refuses: an operator who wants every image
  accepted says so in a policy file (``insecureAcceptAnything``).
- ``registries_d`` (the config file's key of that name) is skopeo's ``--registries.d``;
  without it skopeo uses its own default.

:meth:`TrustPolicy.accepts_anything` reads the policy only to know that it cannot reject
anything (every requirement ``insecureAcceptAnything``): then the verification copy is not
needed. Any other content, or a file that does not parse, is left to skopeo.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ...errors import UsageError

SYSTEM_POLICY = Path("/etc/containers/policy.json")
_ACCEPT = [{"type": "insecureAcceptAnything"}]


def user_policy() -> Path:
    """containers-policy.json(5): ``$HOME/.config/containers/policy.json``."""
    return Path(os.path.expanduser("~")) / ".config/containers/policy.json"


@dataclass(frozen=True)
class TrustPolicy:
    """The policy file skopeo is given, and the registries.d it reads lookaside config from."""

    path: Path
    registries_d: Path | None = None

    def flags(self) -> list[str]:
        """skopeo's global options for this policy."""
        extra = ["--registries.d", str(self.registries_d)] if self.registries_d else []
        return ["--policy", str(self.path), *extra]

    def accepts_anything(self) -> bool:
        """True only when every requirement of the file is ``insecureAcceptAnything``."""
        try:
            policy = json.loads(self.path.read_text())
        except (OSError, ValueError, UnicodeDecodeError, RecursionError):
            return False
        if not isinstance(policy, dict) or policy.get("default") != _ACCEPT:
            return False
        transports = policy.get("transports", {})
        if not isinstance(transports, dict):
            return False
        for scopes in transports.values():
            if not isinstance(scopes, dict) or any(v != _ACCEPT for v in scopes.values()):
                return False
        return True


def trust_policy(given: str | None, user_mode: bool,
                 registries_d: str | None = None) -> TrustPolicy:
    """The policy a pull is verified with (see the module docstring); UsageError when the
    given file, or every default one, is missing."""
    regd = Path(registries_d) if registries_d else None
    if given:
        path = Path(given)
        if not path.is_file():
            raise UsageError(f"--signature-policy {given}: no such file (give a containers "
                             f"policy.json, see containers-policy.json(5))")
        return TrustPolicy(path.absolute(), regd)
    candidates = ([user_policy()] if user_mode else []) + [SYSTEM_POLICY]
    for path in candidates:
        if path.is_file():
            return TrustPolicy(path, regd)
    missing = (f"neither {candidates[0]} nor {candidates[1]} exists" if len(candidates) > 1
               else f"{candidates[0]} does not exist")
    raise UsageError(f"no trust policy: {missing} (write one "
                     f"- {{\"default\": [{{\"type\": \"insecureAcceptAnything\"}}]}} accepts every "
                     f"image - or give --signature-policy FILE)")
