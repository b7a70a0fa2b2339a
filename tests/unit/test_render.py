"""Rendering a deployment: exports contract, templates, validation, default unit, tmpfiles."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from syscontainers.deploy.exports import read_exports
from syscontainers.deploy.render import (
    DEFAULT_UNIT_TEMPLATE, Target, deployment_values, render_deployment, render_template,
    template_variables,
)
from syscontainers.deploy.values import parse_set
from syscontainers.errors import ConfigError, TemplateError
from syscontainers.service.runtime import Runtime

RUNC = Runtime("/usr/sbin/runc", supports_pid_file=True, supports_systemd_cgroup=True)
OLD_RUNC = Runtime("/usr/sbin/runc", supports_pid_file=False, supports_systemd_cgroup=False)

CONFIG = {
    "ociVersion": "1.0.2",
    "process": {"args": ["/bin/busybox", "sleep", "1000"], "cwd": "/"},
    "root": {"path": "rootfs", "readonly": True},
    "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
    "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "network"}]},
}

# An atomic-style template: JSON fragments are injected textually.
CONFIG_TEMPLATE = """{
    "ociVersion": "1.0.2",
    "process": {"args": ["/bin/busybox", "httpd", "-p", "$PORT"], "cwd": "/",
                "capabilities": {"bounding": [ $ALL_PROCESS_CAPABILITIES ]}},
    "root": {"path": "rootfs", "readonly": true},
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/var/www", "type": "bind", "source": "${STATE_DIRECTORY}/$NAME",
         "options": ["rbind", "rw"]}
        $ADDTL_MOUNTS
    ],
    "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}
}
"""


def make_rootfs(tmp_path: Path, files: dict[str, str]) -> Path:
    rootfs = tmp_path / "web.0" / "rootfs"
    (rootfs / "exports").mkdir(parents=True)
    for name, text in files.items():
        path = rootfs / "exports" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return rootfs


def target(tmp_path: Path, **kw) -> Target:
    host = tmp_path / "host"
    host.mkdir(exist_ok=True)
    base = dict(name="web", destdir=tmp_path / "web.0", image_name="example.com/web:1",
                image_id="0123abcd", user_mode=False, runtime=RUNC, host_root=host,
                uid=0, gid=0)
    base.update(kw)
    return Target(**base)


def render(tmp_path, files, sets=(), **kw):
    exports = read_exports(make_rootfs(tmp_path, files), "example.com/web:1")
    t = target(tmp_path, **kw)
    values = deployment_values(exports, t, parse_set(list(sets)), uuid="uuid-1")
    return render_deployment(exports, values, t)


# ---------------------------------------------------------------- template primitives

def test_template_variables():
    text = "a $A ${B} $$C $${D} $_e9 $A"
    assert template_variables(text) == {"A", "B", "_e9"}


def test_render_template_dollar_escape():
    assert render_template("$$HOME is ${X}y", {"X": "x"}, "f") == "$HOME is xy"


def test_missing_variable_names_the_variable_and_the_file():
    with pytest.raises(TemplateError) as e:
        render_template("$A $B ${C}", {"B": "1"}, "service.template of image i")
    msg = str(e.value)
    assert msg.startswith("service.template of image i:")
    assert "A, C" in msg and "--set A=VALUE" in msg


def test_invalid_dollar_is_reported_with_its_position():
    with pytest.raises(TemplateError, match=r"invalid '\$' at line 2 column 7"):
        render_template("ok\ncost 5$ only", {}, "f")


# ---------------------------------------------------------------- exports

def test_no_exports_directory(tmp_path):
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    exports = read_exports(rootfs, "img")
    assert not exports.present and exports.config_json is None and exports.hostfs is None
    assert exports.manifest.use_links is True and exports.manifest.no_container_service is False


def test_manifest_is_read(tmp_path):
    manifest = {"defaultValues": {"PORT": 8080, "DEBUG": True, "S": "x"},
                "noContainerService": True, "renameFiles": {"/etc/a": "/etc/$NAME"},
                "installedFilesTemplate": ["/etc/a"], "useLinks": False}
    rootfs = make_rootfs(tmp_path, {"manifest.json": json.dumps(manifest), "rpm.spec": ""})
    (rootfs / "exports/hostfs/etc").mkdir(parents=True)
    e = read_exports(rootfs, "img")
    m = e.manifest
    assert m.default_values == {"PORT": "8080", "DEBUG": "true", "S": "x"}
    assert m.no_container_service and not m.use_links
    assert m.rename_files == {"/etc/a": "/etc/$NAME"}
    assert m.installed_files_template == ("/etc/a",)
    assert e.hostfs == rootfs / "exports/hostfs" and e.has_rpm_spec and e.present


def test_invalid_manifest_json_names_the_image(tmp_path):
    rootfs = make_rootfs(tmp_path, {"manifest.json": "{nope"})
    with pytest.raises(ConfigError, match="Invalid manifest.json file in image example.com/x:2"):
        read_exports(rootfs, "example.com/x:2")


@pytest.mark.parametrize("manifest, key", [
    ('{"defaultValues": []}', "defaultValues"),
    ('{"defaultValues": {"A": null}}', "defaultValues"),
    ('{"noContainerService": "yes"}', "noContainerService"),
    ('{"renameFiles": {"/a": 1}}', "renameFiles"),
    ('{"installedFilesTemplate": "/a"}', "installedFilesTemplate"),
    ('[]', "not a JSON object"),
])
def test_manifest_types_are_checked(tmp_path, manifest, key):
    rootfs = make_rootfs(tmp_path, {"manifest.json": manifest})
    with pytest.raises(ConfigError, match=key):
        read_exports(rootfs, "img")


def test_exports_files_must_not_be_symlinks(tmp_path):
    rootfs = make_rootfs(tmp_path, {})
    secret = tmp_path / "host-secret"
    secret.write_text('{"root": {"path": "rootfs", "readonly": true}}')
    os.symlink(secret, rootfs / "exports/config.json")
    with pytest.raises(ConfigError, match="exports/config.json of image img must be a regular file"):
        read_exports(rootfs, "img")


def test_exports_directory_must_not_be_a_symlink(tmp_path):
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", rootfs / "exports")
    with pytest.raises(ConfigError, match="not a directory"):
        read_exports(rootfs, "img")


def test_hostfs_symlink_is_ignored(tmp_path):
    rootfs = make_rootfs(tmp_path, {})
    os.symlink("/etc", rootfs / "exports/hostfs")
    assert read_exports(rootfs, "img").hostfs is None


# ---------------------------------------------------------------- config.json

def test_config_json_is_used_as_is(tmp_path):
    # with a cgroupsPath of its own (else the container is put into the service's cgroup)
    cfg = {**CONFIG, "linux": {**CONFIG["linux"], "cgroupsPath": "/mine"}}
    text = json.dumps(cfg, indent=1) + "\n  \n"
    r = render(tmp_path, {"config.json": text}, sets=["PORT=1"])
    assert r.config_json == text
    assert r.config == cfg
    assert r.warnings == ()


def test_system_container_runs_in_a_child_of_its_service_cgroup(tmp_path):
    r = render(tmp_path, {"config.json": json.dumps(CONFIG)})
    assert r.config["linux"]["cgroupsPath"] == "/system.slice/web.service/container"
    assert json.loads(r.config_json) == r.config
    assert r.config["linux"]["namespaces"] == CONFIG["linux"]["namespaces"]
    assert "Delegate=yes" in r.unit and "--systemd-cgroup" not in r.unit
    assert "KillMode=mixed" in r.unit.splitlines()


def test_service_cgroup_follows_the_units_slice(tmp_path):
    unit = "[Service]\nSlice=infra-net.slice\nExecStart=$EXEC_START\n"
    r = render(tmp_path, {"config.json": json.dumps(CONFIG), "service.template": unit})
    assert r.config["linux"]["cgroupsPath"] == "/infra.slice/infra-net.slice/web.service/container"


def test_user_mode_config_has_no_service_cgroup(tmp_path):
    r = render(tmp_path, {"config.json": json.dumps(CONFIG)}, user_mode=True, uid=1000, gid=1000)
    assert "cgroupsPath" not in r.config.get("linux", {})


def test_config_json_is_not_a_template(tmp_path):
    cfg = dict(CONFIG, hostname="$NOT_A_VAR")
    r = render(tmp_path, {"config.json": json.dumps(cfg)})
    assert r.config["hostname"] == "$NOT_A_VAR"


def test_template_injects_json_fragments_textually(tmp_path):
    extra = ',{"destination": "/etc/x", "type": "bind", "source": "/etc/x", "options": ["ro"]}'
    r = render(tmp_path, {"config.json.template": CONFIG_TEMPLATE},
               sets=["PORT=8080", f"ADDTL_MOUNTS={extra}"])
    cfg = json.loads(r.config_json)
    assert cfg["process"]["args"][-1] == "8080"
    assert [m["destination"] for m in cfg["mounts"]] == ["/proc", "/var/www", "/etc/x"]
    assert cfg["mounts"][1]["source"] == "/var/lib/web"
    # ALL_PROCESS_CAPABILITIES holds newlines: fine inside config.json (JSON whitespace).
    assert "CAP_CHOWN" in cfg["process"]["capabilities"]["bounding"]


def test_injection_that_breaks_json_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="is not valid JSON.*line"):
        render(tmp_path, {"config.json.template": CONFIG_TEMPLATE},
               sets=["PORT=1", 'ADDTL_MOUNTS=,{"destination": }'])


def test_value_that_escapes_a_json_string_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="not valid JSON"):
        render(tmp_path, {"config.json.template": CONFIG_TEMPLATE},
               sets=['PORT=1"]', "ADDTL_MOUNTS="])


def test_missing_value_in_config_template_installs_nothing(tmp_path):
    with pytest.raises(TemplateError, match="config.json.template of image .*ADDTL_MOUNTS, PORT"):
        render(tmp_path, {"config.json.template": CONFIG_TEMPLATE})


def test_default_values_fill_the_template(tmp_path):
    manifest = json.dumps({"defaultValues": {"PORT": "80", "ADDTL_MOUNTS": ""}})
    r = render(tmp_path, {"config.json.template": CONFIG_TEMPLATE, "manifest.json": manifest})
    assert r.config["process"]["args"][-1] == "80"


def test_writable_root_is_refused(tmp_path):
    cfg = dict(CONFIG, root={"path": "rootfs", "readonly": False})
    with pytest.raises(ConfigError, match="Only readonly images are supported"):
        render(tmp_path, {"config.json": json.dumps(cfg)})


def test_empty_config_is_accepted(tmp_path):
    r = render(tmp_path, {"config.json": "{}"})
    assert r.config == {} and r.config_json == "{}" and r.tmpfiles is None


def test_default_spec_when_the_image_ships_no_config(tmp_path):
    r = render(tmp_path, {})
    assert r.config["process"]["args"] == ["run.sh"]
    assert r.config["root"] == {"path": "rootfs", "readonly": True}
    assert json.loads(r.config_json) == r.config
    assert len(r.warnings) == 1 and "you may want exports" in r.warnings[0]
    assert str(tmp_path / "web.0" / "config.json") in r.warnings[0]


def test_remote_rootfs_points_root_path_there(tmp_path):
    r = render(tmp_path, {"config.json": json.dumps(CONFIG)},
               remote_rootfs=Path("/srv/remote/rootfs"))
    assert r.config["root"]["path"] == "/srv/remote/rootfs"
    assert json.loads(r.config_json)["root"]["path"] == "/srv/remote/rootfs"


def test_user_mode_rewrites_the_config(tmp_path):
    host = tmp_path / "host"
    (host / "etc").mkdir(parents=True)
    (host / "etc/subuid").write_text("1000:100000:65536\n")
    (host / "etc/subgid").write_text("1000:300000:65536\n")
    (host / "usr/bin").mkdir(parents=True)
    for tool in ("newuidmap", "newgidmap"):
        (host / "usr/bin" / tool).write_text("")
    r = render(tmp_path, {"config.json": json.dumps(CONFIG)}, user_mode=True, uid=1000, gid=1000)
    types = {ns["type"] for ns in r.config["linux"]["namespaces"]}
    assert "user" in types and "network" not in types
    assert r.config["linux"]["uidMappings"][1] == {"containerID": 1, "hostID": 100000, "size": 65536}
    assert r.config["linux"]["gidMappings"][1]["hostID"] == 300000
    assert json.loads(r.config_json) == r.config
    assert "--systemd-cgroup" not in r.values["EXEC_START"]
    assert r.warnings == ()


def test_user_mode_without_mapping_tools_maps_only_the_user(tmp_path):
    host = tmp_path / "host"
    (host / "etc").mkdir(parents=True)
    (host / "etc/subuid").write_text("1000:100000:65536\n")
    (host / "etc/subgid").write_text("1000:300000:65536\n")
    (host / "usr/bin").mkdir(parents=True)
    (host / "usr/bin/newuidmap").write_text("")          # newgidmap missing
    r = render(tmp_path, {"config.json": json.dumps(CONFIG)}, user_mode=True, uid=1000, gid=1000)
    assert r.config["linux"]["uidMappings"] == [{"containerID": 0, "hostID": 1000, "size": 1}]
    assert r.config["linux"]["gidMappings"] == [{"containerID": 0, "hostID": 1000, "size": 1}]
    assert len(r.warnings) == 1 and "newgidmap not installed" in r.warnings[0]


def test_user_mode_unit_is_wanted_by_the_user_managers_default_target(tmp_path):
    template = "[Service]\nExecStart=$EXEC_START\n\n[Install]\nWantedBy=multi-user.target foo.target\n"
    r = render(tmp_path, {"config.json": json.dumps(CONFIG), "service.template": template},
               user_mode=True, uid=1000, gid=1000)
    assert "WantedBy=default.target foo.target" in r.unit.splitlines()
    default = render(tmp_path / "d", {"config.json": json.dumps(CONFIG)}, user_mode=True,
                     uid=1000, gid=1000)
    assert "WantedBy=default.target" in default.unit.splitlines()
    system = render(tmp_path / "s", {"config.json": json.dumps(CONFIG)})
    assert "WantedBy=multi-user.target" in system.unit.splitlines()


# ---------------------------------------------------------------- unit

def test_default_unit_detached(tmp_path):
    r = render(tmp_path, {"config.json": json.dumps(CONFIG)})
    lines = r.unit.splitlines()
    assert "Description=web" in lines
    assert ("ExecStart=/usr/sbin/runc run -d --pid-file "
            "/run/container-web.pid 'web'") in lines
    assert "ExecStopPost=/usr/sbin/runc delete 'web'" in lines
    # Empty EXEC_* values leave their line out.
    assert not any(ln.startswith(("ExecStop=", "ExecStartPre=")) for ln in lines)
    assert "Restart=on-failure" in lines
    assert f"WorkingDirectory={tmp_path / 'web.0'}" in lines
    assert "PIDFile=/run/container-web.pid" in lines
    assert "WantedBy=multi-user.target" in lines
    assert "$" not in r.unit
    assert r.exec.start == r.values["EXEC_START"] and r.has_container_service


def test_default_unit_foreground_when_runtime_has_no_pid_file(tmp_path):
    r = render(tmp_path, {"config.json": json.dumps(CONFIG)}, runtime=OLD_RUNC)
    lines = r.unit.splitlines()
    assert "ExecStart=/usr/sbin/runc run 'web'" in lines
    assert "ExecStop=/usr/sbin/runc kill 'web'" in lines
    assert not any(ln.startswith(("ExecStopPost=", "ExecStartPre=")) for ln in lines)


def test_default_unit_template_mentions_what_detached_mode_needs():
    assert "$EXEC_STOPPOST" in DEFAULT_UNIT_TEMPLATE and "$PIDFILE" in DEFAULT_UNIT_TEMPLATE


def test_image_service_template(tmp_path):
    unit = ("[Service]\nExecStart=$EXEC_START\nExecStop=$EXEC_STOP\n"
            "Environment=PORT=$PORT\nExecStartPre=/bin/echo $$HOME\n")
    r = render(tmp_path, {"config.json": json.dumps(CONFIG), "service.template": unit},
               sets=["PORT=8080"])
    # No $EXEC_STOPPOST/$PIDFILE in the template: a foreground template, run detached
    # (docs/templates.md "Foreground templates run detached"); its own lines kept as written.
    assert r.unit == ("[Service]\n"
                      "ExecStart=/usr/sbin/runc run -d --pid-file /run/container-web.pid 'web'\n"
                      "ExecStop=/usr/sbin/runc kill 'web'\n"
                      "Environment=PORT=8080\nExecStartPre=/bin/echo $HOME\n"
                      "# syscontainers: the runtime runs detached, the container's init is the "
                      "main process (docs/templates.md)\n"
                      "Type=forking\nPIDFile=/run/container-web.pid\n"
                      "ExecStopPost=-/usr/sbin/runc delete --force 'web'\n")


FLANNEL_LIKE = """\
[Unit]
Description=Flanneld Server

[Service]
Type=simple
ExecStart=$EXEC_START
ExecStop=$EXEC_STOP
Restart=on-failure
WorkingDirectory=$DESTDIR

[Install]
WantedBy=multi-user.target
"""


def test_foreground_template_detached_in_its_service_section(tmp_path):
    r = render(tmp_path, {"config.json": json.dumps(CONFIG), "service.template": FLANNEL_LIKE})
    service = r.unit.split("[Service]\n", 1)[1].split("\n\n[Install]", 1)[0].splitlines()
    assert service == [
        "ExecStart=/usr/sbin/runc run -d --pid-file /run/container-web.pid 'web'",
        "ExecStop=/usr/sbin/runc kill 'web'",
        "Restart=on-failure",
        f"WorkingDirectory={tmp_path / 'web.0'}",
        "# syscontainers: the runtime runs detached, the container's init is the main process "
        "(docs/templates.md)",
        "Type=forking", "PIDFile=/run/container-web.pid",
        "ExecStopPost=-/usr/sbin/runc delete --force 'web'"]
    assert r.unit.endswith("\n\n[Install]\nWantedBy=multi-user.target\n")
    assert r.values["EXEC_STOPPOST"] == "/usr/sbin/runc delete --force 'web'"


@pytest.mark.parametrize("unit", [
    FLANNEL_LIKE.replace("Type=simple", "Type=notify"),               # runc relays READY=1
    FLANNEL_LIKE.replace("Type=simple", "Type=oneshot"),
    FLANNEL_LIKE.replace("ExecStart=$EXEC_START", "ExecStart=/bin/sh -c '$EXEC_START'"),
    FLANNEL_LIKE.replace("ExecStart=$EXEC_START", "ExecStart=/usr/sbin/runc run $NAME"),
    FLANNEL_LIKE.replace("Type=simple", "PIDFile=/run/x.pid"),
    FLANNEL_LIKE.replace("Type=simple", "ExecStopPost=$EXEC_STOPPOST"),
    FLANNEL_LIKE.replace("Type=simple", "ExecStartPost=/bin/true\nExecStart=$EXEC_START"),
])
def test_other_templates_keep_the_runtime_in_the_foreground(tmp_path, unit):
    r = render(tmp_path, {"config.json": json.dumps(CONFIG), "service.template": unit})
    assert "Type=forking" not in r.unit and " -d " not in r.unit
    assert r.values["EXEC_START"] == "/usr/sbin/runc run 'web'"
    assert r.values["EXEC_STOPPOST"] == ""


def test_foreground_template_stays_so_without_pid_file_support(tmp_path):
    r = render(tmp_path, {"config.json": json.dumps(CONFIG), "service.template": FLANNEL_LIKE},
               runtime=OLD_RUNC)
    assert "ExecStart=/usr/sbin/runc run 'web'" in r.unit.splitlines()
    assert "Type=simple" in r.unit and "PIDFile" not in r.unit


def test_detached_foreground_template_refuses_percent_in_the_pid_file(tmp_path):
    with pytest.raises(TemplateError, match="PIDFILE .* contains '%'"):
        render(tmp_path, {"config.json": json.dumps(CONFIG), "service.template": FLANNEL_LIKE},
               sets=["RUN_DIRECTORY=/run/%i"])


def test_newline_in_a_value_used_by_the_unit_is_refused(tmp_path):
    unit = "[Service]\nExecStart=$EXEC_START\nEnvironment=X=$X\n"
    with pytest.raises(TemplateError,
                       match="value of X contains a newline; it would add a line to the unit file"):
        render(tmp_path, {"config.json": json.dumps(CONFIG), "service.template": unit},
               sets=["X=1\nExecStartPre=/bin/rm -rf /"])


def test_newline_in_a_value_the_unit_does_not_use_is_fine(tmp_path):
    r = render(tmp_path, {"config.json": json.dumps(CONFIG)}, sets=["UNUSED=a\nb"])
    assert "a\nb" not in r.unit and r.values["UNUSED"] == "a\nb"


def test_trailing_backslash_in_a_unit_value_is_refused(tmp_path):
    unit = "[Service]\nExecStart=$EXEC_START\nEnvironment=X=$X\n"
    with pytest.raises(TemplateError, match="value of X ends with a backslash"):
        render(tmp_path, {"config.json": json.dumps(CONFIG), "service.template": unit},
               sets=["X=a\\"])


def test_missing_value_in_service_template(tmp_path):
    with pytest.raises(TemplateError, match="service.template of image .*: no value for FOO"):
        render(tmp_path, {"config.json": json.dumps(CONFIG),
                          "service.template": "[Service]\nExecStart=$FOO\n"})


def test_no_container_service(tmp_path):
    manifest = json.dumps({"noContainerService": True})
    r = render(tmp_path, {"manifest.json": manifest})
    assert r.unit is None and not r.has_container_service
    assert r.config_json is None and r.warnings == ()  # no default spec for a files-only image


def test_run_once_has_no_unit_and_accepts_a_writable_root(tmp_path):
    cfg = dict(CONFIG, root={"path": "rootfs", "readonly": False})
    r = render(tmp_path, {"config.json": json.dumps(cfg)}, run_once=True)
    assert r.unit is None and r.host_files == ()


# ---------------------------------------------------------------- tmpfiles

def test_tmpfiles_generated_for_missing_bind_sources(tmp_path):
    (tmp_path / "host/etc").mkdir(parents=True)
    cfg = dict(CONFIG, mounts=[
        {"destination": "/etc", "type": "bind", "source": "/etc", "options": ["ro"]},
        {"destination": "/data", "type": "bind", "source": "/var/lib/web data%1"},
        {"destination": "/logs", "type": "none", "source": "/var/log/web", "options": ["rbind"]},
    ])
    r = render(tmp_path, {"config.json": json.dumps(cfg)}, uid=1000, gid=1001)
    assert r.tmpfiles == ('d "/var/lib/web data%%1" 0700 1000 1001 - -\n'
                          "d /var/log/web 0700 1000 1001 - -\n")


def test_no_tmpfiles_when_every_source_exists(tmp_path):
    r = render(tmp_path, {"config.json": json.dumps(CONFIG)})
    assert r.tmpfiles is None


def test_tmpfiles_template_is_rendered(tmp_path):
    r = render(tmp_path, {"config.json": json.dumps(CONFIG),
                          "tmpfiles.template": "d ${RUN_DIRECTORY}/$NAME 0755 - - - -\n"})
    assert r.tmpfiles == "d /run/web 0755 - - - -\n"


def test_newline_in_a_tmpfiles_value_is_refused(tmp_path):
    with pytest.raises(TemplateError, match="value of DIR contains a newline.*tmpfiles file"):
        render(tmp_path, {"config.json": json.dumps(CONFIG), "tmpfiles.template": "d $DIR\n"},
               sets=["DIR=/x\nR! /"])


# ---------------------------------------------------------------- host files in the render

def test_host_files_are_planned_with_the_values(tmp_path):
    manifest = json.dumps({"renameFiles": {"/etc/app.conf": "/etc/$NAME.conf"},
                           "installedFilesTemplate": ["/etc/web.conf"]})
    r = render(tmp_path, {"config.json": json.dumps(CONFIG), "manifest.json": manifest,
                          "hostfs/etc/app.conf": "port=$PORT\n"}, sets=["PORT=81"])
    assert r.rename_files == {"/etc/app.conf": "/etc/web.conf"}
    (entry,) = r.host_files
    assert entry.dest == "/etc/web.conf" and entry.content == b"port=81\n"


def test_exec_lines_quote_a_pid_file_with_blanks(tmp_path):
    r = render(tmp_path, {"config.json": json.dumps(CONFIG)}, sets=["RUN_DIRECTORY=/run/a b"])
    lines = r.unit.splitlines()
    assert ('ExecStart=/usr/sbin/runc run -d --pid-file '
            '"/run/a b/container-web.pid" \'web\'') in lines
    assert "PIDFile=/run/a b/container-web.pid" in lines


def test_exec_quote_follows_systemd_command_line_rules():
    from syscontainers.service.runtime import exec_quote
    assert exec_quote("/run/x.pid") == "/run/x.pid"
    assert exec_quote("/run/a b") == '"/run/a b"'
    assert exec_quote('/run/"q"\\x') == '"/run/\\"q\\"\\\\x"'
    assert exec_quote("/run/$HOME") == "/run/$$HOME"
    assert exec_quote("/run/a;b") == '"/run/a;b"'
    assert exec_quote("") == '""'


def test_percent_in_the_pid_file_is_refused(tmp_path):
    with pytest.raises(TemplateError, match="PIDFILE .* contains '%'"):
        render(tmp_path, {"config.json": json.dumps(CONFIG)}, sets=["RUN_DIRECTORY=/run/%i"])


def test_type_forking_only_in_detached_mode(tmp_path):
    """docs/templates.md: detached (runc run -d, a PID file) needs Type=forking; in foreground
    mode it would make systemd wait for a fork that never comes, then kill the service."""
    detached = render(tmp_path, {"config.json": json.dumps(CONFIG)}).unit.splitlines()
    assert "Type=forking" in detached and "PIDFile=/run/container-web.pid" in detached
    (tmp_path / "fg").mkdir()
    fg = render(tmp_path / "fg", {"config.json": json.dumps(CONFIG)}, runtime=OLD_RUNC).unit
    assert "Type=forking" not in fg and "ExecStart=/usr/sbin/runc run 'web'" in fg


@pytest.mark.parametrize("kind, files", [
    ("unit file", {"service.template": "[Service]\nExecStart=$EXEC_START\nEnvironment=X=$X\n"}),
    ("tmpfiles file", {"tmpfiles.template": "d /run/$X 0700 - - - -\n"}),
])
def test_nul_in_a_used_value_is_refused(tmp_path, kind, files):
    with pytest.raises(TemplateError) as e:
        render(tmp_path, {"config.json": json.dumps(CONFIG), **files}, sets=["X=a\0b"])
    assert str(e.value) == f"value of X contains a NUL character, invalid in the {kind}"


# ---------------------------------------------------------------- made precise by `make mutation`

def test_exec_commands_are_the_values_used_in_the_unit(tmp_path):
    from syscontainers.deploy.render import ExecCommands
    r = render(tmp_path, {"config.json": json.dumps(CONFIG)})
    v = r.values
    assert r.exec == ExecCommands(v["EXEC_START"], v["EXEC_STOP"], v["EXEC_STARTPRE"], v["EXEC_STOPPOST"])
    assert r.exec.stoppost == "/usr/sbin/runc delete 'web'" and r.exec.stop == ""
    (tmp_path / "fg").mkdir()
    fg = render(tmp_path / "fg", {"config.json": json.dumps(CONFIG)}, runtime=OLD_RUNC)
    assert fg.exec == ExecCommands("/usr/sbin/runc run 'web'", "/usr/sbin/runc kill 'web'", "", "")


def test_generated_tmpfiles_look_for_sources_in_the_targets_root(tmp_path):
    (tmp_path / "host/srv/only-in-this-root").mkdir(parents=True)
    cfg = dict(CONFIG, mounts=[
        {"destination": "/a", "type": "bind", "source": "/srv/only-in-this-root"},
        {"destination": "/b", "type": "bind", "source": "/srv/sc-test-missing"},
    ])
    r = render(tmp_path, {"config.json": json.dumps(cfg)}, uid=1000, gid=1001)
    assert r.tmpfiles == "d /srv/sc-test-missing 0700 1000 1001 - -\n"


def test_tmpfiles_quoting_of_every_special_character():
    from syscontainers.deploy.render import tmpfiles_for_missing
    paths = ["/plain", "/a b", '/q"x', "/back\\s", "/nl\nx", "/cr\rx", "/tab\tx", "/p%x", "/s'q"]
    assert tmpfiles_for_missing(paths, "1", "2").splitlines() == [
        "d /plain 0700 1 2 - -", 'd "/a b" 0700 1 2 - -', 'd "/q\\"x" 0700 1 2 - -',
        'd "/back\\\\s" 0700 1 2 - -', 'd "/nl\\nx" 0700 1 2 - -', 'd "/cr\\rx" 0700 1 2 - -',
        'd "/tab\\tx" 0700 1 2 - -', "d /p%%x 0700 1 2 - -", 'd "/s\'q" 0700 1 2 - -']


def test_config_json_is_written_with_four_space_indent(tmp_path):
    r = render(tmp_path, {"config.json.template": CONFIG_TEMPLATE}, sets=["PORT=1", "ADDTL_MOUNTS="])
    assert r.config_json.startswith('{\n    "ociVersion": "1.0.2",\n') and r.config_json.endswith("}\n")


def test_invalid_rendered_config_names_the_template_and_the_image(tmp_path):
    with pytest.raises(ConfigError) as e:
        render(tmp_path, {"config.json.template": CONFIG_TEMPLATE},
               sets=["PORT=1", 'ADDTL_MOUNTS=,{"destination": }'])
    assert str(e.value).startswith("config.json rendered from config.json.template of image "
                                   "example.com/web:1 is not valid JSON: ")


def test_carriage_return_in_a_unit_value_is_refused(tmp_path):
    unit = "[Service]\nExecStart=$EXEC_START\nEnvironment=X=$X\n"
    with pytest.raises(TemplateError) as e:
        render(tmp_path, {"config.json": json.dumps(CONFIG), "service.template": unit}, sets=["X=a\rb"])
    assert str(e.value) == "value of X contains a newline; it would add a line to the unit file"


def test_every_used_value_is_checked_even_after_a_missing_one(tmp_path):
    """A is missing (reported later by the renderer); B, after it, must still be checked."""
    unit = "[Service]\nExecStart=$EXEC_START\nEnvironment=A=$A B=$B\n"
    with pytest.raises(TemplateError) as e:
        render(tmp_path, {"config.json": json.dumps(CONFIG), "service.template": unit}, sets=["B=1\n2"])
    assert str(e.value) == "value of B contains a newline; it would add a line to the unit file"


def test_trailing_backslash_is_fine_in_tmpfiles(tmp_path):
    r = render(tmp_path, {"config.json": json.dumps(CONFIG), "tmpfiles.template": "d /run/$X 0700 - - - -\n"},
               sets=["X=a\\"])
    assert r.tmpfiles == "d /run/a\\ 0700 - - - -\n"


def test_user_mode_rewrites_only_wantedby_lines(tmp_path):
    template = ("[Unit]\nAfter=multi-user.target\nDescription=x=multi-user.target\n[Service]\n"
                "ExecStart=$EXEC_START\n[Install]\nWantedBy=multi-user.target\n")
    r = render(tmp_path, {"config.json": json.dumps(CONFIG), "service.template": template},
               user_mode=True, uid=1000, gid=1000)
    lines = r.unit.splitlines()
    assert "After=multi-user.target" in lines and "Description=x=multi-user.target" in lines
    assert "WantedBy=default.target" in lines


def test_foreground_template_as_the_last_section_and_with_braces(tmp_path):
    unit = "[Unit]\nDescription=x\n\n[Service]\nType=exec\nExecStart=${EXEC_START}"
    r = render(tmp_path, {"config.json": json.dumps(CONFIG), "service.template": unit})
    lines = r.unit.splitlines()
    assert "ExecStart=/usr/sbin/runc run -d --pid-file /run/container-web.pid 'web'" in lines
    assert "Type=exec" not in lines and lines.count("Type=forking") == 1
    assert lines[-3:] == ["Type=forking", "PIDFile=/run/container-web.pid",
                          "ExecStopPost=-/usr/sbin/runc delete --force 'web'"]
