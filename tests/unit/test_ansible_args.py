"""The collection's option -> CLI mapping (ansible/.../module_utils/syscontainers.py) and the
container module's decisions, without hosts (docs/fleet.md, "Options"). The modules on real
hosts: tests/integration/test_fleet.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "ansible"))

from ansible_collections.syscontainers.syscontainers.plugins.module_utils import (  # noqa: E402
    syscontainers as m)

COLLECTION = REPO / "ansible" / "ansible_collections" / "syscontainers" / "syscontainers"


def params(**kw):
    base = {"name": "web", "image": "reg:5000/web:1.0", "secret_values": None, "allow": None,
            "tls_verify": True, "src_creds": None, "force": False, "rootfs": None,
            "controlled": False, "timeout": None, "auto_update": None}
    base.update(kw)
    return base


def test_values_as_dict_or_atomic_list():
    assert m.values_dict({"PORT": 8080, "DEBUG": True}) == {"PORT": "8080", "DEBUG": "true"}
    assert m.values_dict(["PORT=8080", "EMPTY=", "URL=a=b"]) == {"PORT": "8080", "EMPTY": "",
                                                                "URL": "a=b"}
    assert m.values_dict(None) == {}
    with pytest.raises(m.ArgumentError, match=r"^values: expected NAME=VALUE, got 'PORT'$"):
        m.values_dict(["PORT"])
    with pytest.raises(m.ArgumentError, match=r"^values: expected NAME=VALUE, got '=1'$"):
        m.values_dict(["=1"])


def test_secrets_go_on_stdin_never_on_the_command_line():
    args, stdin = m.secret_args({"TOKEN": "s3cr3t", "A": "x"})
    assert args == ["--set-secret", "A", "--set-secret", "TOKEN"]
    assert stdin == "x\ns3cr3t\n"
    assert m.secret_args(None) == ([], None)
    full = m.install_args(params(secret_values={"TOKEN": "s3cr3t"}), {"PORT": "1"})
    assert "s3cr3t" not in " ".join(full)
    with pytest.raises(m.ArgumentError, match="the value of T has a line break"):
        m.secret_args({"T": "a\nb"})
    with pytest.raises(m.ArgumentError, match="^PORT given in both values and secret_values$"):
        m.check_overlap({"PORT": "1"}, {"PORT": "2"})


def test_install_update_and_check_arguments():
    p = params(allow=["hooks", "rw-binds"], tls_verify=False, health_url="http://127.0.0.1:1/",
               health_retries=3, auto_update="registry", rootfs="/srv/root", force=True)
    assert m.install_args(p, {"PORT": "1", "A": "2"}) == [
        "install", "--name", "web", "--set", "A=2", "--set", "PORT=1",
        "--allow", "hooks,rw-binds", "--tls-verify", "false",
        "--health-url", "http://127.0.0.1:1/", "--health-retries", "3",
        "--auto-update=registry", "--remote", "/srv/root", "--force", "reg:5000/web:1.0"]
    assert m.install_args(params(), {}, display=True)[-2:] == ["--display", "reg:5000/web:1.0"]
    u = m.update_args(params(controlled=True, timeout=4.0), {"PORT": "1"}, "reg:5000/web:2.0", False)
    assert u == ["update", "web", "--rebase", "reg:5000/web:2.0", "--set", "PORT=1",
                 "--controlled", "--timeout", "4.0"]
    assert m.update_args(params(timeout=4.0), {}, None, True) == ["update", "web", "--offline"]
    c = m.check_args(params(src_creds="u:p"), {}, None, True, True)
    assert c == ["update", "web", "--check", "--json", "--offline", "--src-creds", "u:p", "--diff"]


def test_mode_is_a_global_flag():
    assert m.mode_args("system") == ["--system"]
    assert m.mode_args("user") == ["--user"]
    assert m.mode_args(None) == []
    with pytest.raises(m.ArgumentError):
        m.mode_args("both")


@pytest.mark.parametrize("ref, shown", [
    ("busybox", "docker.io/library/busybox:latest"),
    ("docker://busybox:1", "docker.io/library/busybox:1"),
    ("docker.io/busybox", "docker.io/library/busybox:latest"),
    ("quay.io/org/app", "quay.io/org/app:latest"),
    ("127.0.0.1:5000/fleet/web:2.0", "127.0.0.1:5000/fleet/web:2.0"),
    ("localhost/web", "localhost/web:latest"),
    ("reg:5000/web@sha256:" + "a" * 64, "reg:5000/web@sha256:" + "a" * 64),
    ("oci:/srv/layout:1.0", "oci:/srv/layout:1.0"),
    ("oci-archive:/srv/web.tar", "oci-archive:/srv/web.tar"),
])
def test_image_names_as_list_shows_them(ref, shown):
    assert m.normalize_image(ref) == shown


def test_error_line_is_the_clis_one_line():
    assert m.error_line("Pulling x\nerror: image x not found\n") == "image x not found"
    assert m.error_line("", "last words\n") == "last words"
    assert m.error_line("", "") == "no output"


def test_needs_update_from_the_check_report():
    assert not m.needs_update({"update_available": False, "values": {}, "files": []})
    assert m.needs_update({"update_available": True, "values": {}, "files": None})
    assert m.needs_update({"update_available": False, "values": {"PORT": ["1", "2"]}, "files": []})
    assert m.needs_update({"update_available": False, "values": {}, "files": ["unit"]})


ROW = {"name": "web", "image": "reg:5000/web:1.0", "status": "running"}


@pytest.mark.parametrize("state, row, image, values, steps", [
    ("present", None, "reg:5000/web:1.0", False, ("install",)),
    ("started", None, "reg:5000/web:1.0", False, ("install", "start")),
    ("present", ROW, "reg:5000/web:1.0", False, ()),
    ("present", ROW, None, False, ()),
    ("started", ROW, "reg:5000/web:1.0", False, ("start",)),
    ("stopped", ROW, None, False, ("stop",)),
    ("present", ROW, "reg:5000/web:1.0", True, ("check-update",)),
    ("started", ROW, "reg:5000/web:2.0", False, ("check-update", "start")),
    ("latest", ROW, None, False, ("check-update",)),
    ("absent", ROW, None, False, ("uninstall",)),
    ("absent", None, None, False, ()),
    ("rolled_back", ROW, None, False, ("rollback",)),
])
def test_plan(state, row, image, values, steps):
    assert m.plan(state, row, image, values) == steps


def test_plan_configures_a_different_auto_update_policy_without_an_update():
    row = {"image": "reg.example/web:1", "auto_update": "off"}
    assert m.plan("present", row, "reg.example/web:1", False, auto_update="registry") == ("configure",)
    assert m.plan("present", {**row, "auto_update": "registry"}, "reg.example/web:1", False,
                  auto_update="registry") == ()
    assert m.plan("present", None, "reg.example/web:1", False, auto_update="registry") == ("install",)


def test_module_docs_match_their_argument_specs():
    """ansible-doc reads every module's DOCUMENTATION (a broken doc fails here too)."""
    env = {"ANSIBLE_COLLECTIONS_PATH": str(REPO / "ansible"), "PATH": "/usr/bin:/bin",
           "ANSIBLE_HOME": "/tmp/sc-ansible-doc-home"}
    for name in ("syscontainers_container", "syscontainers_image", "syscontainers_facts"):
        cp = subprocess.run([str(REPO / ".venv/bin/ansible-doc"), "--json",
                             f"syscontainers.syscontainers.{name}"],
                            capture_output=True, text=True, env=env, timeout=120)
        assert cp.returncode == 0, cp.stderr
        doc = json.loads(cp.stdout)[f"syscontainers.syscontainers.{name}"]["doc"]
        assert doc["module"] == name


def test_collection_builds(tmp_path):
    cp = subprocess.run([str(REPO / ".venv/bin/ansible-galaxy"), "collection", "build",
                         "--output-path", str(tmp_path), str(COLLECTION)],
                        capture_output=True, text=True, timeout=120,
                        env={"PATH": "/usr/bin:/bin", "ANSIBLE_HOME": str(tmp_path / "home")})
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert (tmp_path / "syscontainers-syscontainers-0.1.0.tar.gz").is_file()


def test_collection_and_examples_pass_ansible_lint(tmp_path):
    """ansible-lint (production profile) for the collection and the example playbooks.
    (`ansible-test sanity` bootstraps pip from the internet: not possible offline; see
    docs/fleet.md, "Lint".)"""
    cp = subprocess.run([str(REPO / ".venv/bin/ansible-lint"), "--offline", "--nocolor",
                         "ansible_collections/syscontainers/syscontainers", "examples"],
                        cwd=REPO / "ansible", capture_output=True, text=True, timeout=300,
                        env={"PATH": f"{REPO / '.venv/bin'}:/usr/bin:/bin",
                             "HOME": str(tmp_path), "ANSIBLE_HOME": str(tmp_path / "home"),
                             "ANSIBLE_COLLECTIONS_PATH": str(REPO / "ansible")})
    assert cp.returncode == 0, cp.stdout[-3000:] + cp.stderr[-3000:]
    assert "0 failure(s), 0 warning(s)" in cp.stdout + cp.stderr
