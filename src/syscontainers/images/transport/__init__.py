"""The transport seam: how images come in (skopeo), one :class:`Source` per family.

:func:`open_source` is the one place that looks at ``ImageRef.transport``; everything else
asks the source (its stored name, its registry name, how the access record reaches it, its
manifest, config and blobs). See docs/architecture.md, "Transport seam" (also: how to add a
transport).
"""

from __future__ import annotations

from pathlib import Path

from ..imagemeta import (Manifest, image_manifest, is_manifest_list, manifest_digest,
                         sha256_digest)
from ..reference import ImageRef
from .base import Reach, Source, SourceOptions, host_platform, pick_platform
from .daemon import DaemonSource
from .files import DockerArchiveSource, OciArchiveSource, OciLayoutSource, archive_name
from .registry import RegistrySource, auth_file_has, auth_files
from .skopeo_errors import skopeo_error
from .trust import TrustPolicy, trust_policy

_FAMILIES = {
    "docker": RegistrySource,
    "docker-daemon": DaemonSource,
    "oci": OciLayoutSource,
    "oci-archive": OciArchiveSource,
    "docker-archive": DockerArchiveSource,
}


def open_source(ref: ImageRef, options: SourceOptions = SourceOptions(),
                workdir: Path | None = None) -> Source:
    """The source ``ref`` names. Opening writes nothing; ``workdir`` (a private directory the
    caller removes) is needed only once skopeo runs with credentials."""
    return _FAMILIES[ref.transport](ref, options, workdir)


__all__ = [
    "Manifest", "Reach", "Source", "SourceOptions", "open_source",
    "archive_name", "auth_file_has", "auth_files", "host_platform", "image_manifest",
    "is_manifest_list", "manifest_digest", "pick_platform", "sha256_digest", "skopeo_error",
]
__all__ += ["TrustPolicy", "trust_policy"]     # trust.py: the policy skopeo judges pulls by
