"""Template values and their precedence (docs/templates.md).

Values are plain ``dict[str, str]`` (every value a string, as templates see them). From weakest
to strongest, :func:`compute_values` merges:

1. the image's ``defaultValues`` (exports/manifest.json);
2. the values the OS sets (:func:`os_values`) — RUN_DIRECTORY, PIDFILE, CONF_DIRECTORY,
   STATE_DIRECTORY, ALL_PROCESS_CAPABILITIES, RUNTIME, ATOMIC, UUID;
3. ``--set NAME=VALUE`` (:func:`parse_set`); on update, the values stored in the info file
   plus the new ``--set`` (:func:`carried_values`);
4. the forced values nobody can override (:func:`forced_values`): DESTDIR, NAME, EXEC_*,
   HOST_UID, HOST_GID, IMAGE_NAME, IMAGE_ID.

An OS value therefore beats an image default of the same name (as in atomic), and PIDFILE
follows a RUN_DIRECTORY given with ``--set``.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Iterable, Mapping, TextIO

from ..errors import UsageError
from ..safejson import is_utf8
from ..paths import SYSTEM_CONF_DIR, SYSTEM_RUN_DIR, SYSTEM_STATE_DIR
from ..service.runtime import ExecCommands
from .capabilities import all_process_capabilities

FORCED_VARIABLES: tuple[str, ...] = (
    "DESTDIR", "NAME", "EXEC_START", "EXEC_STOP", "EXEC_STARTPRE", "EXEC_STOPPOST",
    "HOST_UID", "HOST_GID", "IMAGE_NAME", "IMAGE_ID",
)
OS_VARIABLES: tuple[str, ...] = (
    "RUN_DIRECTORY", "PIDFILE", "CONF_DIRECTORY", "STATE_DIRECTORY",
    "ALL_PROCESS_CAPABILITIES", "RUNTIME", "ATOMIC", "UUID",
)


def parse_set(pairs: Iterable[str]) -> dict[str, str]:
    """``--set`` arguments to a dict: split at the first ``=``; a later pair wins.

    UsageError for a pair without ``=``, an empty name, or a forced variable (nobody can set
    those; silently ignoring the operator's value would be worse than refusing it).
    """
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"Expected form NAME=VALUE, got {pair!r}")
        if name in FORCED_VARIABLES:
            raise UsageError(f"{name} is set by syscontainers and cannot be given with --set")
        if not is_utf8(pair):
            # bytes that are not UTF-8 reach us as lone surrogates (sys.argv's
            # surrogateescape); no unit, tmpfiles or JSON file can hold them
            shown = pair.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            raise UsageError(f"--set {shown!r}: not valid UTF-8 text")
        out[name] = value
    return out


SECRET_MASK = "***"


def parse_set_secret(items: Iterable[str], stdin: TextIO | None = None) -> dict[str, str]:
    """``--set-secret`` arguments to a dict (docs/operations.md "File modes and secrets").

    ``NAME`` reads the value as one line from stdin (several bare NAMEs read one line each,
    in order; a terminal does not echo it); ``NAME=@FILE`` reads the whole file (one trailing
    newline dropped). A value never appears in an error message.
    """
    stdin = sys.stdin if stdin is None else stdin
    out: dict[str, str] = {}
    for item in items:
        name, sep, source = item.partition("=")
        if not name or (sep and not source.startswith("@")):
            raise UsageError(f"--set-secret takes NAME (value read from stdin) or NAME=@FILE, "
                             f"got {name or item!r}=...")
        if name in FORCED_VARIABLES:
            raise UsageError(f"{name} is set by syscontainers and cannot be given with --set-secret")
        out[name] = _read_secret(name, source[1:] if sep else None, stdin)
    return out


def _read_secret(name: str, path: str | None, stdin: TextIO) -> str:
    if path is not None:
        try:
            with open(path) as f:
                text = f.read()
        except OSError as e:
            raise UsageError(f"--set-secret {name}: cannot read {path}: {e.strerror}") from None
        return text[:-1] if text.endswith("\n") else text
    if stdin.isatty():
        import getpass
        return getpass.getpass(f"value of {name}: ")
    line = stdin.readline()
    if not line:
        raise UsageError(f"--set-secret {name}: no line left on stdin for its value")
    return line.rstrip("\n")


def merge_set(plain: Mapping[str, str], secret: Mapping[str, str]) -> dict[str, str]:
    """``--set`` and ``--set-secret`` together; a name given by both is an error."""
    both = sorted(set(plain) & set(secret))
    if both:
        raise UsageError(f"{both[0]} is given with both --set and --set-secret; give it once")
    return {**plain, **secret}


def mask_values(values: Mapping[str, str], secret_names: Iterable[str]) -> dict[str, str]:
    """``values`` with every secret one replaced by ``***`` (for anything printed)."""
    secret = set(secret_names)
    return {k: (SECRET_MASK if k in secret else v) for k, v in values.items()}


def mask_text(text: str, values: Mapping[str, str], secret_names: Iterable[str]) -> str:
    """``text`` with every occurrence of a secret value replaced by ``***`` (templates may
    copy a secret into a command line, a unit, an error message). Longest values first, so a
    secret that contains another is masked whole."""
    secrets = sorted({values[n] for n in secret_names if values.get(n)}, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, SECRET_MASK)
    return text


def carried_values(stored: Mapping[str, str], overrides: Mapping[str, str]) -> dict[str, str]:
    """The ``--set`` layer of an update: the info file's values, then the new ``--set``.

    Forced values are dropped (they are recomputed for the new deployment). Stored OS values
    (UUID, RUN_DIRECTORY ...) are kept, so the UUID survives updates.
    """
    out = {k: str(v) for k, v in stored.items() if k not in FORCED_VARIABLES}
    out.update(overrides)
    return out


def tool_path(argv0: str | None = None) -> str:
    """ATOMIC: the path of this tool, for units that call it back.

    The entry-point script when we were started through it, else ``syscontainers`` on PATH,
    else argv[0] made absolute (e.g. ``python -m``).
    """
    argv0 = sys.argv[0] if argv0 is None else argv0
    if os.path.basename(argv0) == "syscontainers":
        return os.path.realpath(argv0)
    return shutil.which("syscontainers") or os.path.abspath(argv0)



def _new_uuid() -> str:
    import uuid   # here: its import (platform, _uuid) is paid only when a new one is made

    return str(uuid.uuid4())


def os_values(
    user_mode: bool,
    name: str,
    runtime_path: str,
    uuid: str | None = None,
    user_set: Mapping[str, str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    home: str | None = None,
    status_text: str | None = None,
) -> dict[str, str]:
    """The values the OS sets (layer 2). ``uuid`` None means a new random one.

    ``user_set`` only matters for PIDFILE, which lives in the RUN_DIRECTORY actually used.
    ``env``/``home``/``status_text`` default to this process's; tests pass their own.
    """
    env = os.environ if env is None else env
    home = home or env.get("HOME") or os.path.expanduser("~")
    if user_mode:
        run_dir = env.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
        conf_dir, state_dir = os.path.join(home, ".config"), os.path.join(home, ".data")
    else:
        run_dir, conf_dir, state_dir = SYSTEM_RUN_DIR, SYSTEM_CONF_DIR, SYSTEM_STATE_DIR
    effective_run_dir = (user_set or {}).get("RUN_DIRECTORY", run_dir)
    return {
        "RUN_DIRECTORY": run_dir,
        "PIDFILE": os.path.join(effective_run_dir, f"container-{name}.pid"),
        "CONF_DIRECTORY": conf_dir,
        "STATE_DIRECTORY": state_dir,
        "ALL_PROCESS_CAPABILITIES": all_process_capabilities(status_text),
        "RUNTIME": runtime_path,
        "ATOMIC": tool_path(),
        "UUID": uuid or _new_uuid(),
    }


def forced_values(
    *,
    name: str,
    destdir: str,
    exec_commands: ExecCommands,
    image_name: str,
    image_id: str,
    host_uid: int | None = None,
    host_gid: int | None = None,
) -> dict[str, str]:
    """The values nobody can override (layer 4). HOST_UID/GID default to this process's."""
    values = {
        "DESTDIR": str(destdir),
        "NAME": name,
        "HOST_UID": str(os.getuid() if host_uid is None else host_uid),
        "HOST_GID": str(os.getgid() if host_gid is None else host_gid),
        "IMAGE_NAME": image_name,
        "IMAGE_ID": image_id,
    }
    values.update(exec_commands.as_values())
    return values


def compute_values(
    defaults: Mapping[str, str],
    os_vals: Mapping[str, str],
    user_set: Mapping[str, str],
    forced: Mapping[str, str],
) -> dict[str, str]:
    """Merge the four layers, weakest first (see the module docstring)."""
    merged: dict[str, str] = {}
    for layer in (defaults, os_vals, user_set, forced):
        merged.update({k: str(v) for k, v in layer.items()})
    return merged
