"""``inspect NAME``: everything recorded about an installed container, as data (docs/json.md,
"inspect"): its values (secrets masked), the active and rollback deployments, how its image
is reached, what it was allowed, its service state, pin and drift."""

from __future__ import annotations

from ..deploy import deployment as dl
from ..deploy.values import mask_values
from ..errors import ContainerNotFound, SysContainersError
from ..paths import Paths
from .autopolicy import policy_of
from .health import effective_check
from .query import container, iso_time  # noqa: F401  (iso_time: here for its callers)


def _deployment(dep: dl.Deployment) -> dict | None:
    if not dep.exists():
        return None
    try:
        info = dep.read_info()
    except SysContainersError as e:
        return {"index": dep.index, "path": str(dep.path), "broken": str(e)}
    return {"index": dep.index, "path": str(dep.path), "image": info.image,
            "image_id": info.revision, "created": iso_time(info.created), "runtime": info.runtime}


def inspect_container(paths: Paths, name: str) -> dict:
    dl.validate_name(name)
    dep = dl.current(paths, name)
    if dep is None:
        raise ContainerNotFound(f"container {name} is not installed")
    row = container(paths, name, with_health=True)
    info = dep.read_info()
    return {
        "name": name, "image": info.image, "image_id": info.revision,
        "status": row.status, "restarts": row.restarts, "drifted": row.drifted,
        "pinned": info.pinned, "pinned_reason": info.pinned_reason,
        "values": mask_values(info.values, info.secret_values),
        "secret_values": list(info.secret_values),
        "active": _deployment(dep), "rollback": _deployment(dl.other(paths, dep)),
        "source": {"reference": info.source, "transport": info.source_transport,
                   "tls_verify": info.source_tls_verify, "credentials": info.source_credentials,
                   "signature_policy": info.source_signature_policy},
        "allowed_privileges": info.allowed_privileges,
        "unit": str(paths.unit_file(name)),
        "tmpfiles": str(paths.tmpfiles_file(name)) if dep.tmpfiles_copy.exists() else None,
        "host_files": sorted(info.installed_files_checksum),
        "system_package": info.rpm_installed,
        "has_container_service": info.has_container_service,
        "auto_update": policy_of(info),
        "health_check": check.as_json() if (check := effective_check(info)) else None,
        "health": row.health,
    }
