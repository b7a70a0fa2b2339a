"""containers/storage as a source (``containers-storage:``): images built with buildah or
podman on this host, read by skopeo without exporting them first.

The store is the one podman and buildah use for this user (``/var/lib/containers/storage``
for root), or the one named in brackets (``containers-storage:[vfs@/root+/runroot]NAME``, as
skopeo takes it). Its images are single images stored under registry-style names
(``localhost/app:1``), and that name is what the image is stored under here.
"""

from __future__ import annotations

from .base import SkopeoSource


class ContainersStorageSource(SkopeoSource):
    def skopeo_name(self) -> str:
        return f"containers-storage:{self.ref.path or ''}{self.ref.docker}"

    def stored_name(self) -> str:
        return str(self.ref.docker)
