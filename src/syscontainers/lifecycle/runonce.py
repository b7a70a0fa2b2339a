"""Run an image (or a stopped container) once in the foreground (docs/operations.md, "What
each verb does to the host").

The bundle lives in a temporary directory under the private state dir: its rootfs is an overlay
whose lower layer is the image's cached checkout (system mode; writes go to the temporary upper
dir), or a plain hard-link checkout when overlay is not available (user mode). Whatever
happens — failure, Ctrl-C — the mount, the tmpfiles entries and the directory are removed.
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..deploy import deployment as dl
from ..deploy.exports import read_exports
from ..deploy.render import Target, deployment_values, render_deployment
from ..errors import UsageError
from ..images.model import Image
from ..images.reference import default_container_name
from ..images.store import Store
from ..lock import host_lock
from ..paths import Paths
from ..service.runtime import find_runtime, probe_runtime
from ..service.systemd import Systemd
from . import mounts
from .build import own_process

from .images import RegistryFiles

Say = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class RunRequest:
    image: str
    command: list[str] = field(default_factory=list)
    name: str | None = None
    set_values: dict[str, str] = field(default_factory=dict)
    runtime: str | None = None
    signature_policy: str | None = None   # --signature-policy FILE for a pull
    tls_verify: bool = True               # the registry options of a pull (docs/operations.md)
    creds: tuple[str, str] | None = None
    files: RegistryFiles = RegistryFiles()


def run_image(paths: Paths, req: RunRequest, say: Say) -> int:
    """Pull if needed, run once, return the container's exit status."""
    from ..images.pull import PullOptions
    from .images import ensure_image

    store = Store(paths)
    with host_lock(paths):   # a pull writes the store; the run itself needs no lock
        image, image_name, _ref = ensure_image(
            paths, store, req.image, say,
            options=PullOptions(signature_policy=req.signature_policy, tls_verify=req.tls_verify,
                                creds=req.creds, auth_file=req.files.auth_file,
                                cert_dir=req.files.cert_dir))
    name = dl.validate_name(req.name or default_container_name(image_name))
    runtime = probe_runtime(find_runtime(req.runtime or paths.config.runtime))
    with ExitStack() as stack:
        bundle = stack.enter_context(mounts.temp_dir(paths, f"run-{name}"))
        rootfs = stack.enter_context(mounts.image_rootfs(paths, store, image, bundle))
        exports = read_exports(rootfs, image_name)
        target = Target(name, bundle, image_name, image.id, paths.user_mode, runtime,
                        run_once=True, image_process=own_process(store, image, image_name, exports))
        rendered = render_deployment(exports, deployment_values(exports, target, req.set_values),
                                     target)
        generated = exports.config_json is None and exports.config_template is None
        config = _config(rendered.config, generated, image, req.command)
        (bundle / "config.json").write_text(json.dumps(config, indent=2))
        if rendered.tmpfiles:
            (bundle / "tmpfiles.conf").write_text(rendered.tmpfiles)
            stack.enter_context(_Tmpfiles(Systemd(paths.user_mode), bundle / "tmpfiles.conf"))
        return run_foreground(runtime.path, bundle, f"{name}-run-{secrets.token_hex(4)}")


def _config(config: dict, generated: bool, image: Image, command: list[str]) -> dict:
    """The run-once config: CMD replaces the args; an image without a config of its own runs
    its Entrypoint + Cmd (what `podman run IMAGE` would run)."""
    config = json.loads(json.dumps(config))  # a private copy
    process = config.setdefault("process", {})
    if command:
        process["args"] = command
    elif generated:
        process["args"] = _image_command(image)
    process["terminal"] = sys.stdin.isatty() and sys.stdout.isatty()
    return config


def _image_command(image: Image) -> list[str]:
    cfg = image.config.get("config") or {}
    args = list(cfg.get("Entrypoint") or []) + list(cfg.get("Cmd") or [])
    if not args:
        raise UsageError(f"image {image.name or image.id[:12]} has no command: give one after the image")
    return args


class _Tmpfiles:
    """Context manager: create a tmpfiles config's entries, remove them on the way out."""

    def __init__(self, systemd: Systemd, conf: Path):
        self.systemd, self.conf = systemd, conf

    def __enter__(self):
        self.systemd.tmpfiles("create", str(self.conf))
        return self

    def __exit__(self, *exc):
        self.systemd.tmpfiles("remove", str(self.conf))


STOP_GRACE = 5.0  # seconds an interrupted container gets before SIGKILL


class _Signalled(Exception):
    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def run_foreground(runtime: str, bundle: Path, container_id: str) -> int:
    """Run the runtime attached to our terminal until the container exits.

    Ctrl-C reaches the container (runc is in our process group and forwards it); SIGTERM and
    SIGHUP sent to us are passed on to runc the same way. A container whose PID 1 ignores the
    signal (PID 1 of a PID namespace has no default action) is killed after STOP_GRACE
    seconds. Either way the container has ended when we return, so the caller's clean-up
    (unmount, tmpfiles, directory) always runs.
    """
    proc = subprocess.Popen([runtime, "run", "--bundle", str(bundle), container_id])
    interrupted: list[float] = []

    def forward(signum, frame=None):
        proc.send_signal(signum)
        interrupted.append(time.monotonic())

    def on_signal(signum, frame):
        raise _Signalled(signum)   # break out of a blocking wait(): it would resume after us

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        while True:
            try:
                rc = proc.wait(timeout=0.5 if interrupted else None)
                return rc if rc >= 0 else 128 - rc   # killed by a signal: shell convention
            except KeyboardInterrupt:
                forward(signal.SIGINT)
            except _Signalled as e:
                forward(e.signum)
            except subprocess.TimeoutExpired:
                if time.monotonic() - interrupted[0] > STOP_GRACE:
                    subprocess.run([runtime, "kill", container_id, "KILL"], capture_output=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        subprocess.run([runtime, "delete", "--force", container_id], capture_output=True)
