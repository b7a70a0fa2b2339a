"""One exception hierarchy. Each error carries the one line the user sees.

The CLI prints ``str(error)`` on stderr and exits with ``error.exit_code``; nothing else of
an error reaches the user, so the message must say what is wrong (and the fix, when obvious).
"""


class SysContainersError(Exception):
    """Base class: an expected failure with a message for the operator."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(SysContainersError):
    """The command line is wrong (bad flag combination, bad NAME=VALUE ...)."""

    exit_code = 2


class ReferenceError_(SysContainersError):
    """An image reference cannot be parsed or uses an unknown transport."""


class ImageNotFound(SysContainersError):
    """No image in the store matches a name or ID prefix."""


class AmbiguousImage(SysContainersError):
    """An ID prefix matches more than one image."""


class ImageInUse(SysContainersError):
    """An installed container uses the image an operator asked to delete."""


class TransportError(SysContainersError):
    """skopeo could not fetch the image (network, credentials, missing file ...)."""


class BadImage(SysContainersError):
    """The image content is malformed or hostile (manifest, digest, layer entries)."""


class StoreError(SysContainersError):
    """libostree refused an operation on the repository."""


class ContainerNotFound(SysContainersError):
    """No installed container of that name."""


class ContainerExists(SysContainersError):
    """A container, unit or tmpfiles file of that name is already there."""


class TemplateError(SysContainersError):
    """A template cannot be rendered (missing variable, bad value)."""


class ConfigError(SysContainersError):
    """A config file (ours or the image's config.json / manifest.json) is invalid."""


class UnreadableInfo(ConfigError):
    """A deployment's info file exists but this user may not read it (another user's
    deployment)."""


class RuntimeMissing(SysContainersError):
    """The OCI runtime is not installed."""


class ServiceError(SysContainersError):
    """systemctl / systemd-tmpfiles failed; the message is systemd's."""


class CommandError(SysContainersError):
    """An external command failed; the message holds its stderr's last line."""


class LockBusy(SysContainersError):
    """Another invocation holds the lock too long."""


class PackagingError(SysContainersError):
    """A package cannot be made from this image/container (the message says why)."""


class HostFileError(SysContainersError):
    """Host files could not be installed (nothing was left half-installed)."""


class HostFileConflict(HostFileError):
    """A host path the container would install is not the container's to write."""


class PrivilegeError(SysContainersError):
    """The image asks for privileges the operator did not grant, or the host cannot grant."""


class SourceUnavailable(TransportError):
    """The image's source could not be asked (registry down, TLS, credentials, file gone)."""


class UpdateFailed(SysContainersError):
    """The new version did not start; the previous one was put back (automatic rollback)."""


class PolicyRejected(TransportError):
    """The containers trust policy rejects the image (signature missing, by another key, or
    for another reference); nothing was imported (docs/operations.md, "Signatures and the
    trust policy")."""
