"""The OCI runtime config (config.json): default spec, checks, user-namespace rewrite
(docs/templates.md; docs/operations.md, "User mode").

All functions are pure over the parsed config (a dict) except :func:`default_spec` (runs the
runtime) and the two that look at the host (:func:`missing_bind_sources`,
:func:`read_subid_range`). Rewrites return a new dict and never change their argument.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import safejson
from ..errors import ConfigError
from ..proc import run

# Namespaces that, all private, let a container mount its own sysfs (atomic's rule).
_ALL_NAMESPACES = frozenset({"pid", "uts", "network", "mount", "ipc", "user"})

# /sys for a user-namespaced container that cannot mount sysfs itself: the host's, read-only.
_SYS_BIND = {
    "destination": "/sys",
    "type": "bind",
    "source": "/sys",
    "options": ["rbind", "nosuid", "noexec", "nodev", "ro"],
}


@dataclass(frozen=True)
class ImageProcess:
    """What the image's own config runs (Entrypoint + Cmd, Env, WorkingDir, User with names
    resolved through the image's /etc/passwd and /etc/group): the process of the default
    config.json of an image that ships none (docs/templates.md, "Images without exports")."""

    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    cwd: str = "/"
    uid: int = 0
    gid: int = 0


def image_process(config: dict, passwd: str | None, group: str | None,
                  label: str) -> ImageProcess:
    """``config``: the image config blob's ``config`` section. ConfigError for a User the
    image's /etc/passwd (or /etc/group) does not know."""
    args = tuple(str(a) for a in (config.get("Entrypoint") or []) + (config.get("Cmd") or []))
    env = tuple(str(e) for e in config.get("Env") or [] if "=" in str(e))
    uid, gid = _image_user(str(config.get("User") or ""), passwd or "", group or "", label)
    return ImageProcess(args, env, str(config.get("WorkingDir") or "/"), uid, gid)


def _id_file(text: str) -> list[list[str]]:
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def _image_user(user: str, passwd: str, group: str, label: str) -> tuple[int, int]:
    """Docker's rules: "", "uid", "name", "uid:gid", "name:group"; without a group, the
    user's primary group from /etc/passwd, else 0."""
    if not user:
        return 0, 0
    name, _, grp = user.partition(":")
    entry = next((e for e in _id_file(passwd) if len(e) >= 4 and
                  (e[0] == name or (name.isdigit() and e[2] == name))), None)
    if name.isdigit():
        uid = int(name)
    elif entry is not None and entry[2].isdigit():
        uid = int(entry[2])
    else:
        raise ConfigError(f"image {label} runs as user {name!r}, which its /etc/passwd does "
                          "not list; ship an exports/config.json.template")
    gid = int(entry[3]) if entry is not None and entry[3].isdigit() else 0
    if grp.isdigit():
        gid = int(grp)
    elif grp:
        found = next((e for e in _id_file(group) if len(e) >= 3 and e[0] == grp and e[2].isdigit()), None)
        if found is None:
            raise ConfigError(f"image {label} runs as group {grp!r}, which its /etc/group "
                              "does not list; ship an exports/config.json.template")
        gid = int(found[2])
    return uid, gid


def default_spec(runtime_path: str, process: ImageProcess | None = None) -> dict:
    """The config used when an image ships neither config.json nor its template.

    ``RUNTIME spec --rootless`` (in a temporary directory), then root.readonly=true,
    root.path="rootfs", terminal=false, and the image's own process (``process``): its
    Entrypoint + Cmd (``run.sh`` when it has neither, as atomic), Env (over the spec's),
    WorkingDir and User. The caller warns the operator that they may want exports.
    CommandError when the runtime cannot produce a spec.
    """
    with tempfile.TemporaryDirectory(prefix="syscontainers-spec-") as tmp:
        run([runtime_path, "spec", "--rootless"], cwd=tmp,
            what=f"{runtime_path} spec (default config.json)")
        with open(os.path.join(tmp, "config.json"), encoding="utf-8") as f:
            cfg = json.load(f)
    cfg.setdefault("root", {}).update({"readonly": True, "path": "rootfs"})
    process = process or ImageProcess()
    spec_process = cfg.setdefault("process", {})
    spec_process.update({"terminal": False, "args": list(process.args) or ["run.sh"],
                         "cwd": process.cwd, "env": _merged_env(spec_process.get("env") or [],
                                                                process.env),
                         "user": {"uid": process.uid, "gid": process.gid}})
    _map_own_ids(cfg, process.uid, process.gid)
    return cfg


def _merged_env(base: list[str], image: tuple[str, ...]) -> list[str]:
    """The spec's environment with the image's variables over it (by name)."""
    merged = {e.partition("=")[0]: e for e in base}
    merged.update({e.partition("=")[0]: e for e in image})
    return list(merged.values())


def _map_own_ids(cfg: dict, uid: int, gid: int) -> None:
    """The rootless spec maps only id 0 into its user namespace: a process running as
    another uid/gid could not even start. Map that id to the same host id (system mode;
    user mode replaces the mappings with the user's own, rewrite_for_user_namespace)."""
    linux = cfg.get("linux") or {}
    for key, ident in (("uidMappings", uid), ("gidMappings", gid)):
        maps = linux.get(key)
        if ident == 0 or not isinstance(maps, list):
            continue
        if not any(m.get("containerID", 0) <= ident < m.get("containerID", 0) + m.get("size", 0)
                   for m in maps):
            maps.append({"containerID": ident, "hostID": ident, "size": 1})


def parse_config(text: str, what: str) -> dict:
    """Parse a config.json text; ConfigError naming ``what`` and the bad line when invalid."""
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError as e:
        lines = text.splitlines()
        bad = lines[e.lineno - 1].strip()[:80] if 0 < e.lineno <= len(lines) else ""
        raise ConfigError(
            f"{what} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}"
            + (f" ({bad})" if bad else "")) from None
    except (RecursionError, ValueError):
        cfg = safejson.loads(text, what)       # the same failure, as one line naming it
    problem = safejson.check_value(cfg)
    if problem:
        raise ConfigError(f"invalid JSON in {what}: {problem}")
    if not isinstance(cfg, dict):
        raise ConfigError(f"{what} is not valid: a JSON object is expected")
    return cfg


def validate_config(cfg: dict, remote: bool, run_once: bool = False,
                    what: str = "config.json") -> None:
    """The checks of docs/templates.md, "What is validated". ``{}`` is accepted as an empty
    config (atomic compatibility).

    root.readonly must be true (not for run-once, as in atomic) and root.path "rootfs"
    (unless the rootfs is remote, then it is the remote path).
    """
    if not cfg:
        return
    root = cfg.get("root")
    if not isinstance(root, dict):
        raise ConfigError(f"Invalid {what}: no root. Only readonly images are supported")
    if not run_once and root.get("readonly") is not True:
        raise ConfigError(f"Invalid {what}: Only readonly images are supported")
    if not remote and root.get("path") != "rootfs":
        raise ConfigError(f"Invalid {what}: root.path must be 'rootfs'")
    # The shapes the rewrites and the tmpfiles generation rely on.
    mounts = cfg.get("mounts", [])
    if not isinstance(mounts, list) or not all(isinstance(m, dict) for m in mounts):
        raise ConfigError(f"Invalid {what}: mounts must be a list of objects")
    linux = cfg.get("linux", {})
    namespaces = linux.get("namespaces", []) if isinstance(linux, dict) else None
    if not isinstance(namespaces, list) or not all(isinstance(n, dict) for n in namespaces):
        raise ConfigError(f"Invalid {what}: linux.namespaces must be a list of objects")
    problem = _type_problem(cfg)
    if problem:
        raise ConfigError(f"Invalid {what}: {problem}")


def _strings(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _type_problem(cfg: dict) -> str | None:
    """The first field whose JSON type the OCI runtime spec (and list, exec, the user-namespace
    rewrite) cannot use, as "FIELD must be ..."; None when every checked field is fine. A bad
    type caught here is one line at install instead of a crash of every later list/status
    (docs/operations.md, "Errors and broken state")."""
    process = cfg.get("process", {})
    if not isinstance(process, dict):
        return "process must be an object"
    for key in ("args", "env"):
        if key in process and not _strings(process[key]):
            return f"process.{key} must be a list of strings"
    if not isinstance(process.get("cwd", ""), str):
        return "process.cwd must be a string"
    if not isinstance(process.get("terminal", False), bool):
        return "process.terminal must be true or false"
    if "hostname" in cfg and not isinstance(cfg["hostname"], str):
        return "hostname must be a string"
    for i, mount in enumerate(cfg.get("mounts") or []):
        for key in ("destination", "source", "type"):
            if key in mount and not isinstance(mount[key], str):
                return f"mounts[{i}].{key} must be a string"
        if "options" in mount and not _strings(mount["options"]):
            return f"mounts[{i}].options must be a list of strings"
    for i, ns in enumerate((cfg.get("linux") or {}).get("namespaces") or []):
        for key in ("type", "path"):
            if key in ns and not isinstance(ns[key], str):
                return f"linux.namespaces[{i}].{key} must be a string"
    return None


def _is_under(path: str, top: str) -> bool:
    """``path`` is ``top`` or below it (path components, so /sysroot is not under /sys)."""
    path = os.path.normpath(path) if path else ""
    return path == top or path.startswith(top + "/")


def _is_bind(mount: dict) -> bool:
    options = mount.get("options") or []
    return mount.get("type") in ("bind", "rbind") or "bind" in options or "rbind" in options


def missing_bind_sources(cfg: dict, root: Path = Path("/")) -> list[str]:
    """Absolute bind-mount sources absent on the host, in config order, without duplicates.

    ``root`` is where the host's ``/`` is (tests use a temporary directory). Relative sources
    (relative to the bundle) are the image's business and are not listed.
    """
    missing: list[str] = []
    for mount in cfg.get("mounts") or []:
        if not isinstance(mount, dict) or not _is_bind(mount):
            continue
        source = mount.get("source")
        if not isinstance(source, str) or not source.startswith("/") or source in missing:
            continue
        if not os.path.exists(os.path.join(root, source.lstrip("/"))):
            missing.append(source)
    return missing


def read_subid_range(path: str | Path, username: str, uid: int) -> tuple[int, int] | None:
    """The first ``start, count`` for ``username`` (or its numeric id) in /etc/subuid-like files.

    None when the file or the entry is absent, or the entry is malformed. Only the first range
    is used: container ids 1.. map to one contiguous host range.
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return None
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) != 3 or parts[0] not in (username, str(uid)):
            continue
        try:
            start, count = int(parts[1]), int(parts[2])
        except ValueError:
            continue
        if start >= 0 and count > 0:
            return start, count
    return None


def _id_mappings(host_id: int, extra: tuple[int, int] | None) -> list[dict]:
    maps = [{"containerID": 0, "hostID": host_id, "size": 1}]
    if extra:
        maps.append({"containerID": 1, "hostID": extra[0], "size": extra[1]})
    return maps


def rewrite_for_user_namespace(cfg: dict, uid: int, gid: int,
                               subuid: tuple[int, int] | None,
                               subgid: tuple[int, int] | None) -> dict:
    """The config rewritten for an unprivileged user (docs/operations.md, "User mode");
    ``{}`` stays ``{}``.

    User namespace added, network namespace dropped (an unprivileged user cannot configure
    one), every /sys mount replaced by a read-only bind of the host's /sys unless all of
    pid/uts/network/mount/ipc/user are private (never the case once network is dropped, kept
    general on purpose), nodev+nosuid added on every mount not under /dev, device cgroup rules
    dropped (a user cannot set them), and uid/gid mappings set: container 0 -> ``uid``/``gid``,
    container 1.. -> the subuid/subgid range when given. The image's own mappings are replaced:
    only these can be set up by an unprivileged user.
    """
    if not cfg:
        return {}
    out = copy.deepcopy(cfg)
    linux = out.setdefault("linux", {})
    namespaces = [ns for ns in linux.get("namespaces") or [] if ns.get("type") != "network"]
    if not any(ns.get("type") == "user" for ns in namespaces):
        namespaces.append({"type": "user"})
    linux["namespaces"] = namespaces
    private = {ns.get("type") for ns in namespaces if not ns.get("path")}
    replace_sys = not _ALL_NAMESPACES <= private

    mounts = []
    for mount in out.get("mounts") or []:
        dest = mount.get("destination", "")
        if replace_sys and _is_under(dest, "/sys"):
            continue
        if not _is_under(dest, "/dev"):
            options = mount.setdefault("options", [])
            options.extend(opt for opt in ("nodev", "nosuid") if opt not in options)
        mounts.append(mount)
    if replace_sys:
        mounts.append(copy.deepcopy(_SYS_BIND))
    out["mounts"] = mounts

    resources = linux.get("resources")
    if isinstance(resources, dict):
        resources.pop("devices", None)
    linux["uidMappings"] = _id_mappings(uid, subuid)
    linux["gidMappings"] = _id_mappings(gid, subgid)
    return out


def with_root_path(cfg: dict, root_path: str) -> dict:
    """A copy of ``cfg`` whose root.path is ``root_path`` (remote rootfs)."""
    if not cfg:
        return {}
    out = copy.deepcopy(cfg)
    out.setdefault("root", {})["path"] = root_path
    return out
