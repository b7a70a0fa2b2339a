"""Registry sources (``docker://``, ``http:``): TLS, credentials, and pinning by digest.

A tag can move while a pull runs; so once the manifest is read every later call names the
image by digest (``repo@sha256:...``) and two versions cannot mix. Credentials go to a 0600
auth file in the work dir, never onto skopeo's command line (visible in ps). The access
record notes where credentials came from, never the credentials (docs/formats.md).
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from ...errors import BadImage, TransportError
from .. import registries
from ..imagemeta import Manifest, manifest_digest
from ..reference import ImageRef
from .base import Reach, SkopeoSource, SourceOptions


class RegistrySource(SkopeoSource):
    """A short name is qualified here by registries.conf (images/registries.py): with one
    candidate at once; with several (search registries, permissive mode) the first that
    serves the image, found when the source is first asked for its name or manifest."""

    _auth_file: Path | None = None

    def __init__(self, ref: ImageRef, options: SourceOptions, workdir: Path | None):
        self._short = registries.qualify(ref, registries.load()) if ref.short_name else None
        super().__init__(self._short.candidates[0] if self._short else ref, options, workdir)
        self._pending = self._short is not None and len(self._short.candidates) > 1
        self._top: bytes | None = None      # the manifest the search found (asked once)

    def skopeo_name(self) -> str:
        return f"docker://{self.ref.docker}"

    def stored_name(self) -> str:
        self._search()
        return super().stored_name()

    def registry_name(self) -> str:
        self._search()
        return str(self.ref.docker)

    def notes(self) -> tuple[str, ...]:
        if self._short is None:
            return ()
        if self._short.how == "default":
            return (f"warning: {self.ref.original} names no registry and registries.conf has no "
                    f"alias or unqualified-search registry for it: {self.ref.docker.registry} was used",)
        self._search()
        return (f"{self.ref.original} is {self.ref.docker} ({self._short.how})",)

    def _search(self) -> None:
        """Try the candidates in order; the first that serves a manifest is the image."""
        if not self._pending:
            return
        self._pending = False          # skopeo errors name registry_name(): no recursion
        last = None
        for candidate in self._short.candidates:
            self.ref, self.pinned = candidate, f"docker://{candidate.docker}"
            try:
                self._top = self.inspect(self.pinned)
                return
            except TransportError as e:
                last = e
        tried = ", ".join(str(c.docker) for c in self._short.candidates)
        raise TransportError(f"{self.ref.original} was found in no unqualified-search registry "
                             f"(tried {tried}; the last said: {last})")

    def reach(self, tls_verify: bool, creds_given: bool) -> Reach:
        creds = "src-creds" if creds_given else (
            "auth-file" if auth_file_has(self.ref.docker.registry) else None)
        return Reach(tls_verify and not self.ref.insecure, creds)

    def flags(self, side: str) -> list[str]:
        flags = []
        if self.ref.insecure or not self.options.tls_verify:
            flags.append(f"--{side}tls-verify=false")
        if self.options.creds:
            flags += [f"--{side}authfile", str(self._write_auth_file())]
        elif self.options.auth_file:
            flags += [f"--{side}authfile", self.options.auth_file]
        if self.options.cert_dir:
            flags += [f"--{side}cert-dir", self.options.cert_dir]
        return flags

    def _write_auth_file(self) -> Path:
        if self._auth_file is None:
            if self.workdir is None:
                raise RuntimeError("a source with credentials needs a work dir")
            user, password = self.options.creds
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            path = self.workdir / "auth.json"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump({"auths": {self.ref.docker.registry: {"auth": token}}}, f)
            self._auth_file = path
        return self._auth_file

    def _pin(self, digest: str) -> None:
        self.pinned = f"docker://{self.ref.docker.repository}@{digest}"

    def top_manifest(self) -> bytes:
        self._search()
        wanted = self.ref.docker.digest
        if not wanted:
            found, self._top = self._top, None
            return found if found is not None else self.inspect(self.pinned)
        # containers/image refuses tag+digest: the digest alone names the content.
        self._pin(wanted)
        return self._check(self.inspect(self.pinned), wanted)

    def manifest(self) -> Manifest:
        manifest = super().manifest()
        self._pin(manifest.digest)
        return manifest

    def adopt(self, manifest: Manifest) -> Manifest:
        """The copy is pinned to that digest, so what is fetched is exactly what was judged:
        a tag moved since is not followed (the next update sees it)."""
        self._pin(manifest.digest)
        return manifest

    def instance(self, digest: str) -> bytes:
        """A registry names a list's instance by digest: ask for exactly that one."""
        self._pin(digest)
        return self._check(self.inspect(self.pinned), digest)

    def _check(self, raw: bytes, digest: str) -> bytes:
        if manifest_digest(raw) != digest:
            raise BadImage(f"manifest of {self.what} does not match its digest {digest}")
        return raw


def auth_files() -> list[Path]:
    """The containers auth files skopeo reads, in its order (containers-auth.json(5))."""
    if os.environ.get("REGISTRY_AUTH_FILE"):
        return [Path(os.environ["REGISTRY_AUTH_FILE"])]
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/containers/{os.getuid()}"
    home = Path(os.path.expanduser("~"))
    config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    return [Path(runtime) / "containers/auth.json", config / "containers/auth.json",
            home / ".docker/config.json"]


def auth_file_has(registry: str) -> bool:
    """Whether an auth file has an entry for ``registry`` (only the keys are looked at)."""
    for path in auth_files():
        try:
            auths = json.loads(path.read_text()).get("auths") or {}
        except (OSError, ValueError, AttributeError):
            continue
        for key in auths:
            host = key.split("://", 1)[-1].split("/", 1)[0]
            if host == registry:
                return True
    return False
