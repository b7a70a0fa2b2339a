"""exec NAME CMD: into a running container, or a stopped one run once with CMD, or an image
reference run once (docs/operations.md, "What each verb does to the host")."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from typing import Callable

from ..deploy import deployment as dl
from ..errors import ConfigError, ContainerNotFound, UsageError
from ..paths import Paths
from ..service.runtime import find_runtime
from ..service.systemd import Systemd
from .mounts import temp_dir
from .runonce import RunRequest, run_foreground, run_image

Say = Callable[[str], None]


def looks_like_image(name: str) -> bool:
    """A registry part, a ':' tag or a transport prefix: not a container name."""
    return ":" in name or "/" in name or bool(re.match(r"^[a-z0-9-]+\.[a-z0-9.-]+/", name))


def run(paths: Paths, req: RunRequest, say: Say) -> int:
    """``run IMAGE|NAME [CMD]``: an installed container's name runs CMD in it, as atomic's
    `run NAME CMD` did (like exec); anything else is an image run once."""
    if _installed(paths, req.image):
        name = req.image
        if req.set_values or req.name:
            raise UsageError(f"{name} is an installed container: --set and --name are for "
                             f"running an image (use `update --set` to change the container)")
        if not req.command:
            raise UsageError(f"{name} is an installed container: `syscontainers start {name}` "
                             f"starts it, `run {name} CMD` runs CMD in it")
        return exec_in(paths, name, req.command, False, say)
    return run_image(paths, req, say)


def _installed(paths: Paths, text: str) -> bool:
    if looks_like_image(text):
        return False
    try:
        dl.validate_name(text)
    except UsageError:
        return False
    return dl.current(paths, text) is not None


def exec_in(paths: Paths, name: str, command: list[str], detach: bool, say: Say) -> int:
    if not command:
        raise UsageError("exec needs a command to run")
    if looks_like_image(name):
        if detach:
            raise UsageError("--detach cannot be used when running an image once")
        return run_image(paths, RunRequest(image=name, command=command), say)
    dl.validate_name(name)
    dep = dl.current(paths, name)
    if dep is None:
        raise ContainerNotFound(f"container {name} is not installed")
    info = dep.read_info()
    runtime = find_runtime(info.runtime or paths.config.runtime)
    if Systemd(paths.user_mode).is_active(f"{name}.service"):
        args = [runtime, "exec"]
        if sys.stdin.isatty() and not detach:
            args.append("--tty")
        if detach:
            args.append("--detach")
        return subprocess.call(args + [name, *command])
    if detach:
        raise UsageError(f"{name} is not running: --detach needs a running container")
    return _run_stopped(paths, dep, runtime, command)


def _run_stopped(paths: Paths, dep: dl.Deployment, runtime: str, command: list[str]) -> int:
    """The deployment's own config with its args replaced by CMD, in a temporary bundle."""
    try:
        config = json.loads((dep.path / "config.json").read_text())
    except (OSError, ValueError, RecursionError) as e:
        raise ConfigError(f"cannot read {dep.path / 'config.json'}: {e}") from None
    process = config.setdefault("process", {})
    process["args"] = command
    process["terminal"] = sys.stdin.isatty() and sys.stdout.isatty()
    linux = config.get("linux") or {}
    if str(linux.get("cgroupsPath", "")).endswith(f"/{dep.name}.service/container"):
        # the service's cgroup (docs/templates.md "Where the container runs"): a one-off run
        # outside the service must not put its processes there
        del linux["cgroupsPath"]
    root = config.setdefault("root", {})
    if not os.path.isabs(root.get("path", "rootfs")):
        root["path"] = str(dep.path / root.get("path", "rootfs"))
    with temp_dir(paths, f"exec-{dep.name}") as bundle:
        (bundle / "config.json").write_text(json.dumps(config))
        return run_foreground(runtime, bundle, f"{dep.name}-exec-{secrets.token_hex(4)}")
