"""The transport seam: how images come in (skopeo), one :class:`Source` per family.

:func:`open_source` is the one place that looks at ``ImageRef.transport``; everything else
asks the source (its stored name, its registry name, how the access record reaches it, its
manifest, config and blobs). See docs/architecture.md, "Transport seam" (also: how to add a
transport).
"""

from __future__ import annotations

from pathlib import Path

from ...errors import SysContainersError
from .. import registries
from ..imagemeta import (Manifest, image_manifest, is_manifest_list, manifest_digest,
                         sha256_digest)
from ..reference import ImageRef
from .base import Copy, Reach, Source, SourceOptions, host_platform, pick_platform
from .daemon import DaemonSource
from .login import default_auth_file, login, logout
from .files import DockerArchiveSource, OciArchiveSource, OciLayoutSource, archive_name
from .registry import RegistrySource, auth_file_has, auth_files
from .storage import ContainersStorageSource
from .skopeo_errors import skopeo_error
from .trust import TrustPolicy, trust_policy

_FAMILIES = {
    "docker": RegistrySource,
    "docker-daemon": DaemonSource,
    "containers-storage": ContainersStorageSource,
    "oci": OciLayoutSource,
    "oci-archive": OciArchiveSource,
    "docker-archive": DockerArchiveSource,
}


def open_source(ref: ImageRef, options: SourceOptions = SourceOptions(),
                workdir: Path | None = None) -> Source:
    """The source ``ref`` names. Opening writes nothing; ``workdir`` (a private directory the
    caller removes) is needed only once skopeo runs with credentials."""
    return _FAMILIES[ref.transport](ref, options, workdir)


def stored_candidates(ref: ImageRef) -> tuple[str, ...]:
    """The names a short registry name may be stored under, in registries.conf's order
    (aliases, search registries; no network): what a pull of it would store. Empty for a
    reference that is not a short registry name, or one registries.conf cannot qualify
    (ambiguous, a bad file: the pull says why)."""
    if ref.transport != "docker" or not ref.short_name:
        return ()
    try:
        short = registries.qualify(ref, registries.load())
    except SysContainersError:
        return ()
    return tuple(str(candidate.docker) for candidate in short.candidates)


__all__ = [
    "Copy", "Manifest", "Reach", "Source", "SourceOptions", "open_source", "stored_candidates",
    "archive_name", "auth_file_has", "auth_files", "default_auth_file", "login", "logout",
    "host_platform", "image_manifest", "is_manifest_list", "manifest_digest", "pick_platform", "sha256_digest", "skopeo_error",
]
__all__ += ["TrustPolicy", "trust_policy"]     # trust.py: the policy skopeo judges pulls by
