"""The privileges a rendered deployment asks of the host, and which need ``--allow``.

Trust model (docs/operations.md "Trust model and privileges (--allow)"): image layers are
untrusted (layers.py checks them); what an image exports (config.json, hostfs) is semi-trusted —
it is meant to configure a host service, but it must not quietly take the host over; values
given with ``--set`` are the operator's and trusted. So a rendered config and host-file plan
are reviewed here: every privilege beyond a plain contained service is *shown*, and those that
amount to root on the host (code run outside the container, the host's mounts or processes,
writing /, kernel-level capabilities, new setuid programs or services on the host) are
*dangerous*: install and update refuse them unless the operator grants their names with
``--allow``. :func:`review` is a pure function of the config and the plan; :func:`unavailable`
says what this host cannot grant at all (the container would fail at start).
"""

from __future__ import annotations

import os
import posixpath
import shlex
from dataclasses import dataclass
from typing import Iterable, Mapping

from ..errors import PrivilegeError, UsageError
from .hostfiles import HostFile

# --allow names of the dangerous privileges, with what granting them means.
DANGEROUS: Mapping[str, str] = {
    "hooks": "OCI hooks: programs run on the host, outside the container, at start/stop",
    "host-namespaces": "shares the host's pid or mount namespace",
    "rw-root": "mounts the host's / writable",
    "capabilities": "capabilities that reach the host kernel",
    "devices": "access to every host device",
    "setuid": "installs setuid/setgid files on the host",
    "units": "installs services or jobs on the host (systemd units, init scripts, cron)",
}

# Capabilities that act on the host kernel or escape the container's view: each is
# root-equivalent in practice (mounts, modules, raw I/O, tracing, handles to host files ...).
ADMIN_CAPABILITIES = frozenset({
    "CAP_SYS_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_PTRACE", "CAP_SYS_BOOT",
    "CAP_DAC_READ_SEARCH", "CAP_MAC_ADMIN", "CAP_MAC_OVERRIDE", "CAP_BPF",
})
# What runc's default spec grants: not worth showing.
DEFAULT_CAPABILITIES = frozenset({"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"})
_HOOK_KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
               "poststop")
_UNIT_DIRS = ("/etc/systemd", "/usr/lib/systemd", "/lib/systemd", "/run/systemd",
              "/etc/init.d", "/etc/rc.d", "/etc/cron.d", "/etc/cron.hourly", "/etc/cron.daily",
              "/etc/cron.weekly", "/etc/cron.monthly", "/var/spool/cron", "/etc/crontab")


@dataclass(frozen=True, order=True)
class Privilege:
    name: str          # the --allow name (dangerous) or a plain label (shown only)
    detail: str        # what exactly, for the operator
    dangerous: bool    # install/update refuse it without --allow=NAME

    def line(self) -> str:
        return f"{self.name}: {self.detail}" + (" [needs --allow]" if self.dangerous else "")


def parse_allow(items: Iterable[str]) -> frozenset[str]:
    """``--allow a,b --allow c`` → {a, b, c}; an unknown name is an error listing the known."""
    names = {n.strip() for item in items for n in item.split(",") if n.strip()}
    unknown = sorted(names - set(DANGEROUS))
    if unknown:
        raise UsageError(f"unknown --allow name {unknown[0]!r}; known: {', '.join(DANGEROUS)}")
    return frozenset(names)


def review(config: Mapping, host_files: Iterable[HostFile] = ()) -> frozenset[Privilege]:
    """Every privilege the rendered ``config`` (config.json as a dict) and the host-file
    plan ask for (docs/operations.md lists the rules)."""
    config = config if isinstance(config, Mapping) else {}
    found: list[Privilege] = []
    if config:
        found += _hooks(config) + _namespaces(config) + _mounts(config)
        found += _capabilities(config) + _devices(config)
    found += _host_files(list(host_files))
    return frozenset(found)


def not_allowed(privileges: Iterable[Privilege], allowed: Iterable[str]) -> list[Privilege]:
    granted = set(allowed)
    return sorted(p for p in privileges if p.dangerous and p.name not in granted)


def check_allowed(privileges: Iterable[Privilege], allowed: Iterable[str], what: str) -> None:
    """PrivilegeError (one line) naming every dangerous privilege not in ``allowed``."""
    missing = not_allowed(privileges, allowed)
    if missing:
        names = ",".join(dict.fromkeys(p.name for p in missing))
        details = "; ".join(f"{p.name} ({p.detail})" for p in missing)
        raise PrivilegeError(f"{what} asks for privileges not granted: {details}; "
                             f"review them and pass --allow={names} to grant them")


def _mapping(value) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _hooks(config: Mapping) -> list[Privilege]:
    hooks = _mapping(config.get("hooks"))
    paths = [str(_mapping(h).get("path")) for kind in _HOOK_KINDS for h in _list(hooks.get(kind))]
    if not paths:
        return []
    return [Privilege("hooks", "runs as the host's root at start/stop: " + ", ".join(paths), True)]


def _namespaces(config: Mapping) -> list[Privilege]:
    """A namespace is private only when listed without a ``path`` (a path joins an existing
    one, e.g. the host's /proc/1/ns/...)."""
    private = {_mapping(ns).get("type") for ns in _list(_mapping(config.get("linux")).get("namespaces"))
               if not _mapping(ns).get("path")}
    out = []
    shared = [t for t in ("pid", "mount") if t not in private]
    if shared:
        out.append(Privilege("host-namespaces", f"shares the host's {' and '.join(shared)} "
                             "namespace" + ("s" if len(shared) > 1 else ""), True))
    for kind, name in (("network", "host-network"), ("ipc", "host-ipc"), ("uts", "host-uts")):
        if kind not in private:
            out.append(Privilege(name, f"shares the host's {kind} namespace", False))
    return out


def _mounts(config: Mapping) -> list[Privilege]:
    rw, out = [], []
    for m in _list(config.get("mounts")):
        m = _mapping(m)
        options = [str(o) for o in _list(m.get("options"))]
        source = m.get("source")
        if not (m.get("type") == "bind" or "bind" in options or "rbind" in options) \
                or not isinstance(source, str) or not source.startswith("/"):
            continue
        writable = "ro" not in options
        if posixpath.normpath(source) in ("/", "//"):
            out.append(Privilege("rw-root", f"bind-mounts the host's / at {m.get('destination')}"
                                 " writable", True) if writable else
                       Privilege("host-root", f"reads the host's / at {m.get('destination')}",
                                 False))
        elif writable:
            rw.append(source)
    if rw:
        out.append(Privilege("rw-binds", "writes host paths " + ", ".join(rw), False))
    return out


def requested_capabilities(config: Mapping) -> set[str]:
    caps = _mapping(_mapping(config.get("process")).get("capabilities"))
    return {str(c) for kind in ("bounding", "effective", "permitted", "inheritable", "ambient")
            for c in _list(caps.get(kind))}


def _capabilities(config: Mapping) -> list[Privilege]:
    caps = requested_capabilities(config)
    admin = sorted(caps & ADMIN_CAPABILITIES)
    extra = sorted(caps - ADMIN_CAPABILITIES - DEFAULT_CAPABILITIES)
    out = []
    if admin:
        out.append(Privilege("capabilities", " ".join(admin), True))
    if extra:
        out.append(Privilege("extra-capabilities", " ".join(extra), False))
    return out


def _devices(config: Mapping) -> list[Privilege]:
    """An allow rule without type and major number: every device of the host."""
    resources = _mapping(_mapping(config.get("linux")).get("resources"))
    rules = _list(resources.get("devices"))
    for rule in map(_mapping, rules):
        if rule.get("allow") and rule.get("type") in (None, "a") and rule.get("major") in (None, -1):
            return [Privilege("devices", "linux.resources.devices allows every device", True)]
    return []


def _under(path: str, tops: Iterable[str]) -> bool:
    return any(path == t or path.startswith(t.rstrip("/") + "/") for t in tops)


def _host_files(plan: list[HostFile]) -> list[Privilege]:
    out = []
    setuid = [h.dest for h in plan if h.kind == "file" and h.mode & 0o6000]
    if setuid:
        out.append(Privilege("setuid", ", ".join(setuid), True))
    units = [h.dest for h in plan if h.kind != "dir" and _under(posixpath.normpath(h.dest), _UNIT_DIRS)]
    if units:
        out.append(Privilege("units", ", ".join(units), True))
    files = [h.dest for h in plan if h.kind != "dir"]
    if files:
        out.append(Privilege("host-files", f"{len(files)} file(s) on the host: "
                             + ", ".join(files[:5]) + (" ..." if len(files) > 5 else ""), False))
    return out


# ---------------------------------------------------------------- what the host cannot grant

def unavailable(config: Mapping, *, bounding: Iterable[str], selinux: bool,
                missing_sources: Iterable[str], tmpfiles: str | None,
                host_files: Iterable[HostFile] = ()) -> list[str]:
    """What this host cannot give the container, each as a short phrase (empty: all fine).

    ``bounding``: the capabilities this process can grant; ``selinux``: whether the host has
    SELinux; ``missing_sources``: absolute bind sources absent on the host — fine when the
    tmpfiles file or a host file creates them, else runc fails at start.
    """
    config = config if isinstance(config, Mapping) else {}
    out = []
    lacking = sorted(requested_capabilities(config) - set(bounding))
    if lacking:
        out.append(f"capabilities {' '.join(lacking)} (outside this host's bounding set)")
    labels = [k for k, v in (("process.selinuxLabel", _mapping(config.get("process")).get("selinuxLabel")),
                             ("linux.mountLabel", _mapping(config.get("linux")).get("mountLabel"))) if v]
    if labels and not selinux:
        out.append(f"SELinux labels ({', '.join(labels)}) on a host without SELinux")
    created = _tmpfiles_paths(tmpfiles) | {posixpath.normpath(h.dest) for h in host_files}
    lost = [s for s in missing_sources if posixpath.normpath(s) not in created]
    if lost:
        out.append(f"bind-mount sources {', '.join(lost)} (missing on the host and not created "
                   "by the image's tmpfiles or host files)")
    return out


def check_available(problems: list[str], what: str) -> None:
    if problems:
        raise PrivilegeError(f"this host cannot grant what {what} asks for: "
                             + "; ".join(problems) + " — the container could never start")


def _tmpfiles_paths(text: str | None) -> set[str]:
    """The path field of every tmpfiles line (systemd-tmpfiles quoting)."""
    paths = set()
    for line in (text or "").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            fields = shlex.split(line)
        except ValueError:
            continue
        if len(fields) >= 2:
            paths.add(posixpath.normpath(fields[1].replace("%%", "%")))
    return paths


def host_has_selinux(root: str = "/") -> bool:
    return os.path.exists(os.path.join(root, "sys/fs/selinux/enforce"))
