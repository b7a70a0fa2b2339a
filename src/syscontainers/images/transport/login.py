"""``login`` / ``logout``: registry credentials in the containers auth file, through skopeo
(docs/operations.md, "Registry credentials: login and logout").

DECISION: the default file is the persistent one of containers-auth.json(5)'s list,
``$XDG_CONFIG_HOME/containers/auth.json`` (root: ``/root/.config/containers/auth.json``), not
skopeo's own default under ``$XDG_RUNTIME_DIR`` (``/run`` is emptied at boot, and the
unattended updates of a timer need the credentials after a reboot). skopeo, podman and this
tool read both. ``REGISTRY_AUTH_FILE`` or ``--authfile`` choose another file. The password goes
to skopeo on stdin, never on a command line (visible in ps).
"""

from __future__ import annotations

import os
from pathlib import Path

from ... import proc
from ...errors import TransportError, UsageError


def default_auth_file(env=os.environ) -> Path:
    if env.get("REGISTRY_AUTH_FILE"):
        return Path(env["REGISTRY_AUTH_FILE"])
    config = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(config) / "containers" / "auth.json"


def _registry(text: str) -> str:
    """``quay.io``, ``127.0.0.1:5000``; a scheme or a path after the host is dropped, as
    podman does (credentials are per registry)."""
    host = text.split("://", 1)[-1].split("/", 1)[0]
    if not host:
        raise UsageError(f"login: {text!r} names no registry (expected HOST[:PORT])")
    return host


def _failed(res: proc.Result, verb: str, registry: str) -> TransportError:
    reason = proc.last_line(res.stderr) or f"exit status {res.returncode}"
    reason = reason.split("msg=", 1)[-1].strip('"').replace('\\"', '"')
    if any(word in reason for word in ("unauthorized", "401", "invalid username/password")):
        return TransportError(f"{verb} to {registry} failed: the registry refused the user name "
                              f"or password")
    return TransportError(f"{verb} to {registry} failed: {reason}")


def login(registry: str, user: str, password: str, *, auth_file: Path,
          tls_verify: bool = True) -> str:
    """Check the credentials with the registry and store them; returns the registry."""
    registry = _registry(registry)
    auth_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    res = proc.run(["skopeo", "login", "--authfile", str(auth_file), "--username", user,
                    "--password-stdin", *([] if tls_verify else ["--tls-verify=false"]), registry],
                   check=False, input=password)
    if res.returncode != 0:
        raise _failed(res, "login", registry)
    os.chmod(auth_file, 0o600)
    return registry


def logout(registry: str | None, *, auth_file: Path) -> str:
    """Remove the credentials of ``registry`` (None: of every registry) from the file."""
    target = ["--all"] if registry is None else [_registry(registry)]
    res = proc.run(["skopeo", "logout", "--authfile", str(auth_file), *target], check=False)
    if res.returncode != 0:
        if "not logged into" in res.stderr:
            raise UsageError(f"not logged in to {target[0]} (in {auth_file})")
        raise _failed(res, "logout", target[0])
    return "every registry" if registry is None else target[0]
