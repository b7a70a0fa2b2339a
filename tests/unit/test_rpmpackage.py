"""--system-package (docs/templates.md, "Host files"; docs/operations.md, "System packages"): the decision table, host probing, package metadata and the spec.

The spec tests build with the real ``rpmbuild`` (no root needed, ~0.1 s): hostile label text
must neither run a command nor open a spec section.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from syscontainers.deploy.exports import Exports
from syscontainers.deploy.rpmpackage import (
    HostFacts, PackageFile, PackagingError, build_rpm, decide_system_package, installed_package,
    package_meta, package_name, probe_host, render_spec, rpm_file_name,
)
from syscontainers.errors import CommandError, UsageError
from syscontainers.lifecycle.syspackage import Packaging, choose, ships_package_content

RPM_HOST = HostFacts(rpm_based=True, ostree_booted=False)
DEBIAN = HostFacts(rpm_based=False, ostree_booted=False)
ATOMIC_HOST = HostFacts(rpm_based=True, ostree_booted=True)
IMAGE_ID = "a739c637ef29" + "0" * 52


# ---------------------------------------------------------------------------- decision table

@pytest.mark.parametrize("requested, ships, host, user, expected", [
    ("no", True, RPM_HOST, False, "no"),
    ("no", True, DEBIAN, True, "no"),
    ("auto", True, RPM_HOST, False, "yes"),
    ("auto", False, RPM_HOST, False, "no"),      # nothing to package: plain (no) copies
    ("auto", True, DEBIAN, False, "no"),
    ("auto", True, ATOMIC_HOST, False, "no"),    # OSTree-booted: never rpm -i
    ("auto", True, RPM_HOST, True, "no"),        # user mode: never a package
    ("yes", True, RPM_HOST, False, "yes"),
    ("yes", False, RPM_HOST, False, "yes"),      # asked for: packaged even without hostfs
    ("build", True, RPM_HOST, False, "build"),
    ("build", False, DEBIAN, False, "build"),    # build needs rpmbuild, not an rpm host
    ("build", True, ATOMIC_HOST, False, "build"),
])
def test_decision_table(requested, ships, host, user, expected):
    assert decide_system_package(requested, ships_package_content=ships, host=host,
                                 user_mode=user) == expected


@pytest.mark.parametrize("requested, host, user, words", [
    ("yes", DEBIAN, False, ["rpm", "--system-package=build", "no"]),
    ("yes", ATOMIC_HOST, False, ["OSTree", "--system-package=build"]),
    ("yes", RPM_HOST, True, ["system mode", "--system-package=no"]),
    ("build", RPM_HOST, True, ["system mode"]),
    ("maybe", RPM_HOST, False, ["auto, build, no, yes"]),
])
def test_impossible_values_are_one_line_errors_with_the_fix(requested, host, user, words):
    with pytest.raises(UsageError) as e:
        decide_system_package(requested, ships_package_content=True, host=host, user_mode=user)
    message = str(e.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_choose_looks_at_rpm_spec_and_hostfs(tmp_path):
    packaging = Packaging(RPM_HOST)
    assert not ships_package_content(Exports(present=True))
    assert ships_package_content(Exports(present=True, has_rpm_spec=True))
    assert ships_package_content(Exports(present=True, hostfs=tmp_path))
    assert choose("auto", packaging, False, Exports(present=True, hostfs=tmp_path)) == "yes"
    assert choose("auto", packaging, False, Exports(present=True)) == "no"
    assert choose("auto", packaging, False) == "no"   # before the image is read


# ---------------------------------------------------------------------------- host probing

@pytest.mark.parametrize("os_release, rpm_based", [
    ('ID=fedora\nVERSION_ID=39\n', True),
    ('ID="rocky"\nID_LIKE="rhel centos fedora"\n', True),
    ('ID="opensuse-leap"\nID_LIKE="suse opensuse"\n', True),
    ('ID=debian\nVERSION_ID="12"\n', False),
    ('ID=ubuntu\nID_LIKE=debian\n', False),
    ('', False),
])
def test_probe_host_reads_os_release(tmp_path, os_release, rpm_based):
    release = tmp_path / "os-release"
    release.write_text(os_release)
    facts = probe_host(release, tmp_path / "ostree-booted")
    assert facts == HostFacts(rpm_based=rpm_based, ostree_booted=False)   # rpm is installed here


def test_probe_host_sees_the_ostree_marker(tmp_path):
    (tmp_path / "ostree-booted").touch()
    facts = probe_host(tmp_path / "missing-os-release", tmp_path / "ostree-booted")
    assert facts == HostFacts(rpm_based=False, ostree_booted=True)


# ---------------------------------------------------------------------------- names, metadata

def test_package_names_are_atomics():
    assert package_name("etcd") == "atomic-container-etcd"
    assert rpm_file_name("etcd") == "atomic-container-etcd.rpm"
    assert installed_package("atomic-container-etcd.rpm") == "atomic-container-etcd"
    assert installed_package("atomic-container-etcd") == "atomic-container-etcd"
    with pytest.raises(PackagingError, match="--name"):
        package_name("web@1")


def test_meta_defaults_from_the_image_id():
    meta = package_meta("web", IMAGE_ID, {})
    assert (meta.name, meta.version, meta.release) == ("atomic-container-web", "a739c637ef29", "1")
    assert meta.summary == "system container web" and meta.license == "GPLv2"


def test_meta_labels_atomic_ones_first_and_sanitised():
    meta = package_meta("web", IMAGE_ID, {
        "version": "9", "atomic.version": "2.1-3", "Release": "4 beta", "summary": "Web",
        "atomic.requires": "bash, glibc >= 2.28", "atomic.provides": "webserver",
        "atomic.conflicts": "nginx < 2", "atomic.url": "https://example.com/web"})
    assert meta.version == "2.1_3" and meta.release == "4_beta"   # rpm allows no '-' or blank
    assert meta.requires == ("bash", "glibc >= 2.28")
    assert meta.provides == ("webserver",) and meta.conflicts == ("nginx < 2",)
    assert meta.summary == "Web" and meta.url == "https://example.com/web"


def test_meta_refuses_a_dependency_that_is_not_one():
    with pytest.raises(PackagingError, match="atomic.requires"):
        package_meta("web", IMAGE_ID, {"atomic.requires": "bash\n%post\nrm -rf /"})


# ---------------------------------------------------------------------------- the spec

def test_spec_lists_files_with_their_kinds():
    spec = render_spec(package_meta("web", IMAGE_ID, {}), [
        PackageFile("/usr/lib/containers/atomic/web", "tree"),
        PackageFile("/etc/web", "dir"), PackageFile("/etc/web/app.conf", "config"),
        PackageFile("/etc/web/link", "symlink")])
    files = spec.split("%files\n", 1)[1].splitlines()
    assert files == ['"/usr/lib/containers/atomic/web"', '%dir "/etc/web"',
                     '%config(noreplace) "/etc/web/app.conf"', '"/etc/web/link"']
    assert "AutoReqProv: no" in spec
    for section in ("%prep", "%build", "%install", "%post", "%pre"):
        assert f"\n{section}" not in spec


@pytest.mark.parametrize("path", ["/etc/a b", "/etc/*", "/etc/%{x}", '/etc/"q"', "/etc/../x",
                                  "relative", "/etc//x"])
def test_spec_refuses_paths_rpm_would_misread(path):
    with pytest.raises(PackagingError, match="--system-package=no"):
        render_spec(package_meta("web", IMAGE_ID, {}), [PackageFile(path, "file")])


def test_hostile_labels_run_nothing_and_open_no_section(tmp_path):
    """Built with the real rpmbuild: macros in label text stay text."""
    marker = tmp_path / "pwned"
    labels = {
        "atomic.summary": f"100% safe %(touch {marker})",
        "atomic.description": f"first\n%files\n%(touch {marker})\n  %post\n%{{lua: os.exit(1)}}",
        "atomic.license": "MIT %{?_bindir}",
    }
    buildroot = tmp_path / "root"
    (buildroot / "etc").mkdir(parents=True)
    (buildroot / "etc" / "web.conf").write_text("x\n")
    spec = render_spec(package_meta("web", IMAGE_ID, labels),
                       [PackageFile("/etc/web.conf", "config")])
    rpm = build_rpm(spec, buildroot, tmp_path / "work")
    assert not marker.exists()
    info = subprocess.run(["rpm", "-qp", "--qf", "%{SUMMARY}|%{LICENSE}|%{DESCRIPTION}", str(rpm)],
                          capture_output=True, text=True, check=True).stdout
    summary, license_, description = info.split("|", 2)
    assert summary == f"100% safe %(touch {marker})"
    assert license_ == "MIT %{?_bindir}"
    assert "%files" in description and "%{lua: os.exit(1)}" in description
    listed = subprocess.run(["rpm", "-qlp", str(rpm)], capture_output=True, text=True,
                            check=True).stdout.split()
    assert listed == ["/etc/web.conf"]
    config = subprocess.run(["rpm", "-qcp", str(rpm)], capture_output=True, text=True,
                            check=True).stdout.split()
    assert config == ["/etc/web.conf"]


def test_build_rpm_failure_is_one_line(tmp_path):
    spec = render_spec(package_meta("web", IMAGE_ID, {}), [PackageFile("/etc/missing", "file")])
    (tmp_path / "root").mkdir()
    with pytest.raises(CommandError) as e:
        build_rpm(spec, tmp_path / "root", tmp_path / "work")
    assert str(e.value) == ("building the RPM package (rpmbuild): File not found: "
                            f"{tmp_path / 'root'}/etc/missing")


def test_rpm_output_stays_in_the_work_dir(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "x").write_text("1")
    rpm = build_rpm(render_spec(package_meta("web", IMAGE_ID, {}), [PackageFile("/etc/x", "file")]),
                    root, tmp_path / "work")
    assert re.fullmatch(r"atomic-container-web-a739c637ef29-1\.\w+\.rpm", rpm.name)
    assert Path(tmp_path / "work") in rpm.parents
