"""skopeo's failures as one line for the operator.

skopeo reports through logrus (``level=fatal msg="..."``) with the containers/image error
chain; the operator needs the last cause and, where it is obvious, the fix (docs/operations.md,
"Checks on what the operator asks"). Every source family raises through :func:`skopeo_error`.
"""

from __future__ import annotations

import re

from ...errors import BadImage, PolicyRejected, SysContainersError, TransportError

_MSG_RE = re.compile(r'level=(?:fatal|error) msg="((?:[^"\\]|\\.)*)"')
_PREFIXES = (r'Error parsing image name "[^"]*": ', r"Error initializing source [^:]*: ",
             r"initializing source [^:]*: ", r"Error reading manifest [^ ]* in [^:]*: ",
             r"reading manifest [^ ]* in [^:]*: ", r"trying to reuse blob [^:]*: ")


def _clean(stderr: str) -> str:
    found = _MSG_RE.findall(stderr)
    if found:
        msg = found[-1].encode().decode("unicode_escape", "replace")
    else:
        lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
        msg = lines[-1] if lines else "skopeo failed"
    for prefix in _PREFIXES:
        msg = re.sub(rf"^{prefix}", "", msg)
    return msg


def skopeo_error(stderr: str, what: str, docker_name: str = "") -> SysContainersError:
    """One line for the operator from skopeo's stderr (``what``: the reference as given)."""
    msg = _clean(stderr)
    m = re.search(r"dial tcp: lookup (\S+?)(?: on \S+)?: (no such host|[^:]+)$", msg) or \
        re.search(r"dial tcp (\S+?): (?:connect: )?(connection refused|i/o timeout|"
                  r"network is unreachable|no route to host)", msg)
    if m:
        return TransportError(f"cannot reach registry {m.group(1)}: {m.group(2)}")
    if "server gave HTTP response to HTTPS client" in msg:
        return TransportError(f"registry {_host_in(msg) or ''} speaks plain HTTP: pull "
                              f"http:{docker_name or what} or use --tls-verify=false")
    if re.search(r"unauthorized|authentication required|denied|401", msg):
        return TransportError(f"access to {what} denied by the registry: check the credentials "
                              f"(--src-creds, or the containers auth file)")
    if re.search(r"manifest unknown|name unknown|not found: manifest|404", msg):
        return TransportError(f"image {what} not found in the registry")
    if "Cannot connect to the Docker daemon" in msg:
        return TransportError(f"cannot reach the docker daemon for {what} (set DOCKER_HOST): {msg}")
    if "no descriptor found for reference" in msg:
        return TransportError(f"{what}: no image with that name in the OCI layout")
    if re.search(r"x509:|certificate", msg):
        return TransportError(f"TLS error for {what}: {msg} (use --tls-verify=false for a test registry)")
    m = re.search(r"[Dd]igest did not match, expected (\S+), got (\S+)", msg)
    if m:
        return BadImage(f"corrupted blob in {what}: content of {m.group(1)} has digest {m.group(2)}")
    if "no such file or directory" in msg:
        path = re.search(r"(?:open|l?stat) ([^:]+): no such file", msg)
        return TransportError(f"{path.group(1) if path else what}: no such file or directory")
    if re.search(r"invalid tar header|unexpected EOF|invalid character|unmarshal", msg):
        return BadImage(f"malformed image {what}: {msg}")
    return TransportError(f"cannot fetch {what}: {msg}")


def _host_in(msg: str) -> str | None:
    m = re.search(r"registry ([^\s:]+(?::\d+)?)", msg)
    return m.group(1) if m else None


_REJECTED = "Source image rejected: "
# containers/image's reasons, as the operator reads them (anything else: skopeo's text)
_REASONS = ((r"A signature was required, but no signature exists", "it is not signed"),
            (r"Signature for identity (\S+) is not accepted",
             r"its signature is for \1, not for this reference"),
            (r"Running image \S+ is rejected by policy\.?", "the policy rejects every image "
             "from this source"),
            (r'Invalid GPG signature: .*Fingerprint:"([0-9A-Fa-f]+)".*',
             r"it is signed by key \1, which the policy does not trust"),
            (r"Invalid GPG signature: .*", "no signature by a key the policy trusts"),
            (r"None of the signatures were accepted, reasons: (.*)", r"no signature accepted: \1"))


def policy_error(stderr: str, what: str, policy: str, docker_name: str = "") -> SysContainersError:
    """One line for a rejection by the trust policy ``policy`` (a path); other failures of
    the verifying copy are :func:`skopeo_error`'s."""
    msg = _clean(stderr)
    if _REJECTED not in msg:
        m = re.search(r"trust policy: (?:invalid policy in \"[^\"]*\": )?(.*)", msg)
        if m:
            return TransportError(f"invalid trust policy {policy}: {m.group(1)}")
        return skopeo_error(stderr, what, docker_name)
    reason = msg.split(_REJECTED, 1)[1].strip()
    for pattern, text in _REASONS:
        if re.fullmatch(pattern, reason):
            reason = re.sub(pattern, text, reason)
            break
    return PolicyRejected(f"image {what} rejected by the trust policy {policy}: {reason}")
