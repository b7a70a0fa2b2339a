"""The fields of an info file (``NAME.N/info``, atomic's format: docs/formats.md) as every
reader relies on them, with nothing imported but the error: InstallInfo is built from them
(deploy/deployment.py), and so is the row of a plain ``status NAME`` before any other module
of ours loads (lifecycle/quickstatus.py)."""

from __future__ import annotations

from ..errors import ConfigError

_OPTIONAL_STR = (str, type(None))
# Each field's types (a hand-edited info file may hold anything); one entry per InstallInfo
# field (tests/unit/test_deployment.py).
INFO_TYPES = {
    "image": (str,), "revision": (str,), "ostree_commit": (str,), "created": (int, float),
    "values": (dict,), "has_container_service": (bool,), "installed_files": (list,),
    "installed_files_checksum": (dict,), "installed_files_template": (list,),
    "rename_installed_files": (dict,), "rpm_installed": _OPTIONAL_STR,
    "system_package": (str,), "remote": _OPTIONAL_STR, "use_links": (bool,), "runtime": (str,),
    "source": _OPTIONAL_STR, "source_transport": _OPTIONAL_STR,
    "source_tls_verify": (bool, type(None)), "source_credentials": _OPTIONAL_STR,
    "source_signature_policy": _OPTIONAL_STR, "source_auth_file": _OPTIONAL_STR,
    "source_cert_dir": _OPTIONAL_STR,
    "secret_values": (list,), "allowed_privileges": (list, type(None)),
    "config_checksum": _OPTIONAL_STR, "pinned": (bool,), "pinned_reason": _OPTIONAL_STR,
    "auto_update": _OPTIONAL_STR,
    "health_check": (dict, type(None)), "image_health_check": (dict, type(None)),
}
_KNOWN = {name.replace("_", "-"): name for name in INFO_TYPES}


def info_fields(raw: object, where: str) -> dict:
    """The known fields of a parsed info file by their InstallInfo names (unknown keys are
    dropped, the four every info file has get their defaults); ConfigError when it is not
    an object or a field has the wrong type."""
    if not isinstance(raw, dict):
        raise ConfigError(f"invalid info file {where}: not a JSON object")
    data = {_KNOWN[k]: v for k, v in raw.items() if k in _KNOWN}
    data.setdefault("image", "")
    data.setdefault("revision", "")
    data.setdefault("ostree_commit", "")
    data.setdefault("created", 0)
    data.setdefault("values", {})
    if data.get("system_package") in (None, False):
        data["system_package"] = "no"
    for key, value in data.items():
        types = INFO_TYPES[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise ConfigError(f"invalid info file {where}: {key.replace('_', '-')} has the "
                              f"wrong type ({type(value).__name__})")
    return data
