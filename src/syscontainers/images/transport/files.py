"""Sources that are files on this host: OCI layout (``oci:``), OCI archive (``oci-archive:``)
and docker archive (``docker-archive:``, atomic's ``dockertar:``).

skopeo cannot name one instance of an OCI index in a file, so the index is resolved here:
the host platform's manifest is read from the layout's (or archive's) blob store and checked
against its digest; after the copy, the blob skopeo chose must be that one. A docker archive
names its image itself (``RepoTags``), which is the stored name (docs/architecture.md,
"Transport seam").
"""

from __future__ import annotations

import json
import os
import re
import tarfile
from pathlib import Path

from ...errors import BadImage, SysContainersError, TransportError
from ..imagemeta import sha256_digest
from ..reference import parse_docker_name
from .base import SkopeoSource, host_platform

MAX_ARCHIVE_JSON = 1 << 20      # manifest.json / repositories larger than this are not read
MAX_MANIFEST = 4 << 20          # containers/image's own limit for a manifest


class FileSource(SkopeoSource):
    prefix = ""                  # skopeo's transport name
    archive = True               # a single file (not a directory)
    _instance: str | None = None

    def skopeo_name(self) -> str:
        suffix = f":{self.ref.ref}" if self.ref.ref else ""
        return f"{self.prefix}:{self.ref.path}{suffix}"

    def stored_name(self) -> str:
        self.check_file()
        return self.ref.store_name()

    def check_file(self) -> None:
        """The file must be there; an archive must be a regular file (a device or FIFO such as
        docker-archive:/dev/zero would be read forever)."""
        path = self.ref.path
        if not os.path.exists(path):
            raise TransportError(f"{path}: no such file or directory")
        if self.archive and not os.path.isfile(path):
            raise TransportError(f"{path}: not a regular file ({self.prefix}: needs an "
                                 "archive file)")

    def instance(self, digest: str) -> bytes:
        raw = self.read_blob(digest.split(":", 1)[1])
        if raw is None:
            raise BadImage(f"{self.what}: the {host_platform()[1]} image of the list is missing")
        if sha256_digest(raw) != digest:
            raise BadImage(f"manifest of {self.what} does not match its digest {digest}")
        self._instance = digest
        return raw

    def read_blob(self, hex_digest: str) -> bytes | None:
        raise NotImplementedError

    def copied(self, blob_dir: Path) -> None:
        # skopeo chose the list's instance itself: it must be the one manifest() returned.
        chosen = self._instance and blob_dir / "sha256" / self._instance.split(":", 1)[1]
        if chosen and not chosen.is_file():
            raise BadImage(f"{self.what}: the {host_platform()[1]} image of the list was not copied")


class OciLayoutSource(FileSource):
    prefix = "oci"
    archive = False

    def read_blob(self, hex_digest: str) -> bytes | None:
        path = Path(self.ref.path) / "blobs" / "sha256" / hex_digest
        try:
            with open(path, "rb") as f:
                return f.read(MAX_MANIFEST + 1)
        except (FileNotFoundError, IsADirectoryError):
            return None
        except OSError as e:
            raise TransportError(f"{path}: {e.strerror}") from None


class OciArchiveSource(FileSource):
    prefix = "oci-archive"

    def read_blob(self, hex_digest: str) -> bytes | None:
        try:
            with tarfile.open(self.ref.path, "r:*") as tar:
                for name in (f"blobs/sha256/{hex_digest}", f"./blobs/sha256/{hex_digest}"):
                    try:
                        info = tar.getmember(name)
                    except KeyError:
                        continue
                    if info.isfile() and info.size <= MAX_MANIFEST:
                        return tar.extractfile(info).read()
        except (tarfile.TarError, OSError) as e:
            raise BadImage(f"{self.ref.path}: not an OCI archive ({e})") from None
        return None


class DockerArchiveSource(FileSource):
    prefix = "docker-archive"

    def stored_name(self) -> str:
        self.check_file()
        return archive_name(Path(self.ref.path)) or self.ref.store_name()


def archive_name(path: Path) -> str | None:
    """RepoTags[0] of a docker archive's manifest.json, else its ``repositories`` file's first
    name:tag; None when it has neither (the caller falls back to the file name)."""
    try:
        with tarfile.open(path, "r:*") as tar:
            manifest = _tar_json(tar, "manifest.json")
            repositories = _tar_json(tar, "repositories")
    except (tarfile.TarError, OSError) as e:
        raise BadImage(f"{path}: not a docker archive ({e})") from None
    if isinstance(manifest, list) and manifest and isinstance(manifest[0], dict):
        tags = manifest[0].get("RepoTags") or []
        if tags and isinstance(tags[0], str) and _valid_name(tags[0]):
            return tags[0]
    if isinstance(repositories, dict):
        for repo, tags in repositories.items():
            if isinstance(tags, dict):
                for tag in tags:
                    if _valid_name(f"{repo}:{tag}"):
                        return f"{repo}:{tag}"
    return None


def _tar_json(tar: tarfile.TarFile, member: str):
    try:
        info = tar.getmember(member)
    except KeyError:
        return None
    if not info.isfile() or info.size > MAX_ARCHIVE_JSON:
        return None
    try:
        return json.loads(tar.extractfile(info).read())
    except (ValueError, RecursionError):
        raise BadImage(f"{tar.name}: malformed {member}") from None


def _valid_name(name: str) -> bool:
    try:
        parse_docker_name(name)
    except SysContainersError:
        return False
    return bool(re.fullmatch(r"[^\s@]+:[\w][\w.-]*", name))
