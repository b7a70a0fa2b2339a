"""Find the image a verb names, pulling it when it is not in the store yet; how it was reached.

The *access record* (:class:`Access`, the info file's ``source*`` keys, docs/formats.md) says
how install reached an image - the reference as given (``http:`` included), TLS verification,
and where credentials came from (never the credentials) - so that update and
``update --check`` reach the same source the same way (docs/operations.md, "Updates").
"""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from ..errors import ImageInUse, ImageNotFound, SourceUnavailable, StoreError, SysContainersError
from ..images.imagemeta import config_digest
from ..images.model import Image
from ..images.pull import PullOptions
from ..images.reference import ImageRef, parse_reference
from ..images.store import Store
from ..images.transport import (Manifest, SourceOptions, auth_file_has, auth_files, open_source,
                                stored_candidates)
from ..paths import Paths

__all__ = ["auth_file_has", "auth_files"]     # moved to images.transport; kept importable here


def ensure_image(paths: Paths, store: Store, ref: str, say: Callable[[str], None],
                 pull: bool = True, options: PullOptions | None = None
                 ) -> tuple[Image | None, str, ImageRef | None]:
    """(image, name it is known by, the reference parsed). A name or ID prefix in the store
    wins; otherwise the reference is pulled with ``options`` (or, with ``pull=False``,
    (None, ref, parsed) is returned). The parsed reference is None when the text is no
    reference (it can still name a stored image). Update does not come here: it asks the
    source first (update.find_target)."""
    parsed = _parse(ref)
    try:
        image = _stored_short_name(store, parsed) or store.resolve(ref)
    except ImageNotFound:
        if not pull:
            return None, ref, parsed
        image = None
    if image is not None and image.config_missing and pull and image.name:
        image = _refetch_config(paths, store, image, options, say)
    if image is not None:
        return require_config(image, _name_for(image, ref)), _name_for(image, ref), parsed
    from ..images.pull import pull_image

    image = pull_image(paths, store, parsed or ref, options or PullOptions(), say)
    return require_config(image, _name_for(image, ref)), _name_for(image, ref), parsed


def _stored_short_name(store: Store, parsed: ImageRef | None) -> Image | None:
    """A short name's candidates (registries.conf aliases and search registries, in order)
    looked up in the store, as a pull would qualify it (docs/operations.md, "Short names")."""
    for name in stored_candidates(parsed) if parsed is not None else ():
        image = store.find(name)
        if image is not None:
            return image
    return None


def _refetch_config(paths: Paths, store: Store, image: Image, options: PullOptions | None,
                    say: Callable[[str], None]) -> Image:
    """atomic's `images prune` deletes the config refs of tagged images: pull the image's name
    again (only the config is fetched: its layers are stored) rather than treat its labels as
    empty (docs/formats.md, "Refs"). A source that cannot be reached leaves the error."""
    from ..images.pull import pull_image

    say(f"the config of image {image.name} is missing from the store; pulling it again")
    try:
        return pull_image(paths, store, _parse(image.name) or image.name,
                          replace(options or PullOptions(), update=True), say)
    except SysContainersError as e:
        raise StoreError(f"the config blob of image {image.name} is missing from the store "
                         f"and fetching it again failed: {e}") from None


def require_config(image: Image, name: str) -> Image:
    """``image``, unless the store lacks its config blob: its labels (``atomic.run``), Cmd and
    Env are unknown then, and a verb acting on them would guess (docs/formats.md, "Refs")."""
    if image.config_missing:
        raise StoreError(f"the config blob of image {name} is missing from the store (atomic's "
                         f"`images prune` removes it): run `syscontainers pull {name}` to fetch it again")
    return image


def _name_for(image: Image, ref: str) -> str:
    return image.name or ref


# --- the access record ---------------------------------------------------------------------

@dataclass(frozen=True)
class Access:
    """How an image is reached. ``tls_verify`` and ``credentials`` only mean something for
    registries (``docker`` transport); ``credentials`` is where they came from: "src-creds"
    (given on the command line: needed again), "auth-file" (the containers auth file had the
    registry), or None. ``signature_policy`` is the --signature-policy FILE the image was
    verified with (an absolute path; None: the host's policy). ``auth_file`` / ``cert_dir``:
    the --authfile / --cert-dir given (absolute paths: update reads them again)."""

    reference: str
    transport: str
    tls_verify: bool | None = None
    credentials: str | None = None
    signature_policy: str | None = None
    auth_file: str | None = None
    cert_dir: str | None = None

    def info_fields(self) -> dict:
        """The info file's keys (InstallInfo field names)."""
        return {"source": self.reference, "source_transport": self.transport,
                "source_tls_verify": self.tls_verify, "source_credentials": self.credentials,
                "source_signature_policy": self.signature_policy,
                "source_auth_file": self.auth_file, "source_cert_dir": self.cert_dir}

    @classmethod
    def from_info(cls, info) -> "Access":
        """The record of an installed container; one installed before records were kept (or
        by atomic) is reached by its image name, as atomic did."""
        if info.source:
            return cls(info.source, info.source_transport or "docker",
                       info.source_tls_verify, info.source_credentials,
                       info.source_signature_policy, info.source_auth_file, info.source_cert_dir)
        return access_for(info.image, info.image)

    def parsed(self) -> ImageRef:
        return parse_reference(self.reference)

    def pull_options(self, creds=None, update: bool = False,
                     signature_policy: str | None = None, files: "RegistryFiles | None" = None
                     ) -> PullOptions:
        """``signature_policy`` and ``files`` (given again) win over the recorded ones."""
        files = files or RegistryFiles()
        return PullOptions(update=update, tls_verify=self.tls_verify is not False, creds=creds,
                           signature_policy=signature_policy or self.signature_policy,
                           auth_file=files.auth_file or self.auth_file,
                           cert_dir=files.cert_dir or self.cert_dir)


@dataclass(frozen=True)
class RegistryFiles:
    """``--authfile FILE`` and ``--cert-dir DIR`` of a pulling verb (docs/operations.md,
    "Registry credentials"): recorded with the container, so its updates use them again."""

    auth_file: str | None = None
    cert_dir: str | None = None

    def absolute(self) -> "RegistryFiles":
        return RegistryFiles(*(str(Path(p).absolute()) if p else None
                               for p in (self.auth_file, self.cert_dir)))


def access_for(ref_text: str, image_name: str, tls_verify: bool = True,
               creds_given: bool = False, signature_policy: str | None = None,
               files: RegistryFiles | None = None) -> Access:
    """The access record of an image named ``ref_text`` by the operator and stored as
    ``image_name``. A text that named the image in the store (an ID prefix, another name) is
    no way to reach its source: the image name is recorded then."""
    policy = policy_path(signature_policy)
    ref = _parse(ref_text)
    if ref is not None and ref.short_name:
        ref = None      # what registries.conf made of it: the qualified name is recorded
    registry_name = open_source(ref).registry_name() if ref is not None else None
    if ref is None or (registry_name is not None and registry_name != image_name):
        ref_text, ref = image_name, _parse(image_name)
        if ref is None:
            return Access(image_name, "docker", True, None, policy)
    source = open_source(ref)
    reach = source.reach(tls_verify, creds_given)
    files = (files or RegistryFiles()).absolute()
    credentials = reach.credentials
    if files.auth_file and credentials is None and source.registry_name() is not None:
        credentials = "auth-file"             # --authfile FILE: the file is recorded too
    return Access(ref_text, ref.transport, reach.tls_verify, credentials, policy,
                  files.auth_file, files.cert_dir)


def policy_path(given: str | None) -> str | None:
    """A --signature-policy FILE as the access record keeps it: absolute (update may run
    from another directory)."""
    return str(Path(given).absolute()) if given else None


def _parse(text: str) -> ImageRef | None:
    try:
        return parse_reference(text)
    except SysContainersError:
        return None


# --- asking the source ---------------------------------------------------------------------

def ask_source(access: Access, creds=None, files: RegistryFiles | None = None) -> Manifest:
    """The manifest the source serves now (manifest only: no blob is fetched, nothing is
    written but a temporary auth file for ``creds``). Any failure is SourceUnavailable."""
    try:
        ref = access.parsed()
        with tempfile.TemporaryDirectory(prefix="syscontainers-check-") as work:
            files = files or RegistryFiles()
            source = open_source(ref, SourceOptions(
                tls_verify=access.tls_verify is not False, creds=creds,
                daemon_host=os.environ.get("DOCKER_HOST") or None,
                auth_file=files.auth_file or access.auth_file,
                cert_dir=files.cert_dir or access.cert_dir), Path(work))
            source.stored_name()          # a file source's file must exist
            return source.manifest()
    except SysContainersError as e:
        hint = ""
        if access.credentials == "src-creds" and creds is None:
            hint = (" (it was installed with --src-creds: give them again with --src-creds "
                    "USER, or log in to the containers auth file)")
        raise SourceUnavailable(f"{e}{hint}") from None


# Sources asked at once by update --all and update --check --all (docs/operations.md,
# "Updates: what is checked, --check, --offline, exit codes"): each ask is one skopeo process
# waiting on the network, so a few at a time cut the wait without flooding a registry.
ASK_AT_ONCE = 8

AskKey = tuple[Access, "tuple[str, str] | None", RegistryFiles]


@dataclass(frozen=True)
class Answers:
    """Manifests asked ahead for many containers, each source once: ``ask`` gives the answer
    (or raises its SourceUnavailable) of a source asked ahead, and asks any other itself."""

    found: dict = field(default_factory=dict)   # AskKey -> Manifest | SourceUnavailable

    def ask(self, access: Access, creds=None, files: RegistryFiles | None = None) -> Manifest:
        answer = self.found.get((access, creds, files or RegistryFiles()))
        if answer is None:
            return ask_source(access, creds, files)
        if isinstance(answer, SourceUnavailable):
            raise SourceUnavailable(answer.message) from None
        return answer


def ask_sources(asks: list[AskKey], at_once: int = ASK_AT_ONCE) -> Answers:
    """Ask every distinct source of ``asks`` (access record, --src-creds, --authfile/--cert-dir)
    for its manifest, ``at_once`` at a time; one that cannot be asked is its own answer (a
    SourceUnavailable), never the end of the others."""
    unique = list(dict.fromkeys(asks))
    if not unique:
        return Answers()

    def one(key: AskKey) -> Manifest | SourceUnavailable:
        try:
            return ask_source(*key)
        except SourceUnavailable as e:
            return e

    with ThreadPoolExecutor(max_workers=min(at_once, len(unique))) as pool:
        return Answers(dict(zip(unique, pool.map(one, unique))))


def content(image: Image) -> tuple:
    """What "the same image" means: the config digest and the layer digests; a manifest
    re-encoded around the same config and layers is the same image. Schema 1 manifests have
    no config digest: their manifest digest stands for the content."""
    cfg = config_digest(image.manifest)
    return (cfg or image.digest, tuple(layer.digest for layer in image.layers))


def manifest_content(manifest: Manifest) -> tuple:
    return manifest.content()


def available_id(manifest: Manifest) -> str:
    return manifest.digest.split(":", 1)[1]


def delete_images(paths: Paths, store: Store, texts: list[str], force: bool = False) -> list[str]:
    """``images delete``: every name (or unique ID prefix) resolved first, so a bad one
    deletes nothing; an image an installed container uses is refused unless ``force``
    (docs/operations.md, "Checks on what the operator asks"). Returns what was deleted.
    The caller holds the host lock."""
    from dataclasses import replace

    from ..deploy.deployment import image_users, in_use_image_ids

    targets: dict[str, Image] = {}
    for text in texts:
        for image in store.resolve_all(text):
            known = targets.get(image.id)
            names = known.names + tuple(n for n in image.names if n not in known.names) \
                if known else image.names
            targets[image.id] = replace(image, names=names)
    if not force:
        all_names = {i.id: i.names for i in store.images()}
        users = image_users(paths)
        for image in targets.values():
            _refuse_if_used(image, all_names.get(image.id, ()), users)
    in_use = in_use_image_ids(paths)
    deleted = []
    for image in targets.values():
        deleted += store.delete(image, in_use) or [image.id]
    return deleted


def _refuse_if_used(image: Image, all_names: tuple[str, ...], users) -> None:
    """An image is in use when a deployment's info names its ID or commit. Removing one of
    several names is fine, unless a container was installed under that name (update asks
    for it again); removing the last name (or deleting by ID) is refused."""
    using = [u for u in users if image.id in (u.image_id, u.commit) or u.commit == image.commit]
    if not using:
        return
    left = [n for n in all_names if n not in image.names]
    if left and not any(u.image_name in image.names for u in using):
        return
    label = ", ".join(image.names) or image.id[:12]
    who = ", ".join(f"{u.name} ({u.name}.{u.index})" for u in using)
    raise ImageInUse(f"image {label} ({image.id[:12]}) is used by the installed container(s) "
                     f"{who}: uninstall (or update --rebase) them first, or use --force")
