"""auto-update's pure parts: the policy (flag, label), the dependency order from unit files,
what makes a staged update stale, the timer units' text (docs/operations.md "Unattended
updates (auto-update)"). The verb itself runs on the test host:
tests/integration/test_auto_update.py."""

from __future__ import annotations

import json
import os

import pytest

from syscontainers.deploy import deployment as dl
from syscontainers.errors import UsageError
from syscontainers.lifecycle import autopolicy, staging, timer
from syscontainers.lifecycle.autoupdate import AutoUpdateRow, unit_dependencies, update_order
from syscontainers.lifecycle.update import UpdateRequest


def install_fake(paths, name: str, unit: str = "[Unit]\n", policy: str | None = "registry") -> dl.Deployment:
    dep = dl.deployment(paths, name, 0)
    dep.path.mkdir()
    info = dl.InstallInfo(image=f"img/{name}", revision="a" * 64, ostree_commit="", created=1,
                          values={}, auto_update=policy)
    dep.info_path.write_text(info.to_json())
    os.symlink(dep.path, dl.link_path(paths, name))
    paths.units_dir.mkdir(exist_ok=True)
    paths.unit_file(name).write_text(unit)
    return dep


# --- policy ----------------------------------------------------------------------------------

@pytest.mark.parametrize("flag, labels, want", [
    ("local", {"io.containers.autoupdate": "registry"}, "local"),   # the flag wins
    (None, {"io.containers.autoupdate": "registry"}, "registry"),
    (None, {"io.containers.autoupdate": "Local"}, "local"),
    (None, {"io.containers.autoupdate": "image"}, "registry"),      # podman's older name
    (None, {}, "off"),
])
def test_policy_at_install(flag, labels, want):
    said = []
    assert autopolicy.policy_at_install(flag, labels, said.append) == want
    assert said == []


def test_a_bad_label_is_off_with_a_warning_and_a_bad_flag_an_error():
    said = []
    assert autopolicy.policy_at_install(None, {"io.containers.autoupdate": "daily"}, said.append) == "off"
    assert len(said) == 1 and said[0].startswith("warning: the image label io.containers.autoupdate")
    with pytest.raises(UsageError, match="--auto-update=daily: use one of registry, local, off"):
        autopolicy.policy_at_install("daily", {}, said.append)


def test_an_info_file_without_a_policy_reads_as_off(paths):
    dep = install_fake(paths, "old", policy=None)
    raw = json.loads(dep.info_path.read_text())
    del raw["auto-update"]
    dep.info_path.write_text(json.dumps(raw))
    assert autopolicy.policy_of(dep.read_info()) == "off"
    bad = {**raw, "auto-update": 3}
    dep.info_path.write_text(json.dumps(bad))
    with pytest.raises(Exception, match="auto-update has the wrong type"):
        dep.read_info()


def test_store_policy_writes_only_a_change(paths):
    dep = install_fake(paths, "p1", policy="off")
    said = []
    assert autopolicy.store_policy(dep, None, said.append) is False
    assert autopolicy.store_policy(dep, "off", said.append) is False
    assert autopolicy.store_policy(dep, "local", said.append) is True
    assert dep.read_info().auto_update == "local" and len(said) == 1
    assert os.stat(dep.info_path).st_mode & 0o777 == 0o600


# --- dependency order ------------------------------------------------------------------------

def test_unit_dependencies_reads_the_unit_section_only():
    first, later = unit_dependencies(
        "[Unit]\nDescription=x\nAfter=db.service network.target\nWants=cache.service\n"
        "Before=web.service\n[Service]\nAfter=ignored.service\n")
    assert first == {"db.service", "network.target", "cache.service"}
    assert later == {"web.service"}


def test_update_order_follows_after_and_before(paths):
    install_fake(paths, "a-web", "[Unit]\nAfter=m-db.service\n")
    install_fake(paths, "m-db", "[Unit]\nRequires=z-store.service\n")
    install_fake(paths, "z-store")
    install_fake(paths, "b-lone", "[Unit]\nBefore=a-web.service\nAfter=not-ours.service\n")
    said = []
    order = update_order(paths, ["a-web", "b-lone", "m-db", "z-store"], said.append)
    assert order == ["b-lone", "z-store", "m-db", "a-web"] and said == []


def test_update_order_only_counts_the_names_given(paths):
    install_fake(paths, "a", "[Unit]\nAfter=b.service\n")
    install_fake(paths, "b")
    assert update_order(paths, ["a"], lambda m: None) == ["a"]


def test_a_cycle_goes_in_name_order_with_a_warning(paths):
    install_fake(paths, "x", "[Unit]\nAfter=y.service\n")
    install_fake(paths, "y", "[Unit]\nAfter=x.service\n")
    install_fake(paths, "free")
    said = []
    assert update_order(paths, ["free", "x", "y"], said.append) == ["free", "x", "y"]
    assert said == ["warning: the units of x, y depend on each other in a cycle: they are "
                    "updated in name order"]


def test_the_deployments_unit_copy_when_the_installed_unit_is_gone(paths):
    install_fake(paths, "a", "[Unit]\n")
    dep = install_fake(paths, "b")
    paths.unit_file("a").unlink()
    (dl.current(paths, "a").unit_copy).write_text("[Unit]\nAfter=b.service\n")
    assert update_order(paths, ["a", "b"], lambda m: None) == ["b", "a"]
    assert dep.exists()


def test_row_json_uses_from_and_to():
    row = AutoUpdateRow("web", "registry", "img", "a" * 64, "b" * 64, "failed", "why")
    assert row.as_json() == {"container": "web", "policy": "registry", "image": "img",
                             "from": "a" * 64, "to": "b" * 64, "result": "failed", "reason": "why"}


# --- staging ---------------------------------------------------------------------------------

class Img:
    def __init__(self, id):
        self.id = id


def stage_fake(paths, cur: dl.Deployment, image_id: str) -> object:
    staged = dl.staged_dir(paths, cur.name, 1 - cur.index)
    staged.mkdir()
    (staged / "info").write_text(cur.info_path.read_text())
    staging.write_marker(staged, cur, image_id)
    return staged


def test_a_matching_staged_deployment_is_switched_in_and_the_old_slot_replaced(paths):
    cur = install_fake(paths, "s1")
    old = dl.deployment(paths, "s1", 1)
    old.path.mkdir()
    (old.path / "old-version").write_text("1")
    staged = stage_fake(paths, cur, "b" * 64)
    said = []
    assert staging.take_staged(paths, cur, Img("b" * 64), UpdateRequest(name="s1"), said.append)
    assert not staged.exists() and not (old.path / "old-version").exists()
    assert (old.path / "info").exists() and not (old.path / staging.MARKER).exists()
    assert said == [f"using the staged deployment of s1 ({'b' * 12})"]
    assert [p.name for p in paths.checkouts.iterdir() if p.name.startswith(".s1")] == []


@pytest.mark.parametrize("change, why", [
    ("image", "it holds bbbbbbbbbbbb, the update is to cccccccccccc"),
    ("info", "the container changed since it was staged"),
    ("set", "this update changes the container's settings"),
    ("marker", "it has no record of what was staged"),
])
def test_a_stale_staged_deployment_is_removed(paths, change, why):
    cur = install_fake(paths, "s2")
    staged = stage_fake(paths, cur, "b" * 64)
    image, req = Img("b" * 64), UpdateRequest(name="s2")
    if change == "image":
        image = Img("c" * 64)
    elif change == "info":
        cur.info_path.write_text(cur.info_path.read_text().replace('"values": {}', '"values": {"A": "1"}'))
    elif change == "set":
        req = UpdateRequest(name="s2", set_values={"A": "1"})
    else:
        (staged / staging.MARKER).unlink()
    said = []
    assert not staging.take_staged(paths, cur, image, req, said.append)
    assert not staged.exists()
    assert said == [f"the staged update of s2 is stale ({why}): building it again"]


def test_staged_images_are_in_use_and_uninstall_cleanup_finds_them(paths):
    cur = install_fake(paths, "s3")
    staged = stage_fake(paths, cur, "b" * 64)
    info = json.loads((staged / "info").read_text())
    (staged / "info").write_text(json.dumps({**info, "revision": "d" * 64}))
    assert "d" * 64 in dl.in_use_image_ids(paths)
    assert [d.path for d in dl.staged_dirs(paths)] == [staged]
    assert dl.clean_partials(paths, "s3") == [] and staged.exists()   # not a leftover


# --- timer units -----------------------------------------------------------------------------

def test_timer_unit_text():
    t = timer._timer("Mon 04:00", "10min", "Update")
    assert t.startswith(timer.OURS + "\n")
    assert "OnCalendar=Mon 04:00\nRandomizedDelaySec=10min\n" in t and "Persistent=true" in t
    assert "WantedBy=timers.target" in t


def test_execstart_quotes_each_argument(paths):
    text = timer._service(paths, ("/opt/my venv/bin/syscontainers", "--system", "a%b$c\"d"), "U")
    assert 'ExecStart="/opt/my venv/bin/syscontainers" "--system" "a%%b$$c\\"d"\n' in text
    assert "After=network-online.target" in text


def test_a_unit_file_that_is_not_ours_is_refused(tmp_path):
    path = tmp_path / "syscontainers-auto-update.timer"
    path.write_text("[Timer]\n")
    with pytest.raises(UsageError, match="not written by syscontainers"):
        timer._refuse_foreign(path)
    path.write_text(timer.OURS + "\n[Timer]\n")
    timer._refuse_foreign(path)
    timer._refuse_foreign(tmp_path / "absent.timer")


def test_a_calendar_with_a_newline_is_refused_before_systemd_is_asked():
    with pytest.raises(UsageError, match="--on-calendar: give one line"):
        timer._check_value("--on-calendar", "daily\nExecStart=/bin/sh", "calendar")


# --- command line ----------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["update", "--all", "--auto-update=local"], "update --all takes no --auto-update"),
    (["update", "web", "--check", "--auto-update=local"], "not with --check or --display"),
    (["auto-update", "--dry-run", "--stage"], "--dry-run and --stage do not go together"),
    (["auto-update", "--on-calendar", "daily"], "go with --install-timer"),
    (["auto-update", "--install-timer", "--remove-timer"], "do not go together"),
    (["auto-update", "--install-timer", "--dry-run"], "take no --dry-run"),
])
def test_wrong_command_lines_are_one_line_and_exit_2(argv, message, tmp_path, capsys):
    from syscontainers.cli.__main__ import main

    code = main(["--checkout-path", str(tmp_path / "co"), "--repo", str(tmp_path / "repo"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "co").exists()


def test_a_pinned_container_is_a_pinned_row_and_not_asked(paths, monkeypatch):
    """Where the info file records a pin (`pin NAME`), auto-update holds the container."""
    from syscontainers.lifecycle import autoupdate

    install_fake(paths, "held")
    info = dl.current(paths, "held").read_info()
    pinned = type("Pinned", (), {"pinned": True, "pinned_reason": "audit", "auto_update": "registry",
                                 "image": info.image, "revision": info.revision})()
    monkeypatch.setattr(dl.Deployment, "read_info", lambda self: pinned)
    monkeypatch.setattr(autoupdate, "update", lambda *a, **k: pytest.fail("a pinned one was updated"))
    rows = autoupdate.auto_update(paths, autoupdate.AutoUpdateRequest(), lambda m: None)
    assert [(r.container, r.result, r.reason) for r in rows] == [("held", "pinned", "audit")]
