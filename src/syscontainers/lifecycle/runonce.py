"""Run an image (or a stopped container) once in the foreground (SPEC 6).

The bundle lives in a temporary directory under the private storage: its rootfs is an overlay
whose lower layer is the image's cached checkout (system mode; writes go to the temporary upper
dir), or a plain hard-link checkout when overlay is not available (user mode). Whatever
happens — failure, Ctrl-C — the mount, the tmpfiles entries and the directory are removed.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..deploy import deployment as dl
from ..deploy.exports import Exports, read_exports
from ..deploy.ocispec import default_spec, validate_config
from ..deploy.render import render_template
from ..deploy.values import compute_values, os_values
from ..errors import ConfigError, UsageError
from ..images.model import Image
from ..images.reference import default_container_name
from ..images.store import Store
from ..paths import Paths
from ..service.runtime import find_runtime, probe_runtime
from ..service.systemd import Systemd
from . import mounts

Say = Callable[[str], None]


@dataclass(frozen=True)
class RunRequest:
    image: str
    command: list[str] = field(default_factory=list)
    name: str | None = None
    set_values: dict[str, str] = field(default_factory=dict)
    runtime: str | None = None


def run_image(paths: Paths, req: RunRequest, say: Say) -> int:
    """Pull if needed, run once, return the container's exit status."""
    from .images import ensure_image

    store = Store(paths)
    image, image_name = ensure_image(paths, store, req.image, say)
    name = dl.validate_name(req.name or default_container_name(image_name))
    runtime = probe_runtime(find_runtime(req.runtime or paths.config.runtime))
    with ExitStack() as stack:
        bundle = stack.enter_context(mounts.temp_dir(paths, f"run-{name}"))
        rootfs = stack.enter_context(mounts.image_rootfs(paths, store, image, bundle))
        exports = read_exports(rootfs, image_name)
        values = compute_values(exports.manifest.default_values,
                                os_values(paths.user_mode, name, runtime.path, secrets.token_hex(16)),
                                req.set_values,
                                {"DESTDIR": str(bundle), "NAME": name, "IMAGE_NAME": image_name,
                                 "IMAGE_ID": image.id, "HOST_UID": str(os.getuid()),
                                 "HOST_GID": str(os.getgid())})
        config = _config(exports, image, image_name, values, req.command)
        config.setdefault("root", {})["path"] = str(rootfs)
        (bundle / "config.json").write_text(json.dumps(config, indent=2))
        stack.enter_context(_Tmpfiles(paths, exports, bundle, values))
        return run_foreground(runtime.path, bundle, f"{name}-run-{secrets.token_hex(4)}")


def _config(exports: Exports, image: Image, image_name: str, values: dict[str, str],
            command: list[str]) -> dict:
    if exports.config_json is not None:
        text = exports.config_json
    elif exports.config_template is not None:
        text = render_template(exports.config_template, values, "config.json.template")
    else:
        text = None
    if text is None:
        config = default_spec(find_runtime(None))
        config["process"]["args"] = command or _image_command(image)
    else:
        try:
            config = json.loads(text) or {}
        except ValueError as e:
            raise ConfigError(f"config.json of {image_name} is not valid JSON: {e}") from None
        if command:
            config.setdefault("process", {})["args"] = command
    validate_config(config, remote=False, run_once=True)
    config.setdefault("process", {})["terminal"] = sys.stdin.isatty() and sys.stdout.isatty()
    return config


def _image_command(image: Image) -> list[str]:
    cfg = image.config.get("config") or {}
    args = list(cfg.get("Entrypoint") or []) + list(cfg.get("Cmd") or [])
    if not args:
        raise UsageError(f"image {image.name or image.id[:12]} has no command: give one after the image")
    return args


class _Tmpfiles:
    """Context manager: render tmpfiles.template (if any) and create/remove its entries."""

    def __init__(self, paths: Paths, exports: Exports, bundle: Path, values: dict[str, str]):
        self.systemd = Systemd(paths.user_mode)
        self.conf = None
        if exports.tmpfiles_template is not None:
            self.conf = bundle / "tmpfiles.conf"
            self.conf.write_text(render_template(exports.tmpfiles_template, values, "tmpfiles.template"))

    def __enter__(self):
        if self.conf:
            self.systemd.tmpfiles("create", str(self.conf))
        return self

    def __exit__(self, *exc):
        if self.conf:
            self.systemd.tmpfiles("remove", str(self.conf))


def run_foreground(runtime: str, bundle: Path, container_id: str) -> int:
    """Run the runtime attached to our terminal; Ctrl-C reaches the container (same
    process group) and we still clean up after it exits."""
    proc = subprocess.Popen([runtime, "run", "--bundle", str(bundle), container_id])
    try:
        while True:
            try:
                rc = proc.wait()
                return rc if rc >= 0 else 128 - rc   # killed by a signal: shell convention
            except KeyboardInterrupt:
                proc.send_signal(signal.SIGINT)
    finally:
        subprocess.run([runtime, "delete", "--force", container_id], capture_output=True)
