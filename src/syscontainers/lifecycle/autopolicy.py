"""The auto-update policy of a container (docs/operations.md "Unattended updates
(auto-update)"): ``registry`` (ask the recorded source for a newer image), ``local`` (a newer
image stored under the container's image name; no source is asked) or ``off``.

It is stored with the container (info key ``auto-update``, docs/formats.md). install takes it
from ``--auto-update``, else from the image label ``io.containers.autoupdate`` (read once, at
install, as podman reads it when a container is created); update keeps the stored one unless
``--auto-update`` is given (a new image's label is not read again: the operator's choice, or
the label as it was at install, stays).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from ..deploy import deployment as dl
from ..errors import UsageError
from ..fileops import write_atomic

POLICIES = ("registry", "local", "off")
LABEL = "io.containers.autoupdate"
# podman's older name for "registry"
_LABEL_ALIASES = {"image": "registry"}


def check_policy(text: str) -> str:
    """``--auto-update`` as given: one of POLICIES."""
    if text not in POLICIES:
        raise UsageError(f"--auto-update={text}: use one of {', '.join(POLICIES)}")
    return text


def policy_at_install(flag: str | None, labels: dict, say: Callable[[str], None]) -> str:
    """The flag, else the image's label, else off. A label with another value is the image
    author's mistake, not the operator's: a warning, and the container is installed with
    ``off``."""
    if flag is not None:
        return check_policy(flag)
    label = labels.get(LABEL)
    if label is None:
        return "off"
    value = _LABEL_ALIASES.get(label.strip().lower(), label.strip().lower())
    if value in POLICIES:
        return value
    say(f"warning: the image label {LABEL}={label!r} is not one of "
        f"{', '.join(POLICIES)}: auto-update is off (--auto-update sets it)")
    return "off"


def policy_of(info: dl.InstallInfo) -> str:
    """The stored policy; a deployment made before the policy existed has none: off."""
    return info.auto_update if info.auto_update in POLICIES else "off"


def store_policy(cur: dl.Deployment, policy: str | None, say: Callable[[str], None]) -> bool:
    """``update NAME --auto-update=X`` with nothing else to update: the policy is a setting
    of the container, not of what it runs, so it is written into the live deployment's info
    without redeploying (as ``--allow`` is, update.py ``_store_allowance``). Caller holds
    the host lock. Returns False when ``policy`` is None or already the stored one."""
    if policy is None:
        return False
    info = cur.read_info()
    if policy_of(info) == policy and info.auto_update is not None:
        return False
    write_atomic(cur.info_path, replace(info, auto_update=policy).to_json(),
                 mode=dl.PRIVATE_FILE_MODE, sync_dir=True)
    say(f"auto-update of {cur.name} is {policy} (stored; the container was not redeployed)")
    return True
