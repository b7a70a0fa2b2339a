"""Host files (docs/templates.md, "Host files"; docs/operations.md, "System packages"): plan, install, update, remove; ownership and operator changes."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from syscontainers.deploy.exports import ExportsManifest
from syscontainers.deploy.hostfiles import (
    HostFileConflict, HostFileError, install_host_files, plan_host_files, remove_host_files,
    rename_path,
)
from syscontainers.errors import ConfigError, TemplateError

VALUES = {"NAME": "web", "PORT": "8080"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_hostfs(tmp_path: Path, files: dict[str, str | int | None], name="hostfs") -> Path:
    """str: file content; int: file content "x" with that mode; None: an empty dir."""
    hostfs = tmp_path / name
    hostfs.mkdir()
    for rel, content in files.items():
        path = hostfs / rel
        if content is None:
            path.mkdir(parents=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x" if isinstance(content, int) else content)
        if isinstance(content, int):
            path.chmod(content)
    return hostfs


@pytest.fixture
def root(tmp_path) -> Path:
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    (r / "usr/local/bin").mkdir(parents=True)
    return r


def snapshot(root: Path) -> dict[str, bytes | str]:
    out = {}
    for top, dirs, files in os.walk(root):
        for d in dirs:
            out[os.path.relpath(os.path.join(top, d), root)] = "dir"
        for f in files:
            p = os.path.join(top, f)
            out[os.path.relpath(p, root)] = open(p, "rb").read()
    return out


# ---------------------------------------------------------------- plan

def test_plan_lists_files_symlinks_and_empty_dirs(tmp_path):
    hostfs = make_hostfs(tmp_path, {"etc/web.conf": "a", "usr/local/bin/web": 0o755,
                                    "var/lib/web": None})
    os.symlink("/usr/local/bin/web", hostfs / "usr/local/bin/web-link")
    plan = plan_host_files(hostfs, ExportsManifest(), VALUES)
    assert [(e.dest, e.kind) for e in plan] == [
        ("/etc/web.conf", "file"), ("/usr/local/bin/web", "file"),
        ("/usr/local/bin/web-link", "symlink"), ("/var/lib/web", "dir")]
    assert plan[1].mode == 0o755 and plan[2].link_target == "/usr/local/bin/web"


def test_plan_renames_with_templated_paths(tmp_path):
    hostfs = make_hostfs(tmp_path, {"etc/app/a.conf": "a", "etc/app/b.conf": "b",
                                    "usr/bin/tool": "t"})
    manifest = ExportsManifest(rename_files={"/etc/app": "/etc/$NAME",
                                             "/etc/web/b.conf": "/etc/web/${NAME}-b.conf",
                                             "/usr/bin/tool": "/usr/bin/$NAME-tool"})
    plan = plan_host_files(hostfs, manifest, VALUES)
    # Renaming a directory moves its content; a rename can then apply below the new name.
    assert [e.dest for e in plan] == ["/etc/web/a.conf", "/etc/web/web-b.conf",
                                      "/usr/bin/web-tool"]


def test_rename_path_component_by_component():
    assert rename_path("/a/b/c", {"/a": "/x", "/x/b": "/y"}) == "/y/c"
    assert rename_path("/a/b", {}) == "/a/b"


def test_template_content_is_rendered(tmp_path):
    hostfs = make_hostfs(tmp_path, {"etc/web.conf": "port=$PORT cost=$$5\n", "etc/raw": "$PORT"})
    plan = plan_host_files(hostfs, ExportsManifest(installed_files_template=("/etc/web.conf",)),
                           VALUES)
    by_dest = {e.dest: e for e in plan}
    assert by_dest["/etc/web.conf"].content == b"port=8080 cost=$5\n"
    assert by_dest["/etc/raw"].content is None  # not a template: copied verbatim


def test_template_listed_under_its_renamed_path(tmp_path):
    hostfs = make_hostfs(tmp_path, {"etc/app.conf": "n=$NAME"})
    manifest = ExportsManifest(rename_files={"/etc/app.conf": "/etc/$NAME.conf"},
                               installed_files_template=("/etc/web.conf",))
    (entry,) = plan_host_files(hostfs, manifest, VALUES)
    assert entry.dest == "/etc/web.conf" and entry.content == b"n=web"


def test_template_with_a_missing_value(tmp_path):
    hostfs = make_hostfs(tmp_path, {"etc/web.conf": "$MISSING"})
    with pytest.raises(TemplateError, match="hostfs template /etc/web.conf: no value for MISSING"):
        plan_host_files(hostfs, ExportsManifest(installed_files_template=("/etc/web.conf",)),
                        VALUES)


@pytest.mark.parametrize("new", ["relative", "/etc/../../x", "/", "/etc//x", "/etc/$PORT\n"])
def test_bad_rename_targets_are_refused(tmp_path, new):
    hostfs = make_hostfs(tmp_path, {"etc/a": "a"})
    values = dict(VALUES, PORT="8080\n" if "\n" in new else "1")
    with pytest.raises(ConfigError, match="not a clean absolute path"):
        plan_host_files(hostfs, ExportsManifest(rename_files={"/etc/a": new.rstrip("\n")}), values)


def test_two_entries_with_one_destination(tmp_path):
    hostfs = make_hostfs(tmp_path, {"etc/a": "a", "etc/b": "b"})
    with pytest.raises(ConfigError, match="both install /etc/b"):
        plan_host_files(hostfs, ExportsManifest(rename_files={"/etc/a": "/etc/b"}), VALUES)


def test_fifo_in_hostfs_is_refused(tmp_path):
    hostfs = make_hostfs(tmp_path, {"etc/a": "a"})
    os.mkfifo(hostfs / "etc/pipe")
    with pytest.raises(ConfigError, match="/etc/pipe is not a regular file"):
        plan_host_files(hostfs, ExportsManifest(), VALUES)


def test_no_hostfs_no_plan():
    assert plan_host_files(None, ExportsManifest(), VALUES) == ()


# ---------------------------------------------------------------- install / remove

def test_install_then_remove(tmp_path, root):
    before = snapshot(root)
    hostfs = make_hostfs(tmp_path, {"etc/web.conf": "conf", "usr/local/bin/web": 0o750,
                                    "opt/web/lib/x.so": "so", "var/lib/web": None})
    os.symlink("x.so", hostfs / "opt/web/lib/y.so")
    plan = plan_host_files(hostfs, ExportsManifest(), VALUES)
    installed = install_host_files(plan, root)

    assert (root / "etc/web.conf").read_text() == "conf"
    assert stat.S_IMODE(os.stat(root / "usr/local/bin/web").st_mode) == 0o750
    assert os.readlink(root / "opt/web/lib/y.so") == "x.so"
    assert (root / "var/lib/web").is_dir()
    assert installed.checksums == {
        "/opt": "0", "/var": "0", "/opt/web": "0", "/var/lib": "0", "/opt/web/lib": "0",
        "/etc/web.conf": sha(b"conf"), "/opt/web/lib/x.so": sha(b"so"),
        "/opt/web/lib/y.so": sha(b"x.so"), "/usr/local/bin/web": sha(b"x"),
        "/var/lib/web": "0"}
    assert installed.kept == ()

    assert remove_host_files(installed.checksums, root) == []
    assert snapshot(root) == before  # created dirs are gone, pre-existing ones stay
    assert remove_host_files(installed.checksums, root) == []  # again: nothing to do


def test_never_clobber_a_file_the_tool_did_not_install(tmp_path, root):
    (root / "etc/web.conf").write_text("operator's")
    hostfs = make_hostfs(tmp_path, {"opt/web/a": "a", "etc/web.conf": "ours"})
    before = snapshot(root)
    with pytest.raises(HostFileConflict, match="/etc/web.conf: the file exists and was not "
                                               "installed by this container"):
        install_host_files(plan_host_files(hostfs, ExportsManifest(), VALUES), root)
    assert snapshot(root) == before  # nothing at all was installed (not even /opt/web/a)


def test_a_file_in_the_way_of_a_directory(tmp_path, root):
    (root / "opt").write_text("file")
    hostfs = make_hostfs(tmp_path, {"opt/web/a": "a"})
    with pytest.raises(HostFileConflict, match="/opt is not a directory"):
        install_host_files(plan_host_files(hostfs, ExportsManifest(), VALUES), root)


def test_an_existing_directory_is_shared_not_owned(tmp_path, root):
    (root / "var/lib/web").mkdir(parents=True)
    hostfs = make_hostfs(tmp_path, {"var/lib/web": None})
    installed = install_host_files(plan_host_files(hostfs, ExportsManifest(), VALUES), root)
    assert installed.checksums == {}
    remove_host_files(installed.checksums, root)
    assert (root / "var/lib/web").is_dir()


def test_remove_keeps_files_the_operator_changed(tmp_path, root):
    hostfs = make_hostfs(tmp_path, {"opt/web/a.conf": "a", "opt/web/b.conf": "b"})
    installed = install_host_files(plan_host_files(hostfs, ExportsManifest(), VALUES), root)
    (root / "opt/web/a.conf").write_text("edited")
    assert remove_host_files(installed.checksums, root) == ["/opt/web/a.conf"]
    assert (root / "opt/web/a.conf").read_text() == "edited"
    assert not (root / "opt/web/b.conf").exists()
    assert (root / "opt/web").is_dir()  # not empty: stays


def test_remove_tolerates_files_already_gone(tmp_path, root):
    hostfs = make_hostfs(tmp_path, {"opt/web/a": "a"})
    installed = install_host_files(plan_host_files(hostfs, ExportsManifest(), VALUES), root)
    (root / "opt/web/a").unlink()
    assert remove_host_files(installed.checksums, root) == []
    assert not (root / "opt").exists()


def test_legacy_records_without_checksum_are_kept(root):
    (root / "etc/legacy").write_text("x")
    assert remove_host_files({"/etc/legacy": ""}, root) == ["/etc/legacy"]
    assert (root / "etc/legacy").exists()


def test_atomic_symlink_record_with_target_content_checksum(root):
    (root / "etc/target").write_text("content")
    os.symlink("target", root / "etc/link")
    assert remove_host_files({"/etc/link": sha(b"content")}, root) == []
    assert not os.path.lexists(root / "etc/link")


# ---------------------------------------------------------------- update

def test_update_replaces_ours_removes_stale_and_keeps_operator_changes(tmp_path, root):
    v1 = make_hostfs(tmp_path, {"opt/web/same": "1", "opt/web/edited": "1", "opt/web/old": "1",
                                "opt/web/old-edited": "1"}, "v1")
    first = install_host_files(plan_host_files(v1, ExportsManifest(), VALUES), root)
    (root / "opt/web/edited").write_text("operator")
    (root / "opt/web/old-edited").write_text("operator")

    v2 = make_hostfs(tmp_path, {"opt/web/same": "2", "opt/web/edited": "2", "opt/web/new": "2"},
                     "v2")
    second = install_host_files(plan_host_files(v2, ExportsManifest(), VALUES), root,
                                previous=first.checksums)

    assert (root / "opt/web/same").read_text() == "2"          # ours, unchanged: replaced
    assert (root / "opt/web/edited").read_text() == "operator"  # never overwritten
    assert (root / "opt/web/new").read_text() == "2"
    assert not (root / "opt/web/old").exists()                  # stale: removed
    assert (root / "opt/web/old-edited").read_text() == "operator"  # stale but edited: kept
    assert set(second.kept) == {"/opt/web/edited", "/opt/web/old-edited"}
    # The edited file stays recorded with its original checksum; the dirs stay ours.
    assert second.checksums["/opt/web/edited"] == first.checksums["/opt/web/edited"]
    assert second.checksums["/opt/web"] == "0" and second.checksums["/opt"] == "0"
    assert "/opt/web/old-edited" not in second.checksums
    assert not list((root / "opt/web").glob(".*"))  # no temp or backup files left


def test_failed_install_is_undone(tmp_path, root):
    v1 = make_hostfs(tmp_path, {"opt/web/a": "1"}, "v1")
    first = install_host_files(plan_host_files(v1, ExportsManifest(), VALUES), root)
    before = snapshot(root)

    v2 = make_hostfs(tmp_path, {"opt/web/a": "2", "opt/zz/b": "2", "srv/c": "2"}, "v2")
    plan = plan_host_files(v2, ExportsManifest(), VALUES)
    (v2 / "srv/c").unlink()  # the last entry's source disappears: its write fails
    with pytest.raises(HostFileError, match="cannot install /srv/c"):
        install_host_files(plan, root, previous=first.checksums)
    assert snapshot(root) == before  # /opt/web/a restored to "1", /opt/zz and /srv gone


def test_template_of_exactly_4_mib_is_rendered_larger_is_refused(tmp_path):
    """docs/templates.md: templates are UTF-8 and at most 4 MiB."""
    manifest = ExportsManifest(installed_files_template=("/etc/big",))
    hostfs = make_hostfs(tmp_path, {"etc/big": "x" * (4 * 1024 * 1024)})
    [entry] = plan_host_files(hostfs, manifest, VALUES)
    assert len(entry.content) == 4 * 1024 * 1024
    (hostfs / "etc/big").write_text("x" * (4 * 1024 * 1024 + 1))
    with pytest.raises(ConfigError) as e:
        plan_host_files(hostfs, manifest, VALUES)
    assert str(e.value) == "hostfs: template /etc/big is too large"


def test_template_that_is_not_utf8_is_refused(tmp_path):
    hostfs = make_hostfs(tmp_path, {"etc/latin1": ""})
    (hostfs / "etc/latin1").write_bytes(b"caf\xe9 $PORT\n")
    with pytest.raises(ConfigError) as e:
        plan_host_files(hostfs, ExportsManifest(installed_files_template=("/etc/latin1",)), VALUES)
    assert str(e.value) == "hostfs: template /etc/latin1 is not UTF-8 text"
    # not a template: copied as bytes, never decoded
    [entry] = plan_host_files(hostfs, ExportsManifest(), VALUES)
    assert entry.content is None and entry.kind == "file"


# --- made precise by `make mutation` (docs/testing.md, "Mutation testing") ---------------

def test_top_level_entries_and_dirs_listed_after_a_non_empty_one(tmp_path):
    hostfs = make_hostfs(tmp_path, {"a/x": "x", "b": None, "c": "c"})
    plan = plan_host_files(hostfs, ExportsManifest(), VALUES)
    assert [(e.dest, e.kind) for e in plan] == [("/a/x", "file"), ("/b", "dir"), ("/c", "file")]


def test_created_directory_keeps_its_mode_and_is_ours(tmp_path, root):
    hostfs = make_hostfs(tmp_path, {"var/lib/web": None})
    (hostfs / "var/lib/web").chmod(0o750)
    installed = install_host_files(plan_host_files(hostfs, ExportsManifest(), VALUES), root)
    assert stat.S_IMODE(os.stat(root / "var/lib/web").st_mode) == 0o750
    assert installed.checksums["/var/lib/web"] == "0"
    # on update it stays ours (recorded again), and removal takes it
    again = install_host_files(plan_host_files(hostfs, ExportsManifest(), VALUES), root,
                               previous=installed.checksums)
    assert again.checksums["/var/lib/web"] == "0"
    remove_host_files(again.checksums, root)
    assert not (root / "var/lib/web").exists()


def test_conflict_messages_are_exact(tmp_path, root):
    (root / "etc/web.conf").mkdir()
    hostfs = make_hostfs(tmp_path, {"etc/web.conf": "a"})
    with pytest.raises(HostFileConflict) as e:
        install_host_files(plan_host_files(hostfs, ExportsManifest(), VALUES), root)
    assert str(e.value) == "cannot install /etc/web.conf: a directory is in the way"
    (root / "etc/web.d").write_text("file")
    hostfs2 = make_hostfs(tmp_path, {"etc/web.d": None}, name="hostfs2")
    with pytest.raises(HostFileConflict) as e:
        install_host_files(plan_host_files(hostfs2, ExportsManifest(), VALUES), root)
    assert str(e.value) == "cannot create directory /etc/web.d: a file is in the way"


def test_a_failed_install_removes_the_directories_it_made(tmp_path, root):
    (root / "opt").mkdir()
    (root / "opt/zz").mkdir()                 # where the last file goes: a directory
    hostfs = make_hostfs(tmp_path, {"opt/new/sub/a": "a", "opt/zz": "z"})
    with pytest.raises(HostFileConflict):
        install_host_files(plan_host_files(hostfs, ExportsManifest(), VALUES), root)
    assert not (root / "opt/new").exists()
    hostfs = make_hostfs(tmp_path, {"opt/new/sub/a": "a", "opt/new/d": None}, name="h3")
    plan = plan_host_files(hostfs, ExportsManifest(), VALUES)
    (root / "opt/new").mkdir()
    (root / "opt/new/d").write_text("in the way, found late")
    os.chmod(root / "opt/new", 0o755)
    with pytest.raises(HostFileConflict):
        install_host_files(plan, root)
    assert sorted(os.listdir(root / "opt/new")) == ["d"]


@pytest.mark.parametrize("new", ["/", "/etc/./a", "/etc/a\rb", "/etc//a"])
def test_unclean_rename_targets_are_refused_exactly(tmp_path, new):
    hostfs = make_hostfs(tmp_path, {"etc/a": "a"})
    with pytest.raises(ConfigError) as e:
        plan_host_files(hostfs, ExportsManifest(rename_files={"/etc/a": new}), VALUES)
    assert str(e.value).endswith(f"{new!r} is not a clean absolute path")
