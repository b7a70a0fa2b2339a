"""The docker daemon as a source (``docker-daemon:``), reached at ``--daemon-host``.

The daemon stores single images (no lists) and names them ``name:tag`` or by ID, so the
stored name is the reference's registry form; the socket comes from the options (default
``$DOCKER_HOST``, set by pull).
"""

from __future__ import annotations

from ..reference import DEFAULT_TAG
from .base import SkopeoSource


class DaemonSource(SkopeoSource):
    def skopeo_name(self) -> str:
        d = self.ref.docker
        # docker-daemon wants name:tag (or an ID); Docker Hub names are accepted as is.
        return f"docker-daemon:{d.repository}:{d.tag or DEFAULT_TAG}"

    def flags(self, side: str) -> list[str]:
        if self.options.daemon_host:
            return [f"--{side}daemon-host", self.options.daemon_host]
        return []
