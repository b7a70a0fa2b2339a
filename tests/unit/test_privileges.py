"""deploy/privileges.py: every rule of the review, the --allow check, what a host cannot grant."""

from __future__ import annotations

from pathlib import Path

import pytest

from syscontainers.deploy.hostfiles import HostFile
from syscontainers.deploy.privileges import (
    DANGEROUS, Privilege, PrivilegeError, check_allowed, check_available, not_allowed,
    parse_allow, review, unavailable)
from syscontainers.errors import UsageError

PRIVATE_NS = [{"type": t} for t in ("pid", "mount", "ipc", "uts", "network")]


def config(**kw) -> dict:
    base = {"process": {"args": ["sh"]}, "root": {"path": "rootfs", "readonly": True},
            "linux": {"namespaces": PRIVATE_NS}}
    base.update(kw)
    return base


def names(privs) -> dict[str, bool]:
    return {p.name: p.dangerous for p in privs}


def hostfile(dest: str, mode: int = 0o644, kind: str = "file") -> HostFile:
    return HostFile(dest, kind, Path("/x"), mode)


def test_a_contained_service_asks_for_nothing():
    assert review(config()) == frozenset()
    assert review({}) == frozenset() and review(None) == frozenset()


def test_hooks_are_dangerous_and_named():
    privs = review(config(hooks={"prestart": [{"path": "/usr/bin/hook"}],
                                 "poststop": [{"path": "/bin/clean"}]}))
    (p,) = privs
    assert p.name == "hooks" and p.dangerous and "/usr/bin/hook" in p.detail and "/bin/clean" in p.detail
    assert review(config(hooks={"prestart": []})) == frozenset()


@pytest.mark.parametrize("namespaces, expected", [
    ([], {"host-namespaces": True, "host-network": False, "host-ipc": False, "host-uts": False}),
    ([{"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "network"}],
     {"host-namespaces": True}),
    ([{"type": "pid"}, {"type": "mount", "path": "/proc/1/ns/mnt"}, {"type": "ipc"},
      {"type": "uts"}, {"type": "network"}], {"host-namespaces": True}),
    ([{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}], {"host-network": False}),
])
def test_namespaces(namespaces, expected):
    assert names(review(config(linux={"namespaces": namespaces}))) == expected


def test_shared_pid_and_mount_are_one_privilege():
    (p,) = [p for p in review(config(linux={"namespaces": []})) if p.dangerous]
    assert p.detail == "shares the host's pid and mount namespaces"


@pytest.mark.parametrize("mount, expected", [
    ({"destination": "/host", "type": "bind", "source": "/", "options": ["rbind", "rw"]}, {"rw-root": True}),
    ({"destination": "/host", "source": "/", "options": ["rbind"]}, {"rw-root": True}),
    ({"destination": "/host", "type": "bind", "source": "//", "options": ["rbind"]}, {"rw-root": True}),
    ({"destination": "/host", "type": "bind", "source": "/", "options": ["rbind", "ro"]}, {"host-root": False}),
    ({"destination": "/data", "type": "bind", "source": "/var/lib/x", "options": ["rbind", "rw"]},
     {"rw-binds": False}),
    ({"destination": "/data", "type": "bind", "source": "/var/lib/x", "options": ["ro"]}, {}),
    ({"destination": "/data", "type": "bind", "source": "relative", "options": ["rw"]}, {}),
    ({"destination": "/proc", "type": "proc", "source": "proc"}, {}),
])
def test_mounts(mount, expected):
    assert names(review(config(mounts=[mount]))) == expected


def test_capabilities():
    caps = ["CAP_KILL", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_SYS_MODULE"]
    privs = {p.name: p for p in review(config(process={"capabilities": {"bounding": caps}}))}
    assert privs["capabilities"].dangerous and privs["capabilities"].detail == "CAP_SYS_ADMIN CAP_SYS_MODULE"
    assert not privs["extra-capabilities"].dangerous and privs["extra-capabilities"].detail == "CAP_NET_ADMIN"
    runc_default = {k: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"] for k in ("bounding", "effective")}
    assert review(config(process={"capabilities": runc_default})) == frozenset()


@pytest.mark.parametrize("rule, dangerous", [
    ({"allow": True, "access": "rwm"}, True),
    ({"allow": True, "type": "a", "access": "rwm"}, True),
    ({"allow": False, "access": "rwm"}, False),
    ({"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rwm"}, False),
])
def test_devices(rule, dangerous):
    cfg = config(linux={"namespaces": PRIVATE_NS, "resources": {"devices": [rule]}})
    assert names(review(cfg)) == ({"devices": True} if dangerous else {})


def test_host_files():
    plan = [hostfile("/usr/local/bin/helper", 0o4755), hostfile("/usr/local/bin/grp", 0o2755),
            hostfile("/etc/systemd/system/extra.service"), hostfile("/etc/cron.d/job"),
            hostfile("/etc/example/app.conf"), hostfile("/etc/example", 0o755, "dir")]
    privs = {p.name: p for p in review({}, plan)}
    assert privs["setuid"].dangerous and privs["setuid"].detail == "/usr/local/bin/helper, /usr/local/bin/grp"
    assert privs["units"].dangerous and privs["units"].detail == "/etc/systemd/system/extra.service, /etc/cron.d/job"
    assert not privs["host-files"].dangerous and privs["host-files"].detail.startswith("5 file(s)")
    assert names(review({}, [hostfile("/etc/systemd-like.conf")])) == {"host-files": False}


def test_the_allow_check():
    privs = review(config(linux={"namespaces": []}, hooks={"prestart": [{"path": "/h"}]}))
    assert [p.name for p in not_allowed(privs, {"hooks"})] == ["host-namespaces"]
    check_allowed(privs, {"hooks", "host-namespaces"}, "image x")
    with pytest.raises(PrivilegeError) as e:
        check_allowed(privs, (), "image x")
    msg = str(e.value)
    assert "\n" not in msg and "--allow=hooks,host-namespaces" in msg and "/h" in msg


def test_parse_allow():
    assert parse_allow(["hooks,units", " setuid ", ""]) == {"hooks", "units", "setuid"}
    with pytest.raises(UsageError, match="unknown --allow name 'root'"):
        parse_allow(["root"])
    assert set(DANGEROUS) == {"hooks", "host-namespaces", "rw-root", "capabilities", "devices",
                              "setuid", "units"}


def test_privilege_line():
    assert Privilege("hooks", "x", True).line() == "hooks: x [needs --allow]"
    assert Privilege("host-network", "y", False).line() == "host-network: y"


def _unavailable(cfg, **kw):
    args = dict(bounding=["CAP_KILL", "CAP_SYS_ADMIN"], selinux=False, missing_sources=[],
                tmpfiles=None)
    args.update(kw)
    return unavailable(cfg, **args)


def test_capabilities_outside_the_bounding_set():
    cfg = config(process={"capabilities": {"effective": ["CAP_KILL", "CAP_SYS_RESOURCE"]}})
    (line,) = _unavailable(cfg)
    assert "CAP_SYS_RESOURCE" in line and "CAP_KILL" not in line


def test_selinux_label_without_selinux():
    cfg = config(process={"selinuxLabel": "system_u:system_r:container_t:s0"})
    assert "process.selinuxLabel" in _unavailable(cfg)[0]
    assert _unavailable(cfg, selinux=True) == []


def test_missing_bind_sources_unless_created():
    assert "/srv/x" in _unavailable(config(), missing_sources=["/srv/x"])[0]
    assert _unavailable(config(), missing_sources=["/srv/x"], tmpfiles="d /srv/x 0700 - - -\n") == []
    assert _unavailable(config(), missing_sources=["/srv/a b"],
                        tmpfiles='# c\nd "/srv/a b" 0700 0 0 - -\n') == []
    assert _unavailable(config(), missing_sources=["/etc/x.conf"],
                        host_files=[hostfile("/etc/x.conf")]) == []


def test_check_available_is_one_line():
    check_available([], "image x")
    with pytest.raises(PrivilegeError) as e:
        check_available(["a", "b"], "image x")
    assert "\n" not in str(e.value) and "could never start" in str(e.value)


def test_errors_raised_with_secrets_in_them_are_masked():
    from syscontainers.errors import TemplateError
    from syscontainers.lifecycle.build import secrets_masked
    with pytest.raises(TemplateError) as e:
        with secrets_masked({"TOKEN": "hunter2", "PORT": "80"}, {"TOKEN"}):
            raise TemplateError("bad value hunter2 on port 80")
    assert str(e.value) == "bad value *** on port 80"


def test_a_secret_copied_into_the_unit_is_warned_about(tmp_path):
    import json

    from syscontainers.lifecycle.build import secret_warnings
    from tests.unit.test_render import CONFIG, render
    unit = "[Service]\nExecStart=$EXEC_START\nEnvironment=TOKEN=$TOKEN\n"
    r = render(tmp_path, {"config.json": json.dumps(CONFIG), "service.template": unit},
               sets=["TOKEN=hunter2", "OTHER=zq9"])
    (warning,) = secret_warnings(r, {"TOKEN", "OTHER"})
    assert "TOKEN" in warning and "systemd unit" in warning and "hunter2" not in warning
