"""Deployment dirs, the NAME link, the info file, container names."""

import json
import os

import pytest

from syscontainers.deploy import deployment as dl
from syscontainers.errors import ConfigError, UsageError


@pytest.mark.parametrize("name", ["etcd", "kube-proxy", "a_b.c", "x@1", "A" * 200, "etcd.0",
                                  "httpd-1.0", "etcd.1"])
def test_valid_names(name):
    assert dl.validate_name(name) == name


@pytest.mark.parametrize("name", ["", "a/b", "..", "a..b", ".hidden", "-x", "a b", "a;b",
                                  "A" * 201, "é"])
def test_invalid_names_are_one_line_errors(name):
    with pytest.raises(UsageError) as e:
        dl.validate_name(name)
    assert "\n" not in str(e.value)


def test_info_round_trip_uses_atomic_keys(tmp_path):
    info = dl.InstallInfo(image="r/a:1", revision="ab" * 32, ostree_commit="c" * 64, created=5,
                          values={"NAME": "a"}, installed_files_checksum={"/etc/x": "0"})
    raw = json.loads(info.to_json())
    for key in ("image", "revision", "ostree-commit", "created", "values", "has-container-service",
                "installed-files", "installed-files-checksum", "installed-files-template",
                "rename-installed-files", "rpm-installed", "system-package", "remote",
                "use-links", "runtime"):
        assert key in raw
    assert dl.InstallInfo.from_json(info.to_json(), "x") == info


def test_info_from_atomic_file_with_unknown_keys():
    text = json.dumps({"image": "i", "revision": "r", "ostree-commit": "c", "created": 1,
                       "values": {}, "system-package": False, "something-new": 1})
    info = dl.InstallInfo.from_json(text, "x")
    assert info.system_package == "no" and info.image == "i"


def test_bad_info_is_a_config_error():
    with pytest.raises(ConfigError, match="invalid info file x"):
        dl.InstallInfo.from_json("{", "x")


def test_switch_link_is_atomic_and_current_follows(paths):
    d0, d1 = dl.deployment(paths, "n", 0), dl.deployment(paths, "n", 1)
    d0.path.mkdir()
    d1.path.mkdir()
    assert dl.current(paths, "n") is None
    dl.switch_link(paths, "n", d0)
    assert dl.current(paths, "n") == d0
    dl.switch_link(paths, "n", d1)
    assert dl.current(paths, "n") == d1
    assert os.readlink(paths.checkouts / "n") == str(d1.path)
    assert dl.other(paths, d1) == d0
    assert not [e for e in os.listdir(paths.checkouts) if ".link-" in e]
    assert dl.installed_names(paths) == ["n"]


def test_clean_partials_removes_only_leftovers(paths):
    leftover = dl.partial_dir(paths, "n", 0)
    (leftover / "rootfs/usr").mkdir(parents=True)
    os.chmod(leftover / "rootfs/usr", 0o500)
    stale = dl.stale_dir(paths, "m", 1)
    stale.mkdir()
    keep = paths.checkouts / "n.0"
    keep.mkdir()
    removed = dl.clean_partials(paths)
    assert set(removed) == {leftover, stale}
    assert keep.is_dir() and not leftover.exists() and not stale.exists()


def test_in_use_image_ids_reads_both_deployments(paths):
    for i, rev in ((0, "a" * 64), (1, "b" * 64)):
        d = dl.deployment(paths, "n", i)
        d.path.mkdir()
        d.info_path.write_text(dl.InstallInfo("img", rev, "", 0, {}).to_json())
    assert dl.in_use_image_ids(paths) == {"a" * 64, "b" * 64}


# --- names ending in .0/.1: parsing deployment dir names (docs/operations.md) ----------------

@pytest.mark.parametrize("entry, parsed", [
    ("foo.0", ("foo", 0)), ("foo.1", ("foo", 1)), ("httpd-1.0.0", ("httpd-1.0", 0)),
    ("httpd-1.0.1", ("httpd-1.0", 1)), ("a.1.0", ("a.1", 0)), ("foo", None), ("foo.2", None),
    ("foo.", None), (".0", None), (".foo.0.partial-1-2", None), (".storage", None),
    ("foo.01", None)])
def test_parse_deployment_dir(entry, parsed):
    assert dl.parse_deployment_dir(entry) == parsed


def _install_fake(paths, name, index=0, image_id="i" * 64):
    dep = dl.deployment(paths, name, index)
    dep.path.mkdir()
    dep.info_path.write_text(dl.InstallInfo(image="img", revision=image_id, ostree_commit="c",
                                            created=1, values={}).to_json())
    dl.switch_link(paths, name, dep)
    return dep


def test_names_ending_in_index_are_told_apart(paths):
    """httpd-1 (deployment httpd-1.0) next to httpd-1.0 (link httpd-1.0 -> httpd-1.0.0) cannot
    both exist (name_collision); httpd-1.0 next to httpd-2 can, and every parser sees each
    container with its own deployments only."""
    from syscontainers.lifecycle.remove import known, leftover_names

    _install_fake(paths, "httpd-1.0", image_id="a" * 64)
    _install_fake(paths, "foo.1", image_id="b" * 64)
    assert dl.installed_names(paths) == ["foo.1", "httpd-1.0"]
    assert dl.current(paths, "httpd-1.0").path == paths.checkouts / "httpd-1.0.0"
    assert dl.existing(paths, "httpd-1") == [] and not known(paths, "httpd-1")
    assert dl.existing(paths, "foo") == [] and dl.current(paths, "foo") is None
    assert [(d.name, d.index) for d in dl.deployment_dirs(paths)] == [("foo.1", 0), ("httpd-1.0", 0)]
    assert dl.in_use_image_ids(paths) == {"a" * 64, "b" * 64}
    assert leftover_names(paths) == []
    assert {(u.name, u.index) for u in dl.image_users(paths)} == {("httpd-1.0", 0), ("foo.1", 0)}
    (paths.checkouts / "foo.1").unlink()          # an uninstall interrupted after the link
    assert leftover_names(paths) == ["foo.1"] and dl.installed_names(paths) == ["httpd-1.0"]


def test_name_collisions(paths):
    _install_fake(paths, "foo")
    assert "deployment foo.0 of container foo" in dl.name_collision(paths, "foo.0")
    assert dl.name_collision(paths, "foo.1")       # foo's next deployment after an update
    assert dl.name_collision(paths, "foo.2") is None and dl.name_collision(paths, "foo") is None
    _install_fake(paths, "bar.1")
    assert "installed container bar.1" in dl.name_collision(paths, "bar")
    assert dl.name_collision(paths, "bar.1") is None   # itself: install says "already present"
    assert dl.name_collision(paths, "bar.1.0") is not None
    leftover = dl.deployment(paths, "gone", 1)      # deployments left without a link
    leftover.path.mkdir()
    assert dl.name_collision(paths, "gone.1") is not None


def test_a_link_to_another_containers_deployment_is_not_current(paths):
    _install_fake(paths, "foo")
    os.symlink(paths.checkouts / "foo.0", paths.checkouts / "bar")
    assert dl.current(paths, "bar") is None and dl.installed_names(paths) == ["foo"]


def test_every_info_field_has_a_type_check():
    """A field added to InstallInfo without a type entry makes every info file unreadable."""
    from syscontainers.deploy.deployment import InstallInfo
    from syscontainers.deploy.infofields import INFO_TYPES

    assert set(INFO_TYPES) == set(InstallInfo.__dataclass_fields__)


def test_write_private_is_0600_even_over_a_0644_file(tmp_path):
    p = tmp_path / "info"
    p.write_text("old")
    os.chmod(p, 0o644)
    dl.write_private(p, "new")
    assert p.read_text() == "new" and os.stat(p).st_mode & 0o777 == 0o600


def test_tighten_makes_an_old_deployment_private(tmp_path):
    dep = dl.Deployment("web", 0, tmp_path / "web.0")
    (dep.path / "rootfs").mkdir(parents=True)
    os.chmod(dep.path / "rootfs", 0o755)
    for name in ("info", "config.json", "web.service"):
        (dep.path / name).write_text("{}")
        os.chmod(dep.path / name, 0o644)
    os.chmod(dep.path, 0o755)
    assert dl.tighten(dep, user_mode=False)
    assert os.stat(dep.path).st_mode & 0o777 == 0o700
    assert all(os.stat(dep.path / n).st_mode & 0o777 == 0o600 for n in ("info", "config.json", "web.service"))
    assert os.stat(dep.path / "rootfs").st_mode & 0o777 == 0o755   # the image's, untouched
    assert not dl.tighten(dep, user_mode=False)


def test_a_system_container_with_its_own_user_namespace_gets_a_traversable_dir():
    userns = {"linux": {"namespaces": [{"type": "user"}, {"type": "mount"}]}}
    assert dl.dir_mode(userns, user_mode=False) == 0o711
    assert dl.dir_mode(userns, user_mode=True) == 0o700
    assert dl.dir_mode({}, user_mode=False) == 0o700 and dl.dir_mode(None, False) == 0o700


def test_info_keeps_secret_names_and_allowed_privileges():
    info = dl.InstallInfo("img", "rev", "c", 1, {"T": "x"}, secret_values=["T"],
                          allowed_privileges=["hooks"])
    raw = json.loads(info.to_json())
    assert raw["secret-values"] == ["T"] and raw["allowed-privileges"] == ["hooks"]
    assert dl.InstallInfo.from_json(info.to_json(), "x") == info
    old = dl.InstallInfo.from_json(json.dumps({"image": "img", "values": {}}), "x")
    assert old.secret_values == [] and old.allowed_privileges is None


def test_an_unreadable_info_file_is_one_clear_error(tmp_path, monkeypatch):
    dep = dl.Deployment("web", 0, tmp_path / "web.0")
    dep.path.mkdir()
    dl.write_private(dep.info_path, "{}")

    def refuse(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(dl, "read_text", refuse)   # (root reads any file: refuse by hand)
    with pytest.raises(dl.UnreadableInfo, match="private to the user"):
        dep.read_info()


def _watch_link(monkeypatch, link):
    """Wrap every os call that can change a directory entry so that after each one the test
    checks that ``link`` still resolves to a deployment (what a concurrent reader would see)."""
    seen = []

    def wrap(fn):
        def call(*a, **kw):
            result = fn(*a, **kw)
            try:
                seen.append(os.readlink(link))
            except FileNotFoundError:
                raise AssertionError(f"{link} missing after os.{fn.__name__}{a}") from None
            return result
        return call

    for fname in ("unlink", "remove", "symlink", "rename", "replace", "link"):
        monkeypatch.setattr(os, fname, wrap(getattr(os, fname)))
    return seen


def test_switch_link_never_leaves_the_link_missing(paths, monkeypatch):
    """docs/operations.md: switching is one rename of a fresh link over NAME — a reader never
    finds NAME missing. Every directory change switch_link makes is checked."""
    d0, d1 = dl.deployment(paths, "sw", 0), dl.deployment(paths, "sw", 1)
    d0.path.mkdir()
    d1.path.mkdir()
    dl.switch_link(paths, "sw", d0)
    link = dl.link_path(paths, "sw")
    seen = _watch_link(monkeypatch, link)
    dl.switch_link(paths, "sw", d1)
    assert os.readlink(link) == str(d1.path)
    dl.switch_link(paths, "sw", d0)
    assert os.readlink(link) == str(d0.path)
    assert seen and set(seen) <= {str(d0.path), str(d1.path)}
    assert [e.name for e in paths.checkouts.iterdir() if ".link-" in e.name] == []


READER = """
import os, sys
link, n = sys.argv[1], int(sys.argv[2])
missing = 0
os.readlink(link)
print("ready", flush=True)
for _ in range(n):
    try:
        os.readlink(link)
    except FileNotFoundError:
        missing += 1
print(missing, flush=True)
"""


def test_concurrent_reader_never_sees_a_missing_link(paths):
    """A real reader in another process, reading the link while it is switched back and forth
    (bounded: the reader does a fixed number of reads; the writer switches until it is done)."""
    import subprocess
    import sys
    d0, d1 = dl.deployment(paths, "rd", 0), dl.deployment(paths, "rd", 1)
    d0.path.mkdir()
    d1.path.mkdir()
    dl.switch_link(paths, "rd", d0)
    reader = subprocess.Popen([sys.executable, "-c", READER, str(dl.link_path(paths, "rd")), "200000"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "ready"
        switches = 0
        while reader.poll() is None and switches < 200000:
            dl.switch_link(paths, "rd", (d0, d1)[switches % 2])
            switches += 1
        out, _ = reader.communicate(timeout=60)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    assert reader.returncode == 0 and out.strip() == "0", f"reader saw the link missing {out.strip()} times"


def test_an_earlier_switch_marker_is_never_overwritten(paths):
    """A controlled update's automatic rollback switches again before the first switch's
    marker is gone; the first marker's "was running" (the service ran before the update)
    must survive, or a crash then leaves the service stopped for good."""
    import json
    from syscontainers.lifecycle import switch
    switch._write_marker(paths, "mk", True, False)
    switch._write_marker(paths, "mk", False, True)
    marker = dl.switching_marker(paths, "mk")
    assert json.loads(marker.read_text()) == {"was-running": True, "was-enabled": False}
    switch.finish(paths, "mk")
    assert not marker.exists()
    switch._write_marker(paths, "mk", False, True)
    assert json.loads(marker.read_text()) == {"was-running": False, "was-enabled": True}


# --- made precise by `make mutation` (docs/testing.md, "Mutation testing") ---------------

def test_name_error_messages_are_exact():
    with pytest.raises(UsageError) as e:
        dl.validate_name("")
    assert str(e.value) == "container name is empty"
    with pytest.raises(UsageError) as e:
        dl.validate_name("a b")
    assert str(e.value) == ("invalid container name 'a b': use letters, digits and _ . @ - "
                            "(not starting with . or -, no '..')")
    assert dl.validate_name("etcd.1") == "etcd.1"   # a collision is name_collision's to find
    with pytest.raises(UsageError) as e:
        dl.validate_name("A" * 201)
    assert str(e.value) == "container name is too long (201 > 200 characters)"


def test_info_defaults_for_a_minimal_file_and_exact_errors():
    info = dl.InstallInfo.from_json("{}", "x")
    assert (info.image, info.revision, info.ostree_commit, info.created, info.values) == ("", "", "", 0, {})
    assert info.system_package == "no"
    assert dl.InstallInfo.from_json('{"system-package": "yes"}', "x").system_package == "yes"
    assert dl.InstallInfo.from_json('{"system-package": null}', "x").system_package == "no"
    with pytest.raises(ConfigError) as e:
        dl.InstallInfo.from_json("[]", "/co/n.0/info")
    assert str(e.value) == "invalid info file /co/n.0/info: not a JSON object"


def test_info_file_is_written_the_way_atomic_wrote_it():
    info = dl.InstallInfo("i", "r", "c", 1, {"A": "1"})
    text = info.to_json()
    assert text.startswith('{\n    "image": "i",\n    "revision": "r",\n')
    assert json.loads(text)["ostree-commit"] == "c"


def test_read_info_errors_name_the_file(paths):
    d = dl.deployment(paths, "ri", 0)
    d.path.mkdir()
    with pytest.raises(ConfigError) as e:
        d.read_info()
    assert str(e.value) == f"deployment {d.path} has no info file"
    d.info_path.write_text("{")
    with pytest.raises(ConfigError) as e:
        d.read_info()
    assert str(e.value).startswith(f"invalid info file {d.info_path}: ")


def test_existing_lists_the_deployments_there_are(paths):
    assert dl.existing(paths, "ex") == []
    d1 = dl.deployment(paths, "ex", 1)
    d1.path.mkdir()
    assert dl.existing(paths, "ex") == [d1]
    d0 = dl.deployment(paths, "ex", 0)
    d0.path.mkdir()
    assert dl.existing(paths, "ex") == [d0, d1]


def test_markers_are_hidden_files_in_the_checkouts_dir(paths):
    assert dl.switching_marker(paths, "mk") == paths.checkouts / ".mk.switching"
    assert dl.installing_marker(paths, "mk") == paths.checkouts / ".mk.installing"


def test_current_accepts_a_trailing_slash_and_ignores_other_links(paths):
    os.symlink(str(paths.checkouts / "ts.1") + "/", paths.checkouts / "ts")
    assert dl.current(paths, "ts") == dl.deployment(paths, "ts", 1)
    os.symlink("/somewhere/else", paths.checkouts / "junk")
    assert dl.current(paths, "junk") is None
    (paths.checkouts / "plain").mkdir()
    assert dl.current(paths, "plain") is None
    (paths.checkouts / "ts.1").mkdir()
    assert dl.installed_names(paths) == ["ts"]


def test_remove_link(paths):
    d0 = dl.deployment(paths, "rl", 0)
    d0.path.mkdir()
    dl.switch_link(paths, "rl", d0)
    dl.remove_link(paths, "rl")
    assert not os.path.lexists(dl.link_path(paths, "rl")) and d0.path.is_dir()
    dl.remove_link(paths, "rl")                 # already gone: fine


def test_remove_tree_never_follows_a_link(paths, tmp_path):
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "sub/f").write_text("keep")
    link = paths.checkouts / "lnk"
    os.symlink(outside, link)
    dl.remove_tree(link)
    assert not os.path.lexists(link) and (outside / "sub/f").read_text() == "keep"
    f = paths.checkouts / "file"
    f.write_text("x")
    dl.remove_tree(f)
    assert not f.exists()
    dl.remove_tree(paths.checkouts / "missing")      # nothing there: fine


def test_clean_partials_for_one_name_keeps_the_others(paths):
    mine = dl.partial_dir(paths, "cp", 0)
    other = dl.partial_dir(paths, "cpx", 1)
    link_tmp = paths.checkouts / ".cp.link-123"
    for d in (mine, other):
        d.mkdir()
    os.symlink("x", link_tmp)
    assert set(dl.clean_partials(paths, "cp")) == {mine, link_tmp}
    assert other.is_dir() and not mine.exists() and not os.path.lexists(link_tmp)


def test_in_use_skips_unreadable_deployments_and_empty_revisions(paths):
    revs = {}
    for i, name in enumerate(["a1", "b2", "c3", "d4", "e5", "f6"]):
        d = dl.deployment(paths, name, i % 2)
        d.path.mkdir()
        revs[name] = f"{i}" * 64
        d.info_path.write_text(dl.InstallInfo("img", revs[name], "", 0, {}).to_json())
    for name in ("bad", "zbad", "mbad"):
        dl.deployment(paths, name, 0).path.mkdir()           # no info file
    d = dl.deployment(paths, "empty", 1)
    d.path.mkdir()
    d.info_path.write_text(dl.InstallInfo("img", "", "", 0, {}).to_json())
    assert dl.in_use_image_ids(paths) == set(revs.values())


def test_a_failed_update_never_removes_the_deployment_the_link_names(paths):
    """A switch that fails after its commit point (daemon-reload after the link swap) leaves
    the new deployment live: the clean-up of the failed update must keep it."""
    from syscontainers.lifecycle.update import drop_unless_live

    old, new = dl.deployment(paths, "up", 0), dl.deployment(paths, "up", 1)
    for d in (old, new):
        d.path.mkdir(parents=True)
    dl.switch_link(paths, "up", new)
    drop_unless_live(paths, "up", new)
    assert new.exists() and dl.current(paths, "up") == new
    dl.switch_link(paths, "up", old)
    drop_unless_live(paths, "up", new)
    assert not new.path.exists() and old.exists()


def test_read_text_reads_a_file_as_written(tmp_path):
    """fileops.read_text (the info file, config.json and the unit files of `list`): the bytes
    as UTF-8, no newline translation; a missing file is None for text_or_none only."""
    from syscontainers.fileops import read_text, text_or_none

    f = tmp_path / "f"
    f.write_bytes("a\r\nb\u00e9\n".encode() * 200_000)       # more than one read
    assert read_text(f) == "a\r\nb\u00e9\n" * 200_000
    assert text_or_none(tmp_path / "missing") is None
    with pytest.raises(FileNotFoundError):
        read_text(tmp_path / "missing")
    (tmp_path / "bad").write_bytes(b"\xff")
    with pytest.raises(UnicodeDecodeError):
        read_text(tmp_path / "bad")


def test_installed_lists_each_live_deployment_once(store_paths):
    """dl.installed: one scan, NAME links to NAME.0/NAME.1 only, by name."""
    cp = store_paths.checkouts
    cp.mkdir(parents=True)
    for name, index in (("b", 1), ("a", 0)):
        (cp / f"{name}.{index}").mkdir()
        (cp / name).symlink_to(cp / f"{name}.{index}")
    (cp / "c").symlink_to(cp / "a.0")          # another container's deployment: not ours
    (cp / "d.0").mkdir()                        # a deployment without a link
    assert [(d.name, d.index) for d in dl.installed(store_paths)] == [("a", 0), ("b", 1)]
    assert dl.installed_names(store_paths) == ["a", "b"]
