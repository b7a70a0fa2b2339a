"""update --check reports the privileges the new deployment asks for (docs/operations.md
"Privileges in update --check"): the report's shape, its JSON and its text."""

from __future__ import annotations

from types import SimpleNamespace

from syscontainers.cli.containers import _print_check
from syscontainers.deploy.privileges import Privilege
from syscontainers.lifecycle.check import CheckReport, _add_privileges

HOOKS = Privilege("hooks", "OCI hooks run on the host: prestart /bin/true", True)
NET = Privilege("host-network", "shares the host's network namespace", False)
UNITS = Privilege("units", "host file /etc/systemd/system/x.service", True)


def _report() -> CheckReport:
    return CheckReport("app", "a" * 64, "reg/app:1", "b" * 64, "reg/app:1", "reg/app:1", False)


def _built(allowed, unavailable=()):
    return SimpleNamespace(privileges=frozenset({HOOKS, NET, UNITS}), unavailable=tuple(unavailable),
                           info=SimpleNamespace(allowed_privileges=allowed))


def test_rendered_report_names_each_privilege_and_what_is_not_allowed():
    r = _report()
    _add_privileges(r, _built(["units"], ["capability CAP_SYS_RESOURCE is outside the bounding set"]))
    j = r.as_json()
    assert j["privileges"] == [
        {"name": "hooks", "detail": HOOKS.detail, "dangerous": True},
        {"name": "host-network", "detail": NET.detail, "dangerous": False},
        {"name": "units", "detail": UNITS.detail, "dangerous": True}]
    assert j["needs_allow"] == ["hooks"]
    assert j["host_cannot_grant"] == ["capability CAP_SYS_RESOURCE is outside the bounding set"]
    assert j["update_available"] is True and j["values"] == {}    # the older keys are still there


def test_a_deployment_from_before_allow_counts_as_granting_nothing_new():
    r = _report()
    _add_privileges(r, _built(None))
    assert r.needs_allow == ["hooks", "units"] and r.host_cannot_grant == []


def test_not_rendered_means_not_known():
    j = _report().as_json()
    assert j["privileges"] is None and j["needs_allow"] is None and j["host_cannot_grant"] is None


def test_text_shows_the_privileges_as_install_does(capsys):
    r = _report()
    r.files = ["config.json"]
    _add_privileges(r, _built([], ["an SELinux label on a host without SELinux"]))
    _print_check(r)
    out = capsys.readouterr().out
    assert f"  privilege {HOOKS.line()}\n" in out and f"  privilege {NET.line()}\n" in out
    assert "this host cannot grant: an SELinux label on a host without SELinux" in out
    assert "update would be refused: needs --allow=hooks,units" in out


def test_text_says_privileges_are_not_known_without_the_layers(capsys):
    _print_check(_report())      # files None: the new image's layers are not stored
    assert "privileges: not known until the new image's layers are fetched" in capsys.readouterr().out
