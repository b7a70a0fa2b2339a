"""``lint DIR`` (docs/image-authors.md "Lint your image"): the project's example image and
real-world-like exports lint clean, and each planted error is reported with its code.

Real tools: ``systemd-analyze verify`` and ``systemd-tmpfiles`` of this Debian 12 machine
check the rendered unit and tmpfiles lines (no systemd needs to run). No root and no store.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from syscontainers.cli.__main__ import main
from syscontainers.lifecycle.lint import containerfile_labels, directory_subject
from syscontainers.deploy.lint import lint_exports
from tests.fixtures.examples import example_spec
from tests.fixtures.realworld import (etcd_exports, flannel_exports, kubelet_exports,
                                      write_exports)


def lint_dir(path):
    result = lint_exports(directory_subject(path))
    return result


def codes(result, severity):
    return sorted(f.code for f in result.findings if f.severity == severity)


def example_exports(**kwargs) -> dict[str, str]:
    return dict(example_spec(**kwargs).exports)


def test_example_image_lints_clean(tmp_path):
    write_exports(tmp_path, example_exports())
    result = lint_dir(tmp_path)
    assert result.findings == ()
    assert {p.name for p in result.privileges} == {"host-network", "rw-binds"}
    assert result.notes == ("labels not checked: no stored image and no Containerfile/Dockerfile",)


def test_example_with_required_variable_warns_only(tmp_path):
    write_exports(tmp_path, example_exports(required=("TOKEN",)))
    result = lint_dir(tmp_path / "exports")          # the exports dir itself works too
    assert [(f.severity, f.code) for f in result.findings] == [("warning", "variable-no-default")]
    assert "--set TOKEN=VALUE" in result.findings[0].message


@pytest.mark.parametrize("make,dangerous", [
    (etcd_exports, set()),
    (flannel_exports, set()),
    (kubelet_exports, {"capabilities", "host-namespaces"}),
])
def test_real_world_layouts_have_no_errors(tmp_path, make, dangerous):
    write_exports(tmp_path, make())
    result = lint_dir(tmp_path)
    assert codes(result, "error") == [], result.findings
    assert {p.name for p in result.privileges if p.dangerous} == dangerous
    allow = sorted(f.message.split("--allow=")[1].split(":")[0] for f in result.findings
                   if f.code == "privilege-needs-allow")
    assert allow == sorted(dangerous)


def test_kubelet_layout_renames_and_renders_its_host_file(tmp_path):
    write_exports(tmp_path, kubelet_exports())
    result = lint_dir(tmp_path)
    files = next(p for p in result.privileges if p.name == "host-files")
    assert "/etc/kubernetes/lint-example.conf" in files.detail
    assert codes(result, "warning") == ["privilege-needs-allow", "privilege-needs-allow",
                                        "variable-no-default"]


def _set(exports, path, text):
    exports[path] = text


def _manifest(exports, **changes):
    data = json.loads(exports["manifest.json"])
    data.update(changes)
    exports["manifest.json"] = json.dumps(data, indent=2)


def _replace(exports, path, old, new):
    assert old in exports[path]
    exports[path] = exports[path].replace(old, new)


# One planted error each: (name, how, the one error code expected, the line when known)
PLANTED = [
    ("manifest-json", lambda e: _set(e, "manifest.json", '{"defaultValues": {'),
     "manifest-invalid-json", None),
    ("manifest-type", lambda e: _manifest(e, defaultValues={"PORT": ["8080"]}),
     "manifest-invalid-key", 3),
    ("manifest-bool", lambda e: _manifest(e, noContainerService="no"),
     "manifest-invalid-key", 6),
    ("config-syntax", lambda e: _replace(e, "config.json.template", '"hostname"', '"hostname" "x",'),
     "config-invalid", None),
    ("config-readonly", lambda e: _replace(e, "config.json.template", '"readonly": true',
                                           '"readonly": false'), "config-invalid", None),
    ("config-root-path", lambda e: _replace(e, "config.json.template", '"path": "rootfs"',
                                            '"path": "/"'), "config-invalid", None),
    ("config-type", lambda e: _replace(e, "config.json.template", '"cwd": "/"', '"cwd": 1'),
     "config-invalid", None),
    ("shipped-config", lambda e: _set(e, "config.json", '{"root": {"path": "rootfs"}}'),
     "config-invalid", None),
    ("dollar", lambda e: _replace(e, "service.template", "(syscontainers example)", "costs $5"),
     "template-invalid", 2),
    ("unit-key", lambda e: _replace(e, "service.template", "Restart=on-failure",
                                    "Restart=on-failure\nRestartSecs=5"), "unit-invalid", 11),
    ("unit-value", lambda e: _replace(e, "service.template", "Restart=on-failure",
                                      "Restart=sometimes"), "unit-invalid", 10),
    ("unit-newline", lambda e: (_replace(e, "service.template", "(syscontainers example)", "$DESC"),
                                _manifest(e, defaultValues={"PORT": "8080", "DESC": "a\nb"})),
     "unit-value-invalid", None),
    ("tmpfiles-type", lambda e: _set(e, "tmpfiles.template", "K /var/lib/x 0700 - - -\n"),
     "tmpfiles-invalid", 1),
    ("tmpfiles-relative", lambda e: _set(e, "tmpfiles.template", "d\tvar/lib/$NAME 0700 - - -\n"),
     "tmpfiles-invalid", 1),
    ("tmpfiles-mode", lambda e: _set(e, "tmpfiles.template", "\nd /var/lib/$NAME 07x0 - - -\n"),
     "tmpfiles-invalid", 2),
    ("hostfs-proc", lambda e: _set(e, "hostfs/proc/sys/kernel/x", "1\n"), "hostfs-virtual-fs", None),
    ("hostfs-lib", lambda e: _set(e, "hostfs/lib", "not a dir\n"), "hostfs-merged-usr", None),
    ("rename-path", lambda e: (_set(e, "hostfs/etc/a.conf", "a\n"),
                               _manifest(e, renameFiles={"/etc/a.conf": "/etc/../$NAME"})),
     "hostfs-invalid", None),
    ("hostfs-template-dollar", lambda e: (_set(e, "hostfs/etc/a.conf", "a=$UNSET_NOWHERE $\n"),
                                          _manifest(e, installedFilesTemplate=["/etc/a.conf"])),
     "hostfs-invalid", None),
    ("bind-source", lambda e: _set(e, "tmpfiles.template", "d /var/lib/other 0700 - - - -\n"),
     "bind-source-not-created", None),
    ("manifest-array", lambda e: _set(e, "manifest.json", "[]"), "manifest-not-object", None),
    ("hostfs-file", lambda e: _set(e, "hostfs", "a file\n"), "hostfs-not-directory", None),
    ("not-utf8", lambda e: _set(e, "service.template", b"[Unit]\nDescription=\xff\n"),
     "exports-file-invalid", None),
]


@pytest.mark.parametrize("name,plant,code,line", PLANTED, ids=[p[0] for p in PLANTED])
def test_each_planted_error_is_reported(tmp_path, name, plant, code, line):
    exports = example_exports()
    plant(exports)
    write_exports(tmp_path, exports)
    result = lint_dir(tmp_path)
    errors = [f for f in result.findings if f.severity == "error"]
    assert [f.code for f in errors] == [code], result.findings
    if line is not None:
        assert errors[0].where.endswith(f":{line}"), errors[0]


# One planted warning each (no error): (name, how, the warning codes expected)
WARNED = [
    ("both-configs", lambda e: _set(e, "config.json", e["config.json.template"].replace(
        "$NAME", "x").replace("$PORT", "1").replace("${STATE_DIRECTORY}", "/var/lib")
        .replace("$$", "$")), {"config-template-ignored"}),
    ("no-config", lambda e: e.pop("config.json.template"), {"config-missing", "variable-unused"}),
    ("no-service", lambda e: (_manifest(e, noContainerService=True)),
     {"service-template-ignored", "nothing-installed"}),
    ("unit-command", lambda e: _replace(e, "service.template", "ExecStartPre=$EXEC_STARTPRE",
                                        "ExecStartPre=/opt/no-such-tool --prepare"),
     {"unit-command-missing"}),
    ("unit-obsolete", lambda e: _replace(e, "service.template", "Restart=on-failure",
                                         "Restart=on-failure\nStandardOutput=syslog"),
     {"unit-warning"}),
    ("tmpfiles-user", lambda e: _set(e, "tmpfiles.template",
                                     "d ${STATE_DIRECTORY}/$NAME 0700 no-such-user-lint - -\n"),
     {"tmpfiles-warning"}),
    ("dangerous", lambda e: _replace(e, "config.json.template", '"CAP_KILL"', '"CAP_SYS_ADMIN"'),
     {"privilege-needs-allow"}),
]


@pytest.mark.parametrize("name,plant,expected", WARNED, ids=[w[0] for w in WARNED])
def test_each_planted_warning_is_reported(tmp_path, name, plant, expected):
    exports = example_exports()
    plant(exports)
    write_exports(tmp_path, exports)
    result = lint_dir(tmp_path)
    assert codes(result, "error") == [], result.findings
    assert set(codes(result, "warning")) == expected, result.findings


def test_symlinked_template_is_an_error_and_not_followed(tmp_path):
    top = write_exports(tmp_path, example_exports())
    (top / "service.template").unlink()
    (top / "service.template").symlink_to("/etc/passwd")
    result = lint_dir(tmp_path)
    errors = [f for f in result.findings if f.severity == "error"]
    assert [(f.code, f.where) for f in errors] == [("exports-file-invalid", "exports/service.template")]
    assert "root:" not in json.dumps([f.as_dict() for f in result.findings])


def test_several_errors_are_all_collected(tmp_path):
    exports = example_exports()
    _replace(exports, "config.json.template", '"readonly": true', '"readonly": false')
    _replace(exports, "service.template", "Restart=on-failure", "Restart=sometimes")
    _set(exports, "tmpfiles.template", "K /x\n")
    _manifest(exports, useLinks="yes", defaultValues={"PORT": "1", "UNUSED": "x", "NAME": "n"},
              renameFiles={"/etc/none": "/etc/$NAME"}, installedFilesTemplate=["/etc/nothere"],
              colour="blue")
    _set(exports, "config.json.templ", "{}")
    write_exports(tmp_path, exports)
    result = lint_dir(tmp_path)
    assert codes(result, "error") == ["config-invalid", "manifest-invalid-key", "tmpfiles-invalid",
                                      "unit-invalid"]
    assert codes(result, "warning") == ["exports-unknown-file", "manifest-unknown-key",
                                        "rename-source-missing", "variable-default-ignored",
                                        "variable-unused"]
    unknown = next(f for f in result.findings if f.code == "manifest-unknown-key")
    assert "'colour'" in unknown.message


def test_health_check_is_a_known_manifest_key(tmp_path):
    """healthCheck is documented in docs/templates.md: never an unknown key (its schema is the
    install's parser's business, checked through it like every other key)."""
    exports = example_exports()
    _manifest(exports, healthCheck={"command": ["/bin/true"]})
    write_exports(tmp_path, exports)
    assert "manifest-unknown-key" not in codes(lint_dir(tmp_path), "warning")


def test_author_warnings(tmp_path):
    exports = example_exports()
    _replace(exports, "service.template", "Type=forking\n", "")
    _set(exports, "hostfs/lib/modules-load.d/x.conf", "x\n")
    _set(exports, "hostfs/run/x", "x\n")
    _set(exports, "hostfs/etc/passwd", "x\n")
    _set(exports, "hostfs/etc/a.conf", "a\n")
    _manifest(exports, installedFilesTemplate=["/etc/b.conf"])
    write_exports(tmp_path, exports)
    result = lint_dir(tmp_path)
    assert codes(result, "error") == []
    found = {(f.code, f.where) for f in result.findings}
    assert found == {
        ("unit-not-forking", "exports/service.template"),
        ("hostfs-merged-usr", "exports/hostfs/lib/modules-load.d/x.conf"),
        ("hostfs-volatile", "exports/hostfs/run/x"),
        ("hostfs-exists-on-host", "exports/hostfs/etc/passwd"),
        ("template-file-missing", "exports/manifest.json"),
    }


def test_run_once_and_no_service_layouts(tmp_path):
    (tmp_path / "Containerfile").write_text(
        'FROM scratch\n# comment\nLABEL atomic.type=system \\\n  atomic.run=once name=job '
        'version=1 summary="a one-off job"\n')
    exports = example_exports()
    _replace(exports, "config.json.template", '"readonly": true', '"readonly": false')
    _set(exports, "hostfs/etc/job.conf", "x\n")
    write_exports(tmp_path, exports)
    result = lint_dir(tmp_path)     # run-once: a writable root is fine, no unit, no host files
    assert {f.code for f in result.findings} == {"service-template-ignored",
                                                 "runonce-hostfs-ignored"}
    assert containerfile_labels(tmp_path)["summary"] == "a one-off job"


def test_labels_from_a_dockerfile(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM x\nLABEL atomic.type=app\nLABEL atomic.run maybe\n")
    write_exports(tmp_path, example_exports())
    result = lint_dir(tmp_path)
    messages = [f.message for f in result.findings if f.where == "labels"]
    assert [f.code for f in result.findings] == ["label-invalid", "label-invalid", "label-missing",
                                                 "label-missing", "label-missing"]
    assert any("atomic.type is 'app'" in m for m in messages)
    assert any("atomic.run is 'maybe'" in m for m in messages)


def test_exports_that_is_a_symlink_is_an_error(tmp_path):
    from syscontainers.deploy.lint import LintSubject
    write_exports(tmp_path / "real", example_exports())
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "rootfs" / "exports").symlink_to(tmp_path / "real" / "exports")
    result = lint_exports(LintSubject(exports=tmp_path / "rootfs" / "exports", label="x",
                                      labels={}))
    assert [(f.severity, f.code) for f in result.findings if f.where == "exports"] == [
        ("error", "exports-not-directory")]


def test_no_exports_is_a_usage_error(tmp_path, capsys):
    assert main(["lint", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has neither an exports/ directory" in err[0]
    assert main(["lint", str(tmp_path / "nothere/x")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path}/nothere/x: no such directory\n"
    (tmp_path / "Containerfile").write_text("FROM x\n")
    assert main(["lint", str(tmp_path / "Containerfile")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path}/Containerfile: not a directory\n"


def test_cli_exit_codes_and_json(tmp_path, capsys):
    good, bad = tmp_path / "good", tmp_path / "bad"
    write_exports(good, example_exports(required=("TOKEN",)))
    exports = example_exports()
    _replace(exports, "config.json.template", '"readonly": true', '"readonly": false')
    write_exports(bad, exports)
    assert main(["lint", str(good)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1].split() == ["SEVERITY", "CODE", "WHERE", "MESSAGE"]
    assert "0 error(s), 1 warning(s)" in out
    assert main(["lint", "--json", str(bad)]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["errors"] == 1 and data["source"] == f"directory {bad}"
    assert data["findings"][0] == {
        "severity": "error", "code": "config-invalid", "where": "exports/config.json.template",
        "message": "Invalid exports/config.json.template: Only readonly images are supported"}
    assert {p["name"] for p in data["privileges"]} == {"host-network", "rw-binds"}


@pytest.mark.root
def test_directory_lint_needs_no_root():
    """As the nobody user, with no store anywhere: a DIR lint reads only the directory."""
    import shutil
    import subprocess
    import sys
    import tempfile
    top = Path(tempfile.mkdtemp(prefix="sc-lint-", dir="/tmp"))
    try:
        write_exports(top, example_exports())
        for d in [top, *top.rglob("*")]:
            os.chmod(d, 0o755 if d.is_dir() else 0o644)
        src = Path(__file__).resolve().parents[2] / "src"
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            sys.executable, "-m", "syscontainers.cli", "lint", "--json", str(top)],
                           capture_output=True, text=True,
                           env={"PYTHONPATH": str(src), "HOME": "/nonexistent", "PATH": "/usr/bin:/bin"})
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["findings"] == []
        # the systemd tools ran as that user too: a broken unit and tmpfiles line are found
        exports = example_exports()
        _replace(exports, "service.template", "Restart=on-failure", "Restart=sometimes")
        _set(exports, "tmpfiles.template", "K /x\n")
        write_exports(top, exports)
        for d in [top, *top.rglob("*")]:
            os.chmod(d, 0o755 if d.is_dir() else 0o644)
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            sys.executable, "-m", "syscontainers.cli", "lint", "--json", str(top)],
                           capture_output=True, text=True,
                           env={"PYTHONPATH": str(src), "HOME": "/nonexistent", "PATH": "/usr/bin:/bin"})
        assert r.returncode == 1, r.stderr
        assert [f["code"] for f in json.loads(r.stdout)["findings"]] == ["unit-invalid",
                                                                         "tmpfiles-invalid"]
    finally:
        shutil.rmtree(top)


def test_the_image_authors_guide_example_lints_clean(tmp_path):
    """The files of docs/image-authors.md "A complete example" (fenced blocks whose info
    string names the file), written out as a build context: no finding at all."""
    import re
    guide = (Path(__file__).resolve().parents[2] / "docs" / "image-authors.md").read_text()
    blocks = re.findall(r"^```\w+ (\S+)\n(.*?)^```$", guide, flags=re.M | re.S)
    assert sorted(name for name, _ in blocks) == [
        "Containerfile", "exports/config.json.template", "exports/manifest.json",
        "exports/service.template", "exports/tmpfiles.template"]
    for name, text in blocks:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    result = lint_dir(tmp_path)
    assert (result.findings, result.notes) == ((), ())
    assert containerfile_labels(tmp_path)["summary"] == "busybox httpd as a host service"
