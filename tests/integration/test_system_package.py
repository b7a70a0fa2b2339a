"""install --system-package (docs/templates.md, "Host files"; docs/operations.md, "System packages") with the real rpmbuild and rpm, against a real store.

- ``build`` runs through the CLI on this (Debian) machine: the RPM holds the container as a
  preinstalled one, and nothing else on the host changes.
- ``yes`` needs an rpm-based host: the decision is forced (``Packaging``) and rpm works on a
  throwaway root (``rpm --root R --initdb``; ``-i --nodeps``), so the real package database is
  never touched. The image has no container service, so install and uninstall need no
  systemd either. update and rollback do (daemon-reload): they run inside the systemd test
  host, through a small driver (``_sp``) that forces ``yes`` and an rpm root there.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path

import pytest

from syscontainers.deploy.hostfiles import HostFileConflict
from syscontainers.deploy.rpmpackage import HostFacts, RpmTool
from syscontainers.errors import SysContainersError
from syscontainers.lifecycle.install import InstallRequest, install
from syscontainers.lifecycle.remove import uninstall
from syscontainers.lifecycle.syspackage import Packaging
from syscontainers.lifecycle.update import UpdateRequest, update
from tests.fixtures.examples import example_spec
from tests.fixtures.images import Dir, ImageSpec, Symlink, build_oci_layout
from tests.integration.sc_host import CHECKOUTS, REPO_ROOT

pytestmark = [pytest.mark.root]

RPM_HOST = HostFacts(rpm_based=True, ostree_booted=False)


def rpm_query(*args: str) -> list[str]:
    return subprocess.run(["rpm", *args], capture_output=True, text=True, check=True).stdout.split("\n")


def host_files_spec(greeting: str = "hello", version: str = "3.2",
                    extra: dict | None = None) -> ImageSpec:
    """An image that only installs host files (noContainerService): a file, a template, a
    symlink and an empty directory under /etc/sc-sp (plus ``extra`` hostfs entries)."""
    return ImageSpec(
        layers=[{"etc/image-only": "1\n"}],
        exports={
            "manifest.json": json.dumps({"noContainerService": True,
                                         "defaultValues": {"GREETING": greeting},
                                         "installedFilesTemplate": ["/etc/sc-sp/app.conf"]}),
            "hostfs/etc/sc-sp/app.conf": "greeting=$GREETING\n",
            "hostfs/etc/sc-sp/static.txt": f"static {greeting}\n",
            "hostfs/etc/sc-sp/current": Symlink("static.txt"),
            "hostfs/etc/sc-sp/empty.d": Dir(),
            **(extra or {}),
        },
        labels={"atomic.type": "system", "version": version, "atomic.summary": "host files"},
    )


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    path = tmp_path_factory.mktemp("system-package") / "layout"
    build_oci_layout(example_spec(hostfs={"/etc/sc-sp-web/web.conf": "port=$PORT\n"},
                                  labels={"version": "1.4", "release": "2"}), path, "web")
    build_oci_layout(host_files_spec(), path, "files")
    build_oci_layout(host_files_spec("two", "4.0", {"hostfs/etc/sc-sp/new.txt": "new\n"}),
                     path, "files2")
    return path


@pytest.fixture
def rpm_root(tmp_path):
    """A throwaway root with its own rpm database (the machine's is never used)."""
    root = tmp_path / "rpmroot"
    (root / "etc").mkdir(parents=True)   # a host has /etc: the package must not own it
    subprocess.run(["rpm", "--root", str(root), "--initdb"], check=True, capture_output=True)
    return root


def host_state(paths) -> dict:
    """Everything install could touch under the test's paths."""
    def listing(p: Path):
        return sorted(str(x.relative_to(p)) for x in p.rglob("*")) if p.exists() else None
    return {
        # a history file records the attempt (docs/operations.md "History"): not a leftover
        "checkouts": sorted(e.name for e in paths.checkouts.iterdir()
                            if e.name not in (".storage", ".syscontainers")
                            and not e.name.endswith(".history"))
        if paths.checkouts.exists() else [],
        "tmp": listing(paths.tmp_dir),
        "units": listing(paths.units_dir), "tmpfiles": listing(paths.tmpfiles_dir),
    }


# ---------------------------------------------------------------------------- build

def test_build_writes_the_preinstalled_layout_and_changes_nothing(cli, store_paths, layout,
                                                                  tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(out)
    assert cli("pull", f"oci:{layout}:web").code == 0
    before = host_state(store_paths)
    r = cli("install", "--system-package=build", "--name", "spweb", "--set", "PORT=8111",
            "layout:web")
    assert r.code == 0, r.err
    rpms = list(out.iterdir())
    assert [p.name for p in rpms] == [f"atomic-container-spweb-1.4-2.{os.uname().machine}.rpm"]
    assert f"wrote {rpms[0]}" in r.out

    files = set(rpm_query("-qlp", str(rpms[0])))
    base = "/usr/lib/containers/atomic/spweb"
    assert {base, f"{base}/config.json", f"{base}/info", f"{base}/spweb.service",
            f"{base}/tmpfiles-spweb.conf", f"{base}/rootfs/bin/busybox", f"{base}/rootfs/srv/index.html",
            f"{base}/rootfs/exports/service.template",
            "/usr/lib/systemd/system/spweb.service", "/usr/lib/tmpfiles.d/spweb.conf",
            "/etc/sc-sp-web/web.conf"} <= files
    assert rpm_query("-qcp", str(rpms[0]))[0] == "/etc/sc-sp-web/web.conf"   # %config
    assert not [f for f in files if f.startswith("/etc/") and f != "/etc/sc-sp-web/web.conf"]
    name, version, release = rpm_query("-qp", "--qf", "%{NAME}\n%{VERSION}\n%{RELEASE}", str(rpms[0]))[:3]
    assert (name, version, release) == ("atomic-container-spweb", "1.4", "2")

    unit = _extract(rpms[0], "/usr/lib/systemd/system/spweb.service", tmp_path)
    assert f"WorkingDirectory={base}" in unit and "run -d --pid-file" in unit
    info = json.loads(_extract(rpms[0], f"{base}/info", tmp_path))
    assert info["system-package"] == "build" and info["values"]["DESTDIR"] == base
    assert info["values"]["PORT"] == "8111" and info["image"] == "layout:web"
    config = json.loads(_extract(rpms[0], f"{base}/config.json", tmp_path))
    assert config["root"] == {"path": "rootfs", "readonly": True}

    assert host_state(store_paths) == before          # no deployment, link, unit, tmpfiles, temp
    assert not Path("/etc/sc-sp-web").exists()        # no host file on the machine


def _extract(rpm: Path, path: str, tmp_path: Path) -> str:
    """One file's content from the package's payload (rpm2archive: the payload as a tar)."""
    import io
    import tarfile

    tgz = subprocess.run(["rpm2archive", "-"], stdin=open(rpm, "rb"), capture_output=True,
                         check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tgz)) as tar:
        return tar.extractfile(f".{path}").read().decode()


def test_build_of_an_image_not_pulled_yet_pulls_it(cli, store_paths, layout, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("install", "--system-package=build", f"oci:{layout}:files")
    assert r.code == 0, r.err
    rpm = next(tmp_path.glob("atomic-container-layout-files-3.2-1.*.rpm"))
    files = set(rpm_query("-qlp", str(rpm)))
    assert "/usr/lib/containers/atomic/layout-files/info" in files
    assert not any("/rootfs" in f for f in files)     # noContainerService: no rootfs kept
    assert "/usr/lib/systemd/system/layout-files.service" not in files
    assert {"/etc/sc-sp/app.conf", "/etc/sc-sp/current", "/etc/sc-sp/empty.d"} <= files


def test_yes_on_a_host_that_is_not_rpm_based_is_a_one_line_error(cli, layout):
    r = cli("install", "--system-package=yes", f"oci:{layout}:files")
    assert r.code == 2
    assert len(r.err.strip().splitlines()) == 1
    assert "--system-package=build" in r.err and "rpm" in r.err
    assert cli("images", "list", "--json").out.strip() in ("[]", "")   # nothing was pulled


# ---------------------------------------------------------------------------- yes (forced)

def _install_yes(store_paths, rpm_root, ref="layout:files", name="spfiles"):
    packaging = Packaging(RPM_HOST, RpmTool(rpm_root, ("--nodeps",)))
    messages: list[str] = []
    install(store_paths, InstallRequest(image=ref, name=name, system_package="yes"),
            messages.append, packaging=packaging)
    return packaging, messages


def test_yes_installs_host_files_through_rpm_and_uninstall_removes_it(cli, store_paths, layout,
                                                                      rpm_root):
    assert cli("pull", f"oci:{layout}:files").code == 0
    packaging, messages = _install_yes(store_paths, rpm_root)
    assert any("atomic-container-spfiles" in m for m in messages)
    assert packaging.rpm.is_installed("atomic-container-spfiles")
    etc = rpm_root / "etc" / "sc-sp"
    assert (etc / "app.conf").read_text() == "greeting=hello\n"
    assert os.readlink(etc / "current") == "static.txt" and (etc / "empty.d").is_dir()
    owned = set(rpm_query("--root", str(rpm_root), "-ql", "atomic-container-spfiles"))
    assert {"/etc/sc-sp", "/etc/sc-sp/app.conf", "/etc/sc-sp/empty.d"} <= owned
    assert "/etc" not in owned                          # existing dirs are shared, not owned

    dep = store_paths.checkouts / "spfiles.0"
    info = json.loads((dep / "info").read_text())
    assert info["rpm-installed"] == "atomic-container-spfiles.rpm"   # atomic's value
    assert info["system-package"] == "yes" and info["installed-files"] == []
    assert (dep / "atomic-container-spfiles.rpm").is_file()

    (etc / "app.conf").write_text("greeting=changed by the operator\n")
    uninstall(store_paths, "spfiles", lambda m: None, rpm=packaging.rpm)
    assert not packaging.rpm.is_installed("atomic-container-spfiles")
    assert not (etc / "current").exists() and not (etc / "empty.d").exists()
    # the operator's edit is not lost silently: rpm keeps it as .rpmsave
    assert (etc / "app.conf.rpmsave").read_text() == "greeting=changed by the operator\n"
    assert not dep.exists() and not (store_paths.checkouts / "spfiles").is_symlink()


def test_yes_never_clobbers_a_file_it_did_not_install(cli, store_paths, layout, rpm_root):
    assert cli("pull", f"oci:{layout}:files").code == 0
    (rpm_root / "etc" / "sc-sp").mkdir()
    (rpm_root / "etc" / "sc-sp" / "static.txt").write_text("the operator's\n")
    before = host_state(store_paths)
    with pytest.raises(HostFileConflict, match="/etc/sc-sp/static.txt"):
        _install_yes(store_paths, rpm_root)
    assert (rpm_root / "etc" / "sc-sp" / "static.txt").read_text() == "the operator's\n"
    assert not RpmTool(rpm_root).is_installed("atomic-container-spfiles")
    assert host_state(store_paths) == before


def test_update_of_a_yes_container_never_clobbers_a_file_it_did_not_install(
        cli, store_paths, layout, rpm_root):
    """The new package may replace the old one's files, not a file no package owns: refused
    before the switch (so no systemd is needed here), and nothing changed."""
    for tag in ("files", "files2"):
        assert cli("pull", f"oci:{layout}:{tag}").code == 0
    packaging, _ = _install_yes(store_paths, rpm_root)
    (rpm_root / "etc" / "sc-sp" / "new.txt").write_text("the operator's\n")
    before = host_state(store_paths)
    with pytest.raises(HostFileConflict, match="/etc/sc-sp/new.txt"):
        update(store_paths, UpdateRequest(name="spfiles", rebase="layout:files2"), lambda m: None,
               rpm=packaging.rpm)
    assert host_state(store_paths) == before            # no spfiles.1, no temporary dir left
    assert rpm_query("--root", str(rpm_root), "-q", "--qf", "%{VERSION}",
                     "atomic-container-spfiles")[0] == "3.2"
    assert (rpm_root / "etc" / "sc-sp" / "new.txt").read_text() == "the operator's\n"
    assert (rpm_root / "etc" / "sc-sp" / "static.txt").read_text() == "static hello\n"
    uninstall(store_paths, "spfiles", lambda m: None, rpm=packaging.rpm)


def test_yes_with_a_failing_rpmbuild_leaves_nothing(cli, store_paths, layout, rpm_root, tmp_path,
                                                    monkeypatch):
    assert cli("pull", f"oci:{layout}:files").code == 0
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "rpmbuild").write_text("#!/bin/sh\necho 'error: Bad exit status from build' >&2\nexit 1\n")
    (shim / "rpmbuild").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}:{os.environ['PATH']}")
    before = host_state(store_paths)
    with pytest.raises(SysContainersError, match="rpmbuild.*Bad exit status"):
        _install_yes(store_paths, rpm_root)
    assert host_state(store_paths) == before
    assert not (rpm_root / "etc" / "sc-sp").exists()
    assert not RpmTool(rpm_root).is_installed("atomic-container-spfiles")


def test_a_preinstalled_container_is_uninstalled_by_removing_its_package(cli, store_paths, layout,
                                                                          rpm_root, tmp_path,
                                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli("install", "--system-package=build", "--name", "sc-sp-pre",
               f"oci:{layout}:files").code == 0
    rpm_file = next(tmp_path.glob("atomic-container-sc-sp-pre-*.rpm"))
    rpm = RpmTool(rpm_root, ("--nodeps",))
    rpm.install(rpm_file)
    paths = dataclasses.replace(store_paths, preinstalled=rpm_root / "usr/lib/containers/atomic")
    assert (paths.preinstalled / "sc-sp-pre" / "info").is_file()
    messages: list[str] = []
    uninstall(paths, "sc-sp-pre", messages.append, rpm=rpm)
    assert not rpm.is_installed("atomic-container-sc-sp-pre")
    assert not (paths.preinstalled / "sc-sp-pre").exists()
    assert not (rpm_root / "etc" / "sc-sp" / "app.conf").exists()
    assert "removed the package atomic-container-sc-sp-pre" in messages[-1]


# ---------------------------------------------------------------------------- auto on Debian

@pytest.mark.systemd
@pytest.mark.registry
def test_auto_on_a_debian_host_copies_host_files_of_a_host_files_only_image(sc, registry,
                                                                         tmp_path_factory):
    """auto = plain copies here; a noContainerService image keeps rootfs/exports only, from
    which update and rollback install the other version's host files."""
    root = tmp_path_factory.mktemp("sp-files")
    refs = {}
    for tag, greeting in (("f1", "one"), ("f2", "two")):
        built = build_oci_layout(host_files_spec(greeting), root / tag, tag)
        refs[tag] = registry.push(built.layout, tag, "test/spfiles")
    sc.ok("install", "--name", "spf", refs["f1"])
    conf = sc.path("/etc/sc-sp/app.conf")
    assert conf.read_text() == "greeting=one\n"
    info = json.loads(sc.path(CHECKOUTS / "spf.0/info").read_text())
    assert info["system-package"] == "no" and info["rpm-installed"] is None
    assert "/etc/sc-sp/app.conf" in info["installed-files-checksum"]
    assert sorted(p.name for p in sc.path(CHECKOUTS / "spf.0/rootfs").iterdir()) == ["exports"]

    static = sc.path("/etc/sc-sp/static.txt")
    assert static.read_text() == "static one\n"
    sc.ok("update", "--rebase", refs["f2"], "spf")
    assert static.read_text() == "static two\n"
    assert conf.read_text() == "greeting=one\n"      # stored values win over new defaults
    sc.ok("rollback", "spf")
    assert static.read_text() == "static one\n"
    sc.ok("uninstall", "spf")
    assert not conf.exists() and not sc.exists("/etc/sc-sp")
    assert sc.traces("spf") == []


# ---------------------------------------------------------------------------- yes: update, rollback

# Runs the lifecycle inside the test host with `yes` forced and rpm under ROOT:
#   VERB NAME ROOT [REF|-] [KEY=VALUE...]
# VERB: install, update, rollback, uninstall, or reconcile (what each verb does first after a
# crash: the host made to match the deployment the NAME link names).
SP_DRIVER = """
import sys
from pathlib import Path
from syscontainers.deploy.rpmpackage import HostFacts, RpmTool
from syscontainers.lifecycle.install import InstallRequest, install
from syscontainers.lifecycle.remove import uninstall
from syscontainers.lifecycle.switch import reconcile
from syscontainers.lifecycle.syspackage import Packaging
from syscontainers.lifecycle.update import UpdateRequest, rollback, update
from syscontainers.paths import resolve_paths

verb, name, root, ref, *sets = sys.argv[1:] + ["-"] * (4 - len(sys.argv[1:]))
paths, rpm = resolve_paths(False), RpmTool(Path(root), ("--nodeps",))
if verb == "install":
    install(paths, InstallRequest(image=ref, name=name, system_package="yes"), print,
            packaging=Packaging(HostFacts(rpm_based=True, ostree_booted=False), rpm))
elif verb == "update":
    values = dict(s.split("=", 1) for s in sets)
    update(paths, UpdateRequest(name=name, rebase=None if ref == "-" else ref, set_values=values), print, rpm=rpm)
elif verb == "rollback":
    rollback(paths, name, print, rpm=rpm)
elif verb == "reconcile":
    reconcile(paths, name, print, rpm=rpm)
else:
    uninstall(paths, name, print, rpm=rpm)
"""


@pytest.mark.systemd
@pytest.mark.registry
def test_yes_update_and_rollback_install_the_other_deployments_package(sc, registry,
                                                                       tmp_path_factory):
    """install (yes) v1 -> update --rebase v2 -> rollback -> an update killed after rpm -U,
    reconciled -> update --set (same version, rebuilt) -> uninstall: each step leaves the
    package of the live deployment installed."""
    root = tmp_path_factory.mktemp("sp-yes")
    refs = {}
    for tag, greeting, version in (("y1", "one", "1.0"), ("y2", "two", "2.0")):
        built = build_oci_layout(host_files_spec(greeting, version), root / tag, tag)
        refs[tag] = registry.push(built.layout, tag, "test/spyes")
    rpmroot = "/var/tmp/sc-sp-rpmroot"
    sc.host.run("mkdir", "-p", f"{rpmroot}/etc")
    sc.host.run("rpm", "--root", rpmroot, "--initdb")
    python = str(REPO_ROOT / ".venv/bin/python")

    def sp(*args: str, check: bool = True, env: dict | None = None) -> int:
        cp = sc.host.run(python, "-c", SP_DRIVER, args[0], "spy", rpmroot, *args[1:],
                         check=False, env=env)
        assert cp.returncode == 0 or not check, f"{args}: {cp.stdout}{cp.stderr}"
        return cp.returncode

    def package() -> str:
        cp = sc.host.run("rpm", "--root", rpmroot, "-q", "--qf", "%{VERSION}",
                         "atomic-container-spy", check=False)
        return cp.stdout if cp.returncode == 0 else "not installed"

    etc = sc.path(f"{rpmroot}/etc/sc-sp")
    try:
        sp("install", refs["y1"])
        assert package() == "1.0" and (etc / "static.txt").read_text() == "static one\n"
        sp("update", refs["y2"])
        assert package() == "2.0" and (etc / "static.txt").read_text() == "static two\n"
        assert (etc / "app.conf").read_text() == "greeting=one\n"   # stored values win
        assert os.readlink(sc.path(CHECKOUTS / "spy")).endswith("spy.1")
        info = json.loads(sc.path(CHECKOUTS / "spy.1/info").read_text())
        assert (info["rpm-installed"], info["system-package"], info["installed-files"]) == \
            ("atomic-container-spy.rpm", "yes", [])
        assert sc.path(CHECKOUTS / "spy.1/atomic-container-spy.rpm").is_file()

        sp("rollback")                                  # an older version: --oldpackage
        assert package() == "1.0" and (etc / "static.txt").read_text() == "static one\n"
        assert os.readlink(sc.path(CHECKOUTS / "spy")).endswith("spy.0")
        assert sp("update", refs["y2"], check=False,
                  env={"SYSCONTAINERS_CRASH_AT": "switch-hostfiles"}) == -9
        assert package() == "2.0" and os.readlink(sc.path(CHECKOUTS / "spy")).endswith("spy.0")
        sp("reconcile")                                 # the link's deployment's package back
        assert package() == "1.0" and (etc / "static.txt").read_text() == "static one\n"
        sp("update", "-", "GREETING=three")             # the same version again: --replacepkgs
        assert package() == "1.0" and (etc / "app.conf").read_text() == "greeting=three\n"

        sp("uninstall")
        assert package() == "not installed"
        assert not sc.exists(f"{rpmroot}/etc/sc-sp") and not sc.exists(CHECKOUTS / "spy.0")
        assert sc.traces("spy") == []
    finally:
        sp("uninstall", check=False)
        sc.host.run("rm", "-rf", rpmroot)


def test_yes_update_keeps_an_operators_edit_and_writes_rpmnew(sc, registry, tmp_path_factory):
    """docs/operations.md: an operator's edit of a package-owned host file survives an update
    (%config(noreplace)); the new version is written next to it as FILE.rpmnew."""
    root = tmp_path_factory.mktemp("sp-rpmnew")
    refs = {}
    for tag, greeting, version in (("n1", "one", "1.0"), ("n2", "two", "2.0")):
        built = build_oci_layout(host_files_spec(greeting, version), root / tag, tag)
        refs[tag] = registry.push(built.layout, tag, "test/sprpmnew")
    rpmroot = "/var/tmp/sc-sp-rpmnew-root"
    sc.host.run("mkdir", "-p", f"{rpmroot}/etc")
    sc.host.run("rpm", "--root", rpmroot, "--initdb")
    python = str(REPO_ROOT / ".venv/bin/python")

    def sp(*args: str, check: bool = True) -> None:
        cp = sc.host.run(python, "-c", SP_DRIVER, args[0], "spn", rpmroot, *args[1:], check=False)
        assert cp.returncode == 0 or not check, f"{args}: {cp.stdout}{cp.stderr}"

    etc = sc.path(f"{rpmroot}/etc/sc-sp")
    try:
        sp("install", refs["n1"])
        (etc / "static.txt").write_text("the operator's edit\n")
        sp("update", refs["n2"])
        assert (etc / "static.txt").read_text() == "the operator's edit\n"
        assert (etc / "static.txt.rpmnew").read_text() == "static two\n"
    finally:
        sp("uninstall", check=False)
        sc.host.run("rm", "-rf", rpmroot)
