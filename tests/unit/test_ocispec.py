"""config.json: default spec, validation, bind sources, user-namespace rewrite (docs/templates.md, docs/operations.md)."""

from __future__ import annotations

import copy

import pytest

from syscontainers.deploy import ocispec
from syscontainers.errors import CommandError, ConfigError

RUNC = "/usr/sbin/runc"


def _cfg(**extra) -> dict:
    cfg = {
        "root": {"path": "rootfs", "readonly": True},
        "process": {"args": ["/bin/sh"]},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["mode=755"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts"},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup"},
            {"destination": "/sysroot", "type": "bind", "source": "/sysroot", "options": ["rbind"]},
            {"destination": "/data", "type": "bind", "source": "/srv/data",
             "options": ["rbind", "rw", "nosuid"]},
        ],
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                           {"type": "uts"}, {"type": "mount"}],
            "resources": {"devices": [{"allow": False, "access": "rwm"}], "memory": {"limit": 1}},
        },
    }
    cfg.update(extra)
    return cfg


# ---------------------------------------------------------------- default spec

def test_default_spec_comes_from_runc_spec_rootless():
    cfg = ocispec.default_spec(RUNC)
    assert cfg["root"] == {"path": "rootfs", "readonly": True}
    assert cfg["process"]["terminal"] is False
    assert cfg["process"]["args"] == ["run.sh"]
    # --rootless: runc's rootless spec has a user namespace and no network namespace.
    types = {ns["type"] for ns in cfg["linux"]["namespaces"]}
    assert "user" in types and "network" not in types
    assert cfg["linux"]["uidMappings"]


PASSWD = "root:x:0:0::/root:/bin/sh\n# comment\napp:x:1234:1300::/srv:/bin/sh\n"
GROUP = "root:x:0:\nstaff:x:50:app\n"


@pytest.mark.parametrize("user, ids", [("", (0, 0)), ("app", (1234, 1300)), ("1234", (1234, 1300)),
                                       ("77", (77, 0)), ("app:staff", (1234, 50)),
                                       ("77:88", (77, 88)), ("root", (0, 0))])
def test_image_user_like_docker(user, ids):
    proc = ocispec.image_process({"User": user}, PASSWD, GROUP, "img")
    assert (proc.uid, proc.gid) == ids


@pytest.mark.parametrize("user, what", [("nobody", "user 'nobody'"), ("app:wheel", "group 'wheel'")])
def test_image_user_unknown_names_are_errors(user, what):
    with pytest.raises(ConfigError, match=f"image img runs as {what}"):
        ocispec.image_process({"User": user}, PASSWD, GROUP, "img")


def test_default_spec_runs_the_images_own_process():
    proc = ocispec.image_process({"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo hi"],
                                  "Env": ["PATH=/bin", "GREETING=hi"], "WorkingDir": "/srv",
                                  "User": "app"}, PASSWD, GROUP, "img")
    cfg = ocispec.default_spec(RUNC, proc)
    p = cfg["process"]
    assert p["args"] == ["/bin/sh", "-c", "echo hi"] and p["cwd"] == "/srv"
    assert p["env"] == ["PATH=/bin", "TERM=xterm", "GREETING=hi"]
    assert p["user"] == {"uid": 1234, "gid": 1300}
    # the rootless spec maps only id 0: the image's ids are mapped to themselves
    assert {"containerID": 1234, "hostID": 1234, "size": 1} in cfg["linux"]["uidMappings"]
    assert {"containerID": 1300, "hostID": 1300, "size": 1} in cfg["linux"]["gidMappings"]
    assert ocispec.default_spec(RUNC, ocispec.image_process({}, None, None, "x"))["process"][
        "args"] == ["run.sh"]


def test_default_spec_with_a_missing_runtime_is_a_clear_error():
    with pytest.raises(CommandError, match="is not installed"):
        ocispec.default_spec("/nonexistent/runc")


# ---------------------------------------------------------------- validation

def test_valid_config_passes():
    ocispec.validate_config(_cfg(), remote=False)


def test_empty_config_is_accepted():
    ocispec.validate_config({}, remote=False)


@pytest.mark.parametrize("root", [{"path": "rootfs"}, {"path": "rootfs", "readonly": False},
                                  {"path": "rootfs", "readonly": "true"}])
def test_writable_root_is_refused(root):
    with pytest.raises(ConfigError, match="Only readonly images are supported"):
        ocispec.validate_config(_cfg(root=root), remote=False)


def test_missing_root_is_refused():
    cfg = _cfg()
    del cfg["root"]
    with pytest.raises(ConfigError, match="Only readonly images are supported"):
        ocispec.validate_config(cfg, remote=False)


def test_run_once_does_not_need_a_readonly_root():
    ocispec.validate_config(_cfg(root={"path": "rootfs", "readonly": False}),
                            remote=False, run_once=True)


def test_root_path_must_be_rootfs_unless_remote():
    cfg = _cfg(root={"path": "/elsewhere", "readonly": True})
    with pytest.raises(ConfigError, match="root.path must be 'rootfs'"):
        ocispec.validate_config(cfg, remote=False)
    ocispec.validate_config(cfg, remote=True)


def test_config_shapes_we_rely_on_are_checked():
    with pytest.raises(ConfigError, match="mounts must be a list"):
        ocispec.validate_config(_cfg(mounts={"a": 1}), remote=False)
    with pytest.raises(ConfigError, match="namespaces must be a list"):
        ocispec.validate_config(_cfg(linux={"namespaces": ["pid"]}), remote=False)


def test_parse_config_names_the_file_and_the_bad_line():
    text = '{\n  "root": {"path": "rootfs"},\n  "mounts": [ ,{"x": 1} ]\n}\n'
    with pytest.raises(ConfigError) as e:
        ocispec.parse_config(text, "config.json of image x")
    msg = str(e.value)
    assert msg.startswith("config.json of image x is not valid JSON")
    assert "line 3" in msg and '"mounts": [ ,{"x": 1} ]' in msg


def test_parse_config_wants_an_object():
    with pytest.raises(ConfigError, match="JSON object"):
        ocispec.parse_config("[1]", "config.json")


# ---------------------------------------------------------------- bind sources

def test_missing_bind_sources(tmp_path):
    (tmp_path / "sysroot").mkdir()
    cfg = _cfg()
    cfg["mounts"] += [
        {"destination": "/a", "type": "none", "source": "/srv/opt", "options": ["bind"]},
        {"destination": "/b", "type": "bind", "source": "/srv/data"},      # duplicate source
        {"destination": "/c", "type": "bind", "source": "relative/dir"},   # bundle-relative
        {"destination": "/d", "type": "tmpfs", "source": "/not/a/bind"},
    ]
    assert ocispec.missing_bind_sources(cfg, tmp_path) == ["/srv/data", "/srv/opt"]


def test_missing_bind_sources_of_empty_config():
    assert ocispec.missing_bind_sources({}) == []


# ---------------------------------------------------------------- user namespace

def test_user_namespace_rewrite():
    cfg = _cfg()
    original = copy.deepcopy(cfg)
    out = ocispec.rewrite_for_user_namespace(cfg, 1000, 1001, (100000, 65536), (200000, 65536))
    assert cfg == original  # not mutated

    types = [ns["type"] for ns in out["linux"]["namespaces"]]
    assert "network" not in types and types.count("user") == 1

    dests = [m["destination"] for m in out["mounts"]]
    # Every /sys mount replaced by one read-only bind of the host's /sys; /sysroot is not /sys.
    assert "/sys/fs/cgroup" not in dests and dests.count("/sys") == 1 and "/sysroot" in dests
    sys_mount = next(m for m in out["mounts"] if m["destination"] == "/sys")
    assert sys_mount["type"] == "bind" and sys_mount["source"] == "/sys"
    assert "ro" in sys_mount["options"] and "rbind" in sys_mount["options"]

    for m in out["mounts"]:
        opts = m.get("options", [])
        if m["destination"] in ("/dev", "/dev/pts"):
            assert "nodev" not in opts
        else:
            assert "nodev" in opts and "nosuid" in opts, m
            assert len(opts) == len(set(opts))  # no duplicates ("nosuid" was already there)

    assert "devices" not in out["linux"]["resources"]
    assert out["linux"]["resources"]["memory"] == {"limit": 1}
    assert out["linux"]["uidMappings"] == [
        {"containerID": 0, "hostID": 1000, "size": 1},
        {"containerID": 1, "hostID": 100000, "size": 65536}]
    assert out["linux"]["gidMappings"] == [
        {"containerID": 0, "hostID": 1001, "size": 1},
        {"containerID": 1, "hostID": 200000, "size": 65536}]


def test_user_namespace_without_subids_maps_only_root():
    cfg = _cfg(linux={"namespaces": [{"type": "user"}, {"type": "mount"}],
                      "uidMappings": [{"containerID": 0, "hostID": 0, "size": 65536}]})
    out = ocispec.rewrite_for_user_namespace(cfg, 1000, 1000, None, None)
    assert out["linux"]["uidMappings"] == [{"containerID": 0, "hostID": 1000, "size": 1}]
    assert out["linux"]["gidMappings"] == [{"containerID": 0, "hostID": 1000, "size": 1}]
    assert [ns["type"] for ns in out["linux"]["namespaces"]] == ["user", "mount"]


def test_user_namespace_rewrite_of_empty_config():
    assert ocispec.rewrite_for_user_namespace({}, 1, 1, None, None) == {}


def test_read_subid_range(tmp_path):
    f = tmp_path / "subuid"
    f.write_text("root:100000:65536\nal:200000:1000\nal:500000:10\n1234:300000:50\nbad:x:1\n")
    assert ocispec.read_subid_range(f, "al", 1000) == (200000, 1000)   # first range wins
    assert ocispec.read_subid_range(f, "bob", 1234) == (300000, 50)    # by numeric uid
    assert ocispec.read_subid_range(f, "bad", 9) is None
    assert ocispec.read_subid_range(f, "nobody", 99) is None
    assert ocispec.read_subid_range(tmp_path / "absent", "al", 1000) is None


def test_with_root_path():
    out = ocispec.with_root_path(_cfg(), "/srv/remote/rootfs")
    assert out["root"] == {"path": "/srv/remote/rootfs", "readonly": True}
