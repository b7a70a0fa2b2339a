"""The quick paths of start/stop/status (docs/performance.md "start, stop, status"): a plain
command line is parsed without argparse, the config file's parser is imported only for a
config file, and a missing runtime state directory answers "no container" without a process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from syscontainers.cli.__main__ import build_parser, quick_args
from syscontainers.config import load_config
from syscontainers.errors import ConfigError
from syscontainers.service import runtime


def test_start_imports_neither_argparse_tomllib_other_groups_nor_gi(tmp_path):
    """What a start loads (argparse stops after the parse: the container is not installed)."""
    code = ("import sys\n"
            "from syscontainers.cli.__main__ import main\n"
            "rc = main(['--checkout-path', sys.argv[1], 'start', 'nosuch'])\n"
            "mods = [m for m in sys.modules if m in ('tomllib', 'gi', 'argparse', 'syscontainers.cli.images',"
            " 'syscontainers.cli.run', 'syscontainers.lifecycle.build', "
            "'syscontainers.lifecycle.activation', 'syscontainers.lifecycle.switch')]\n"
            "print(rc, sorted(mods))\n")
    env = {**os.environ, "SYSCONTAINERS_CONFIG": str(tmp_path / "none.toml")}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "co")], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "1 []"


def test_config_errors_keep_their_messages(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_bytes(b"runtime = \"\xff\"\n")
    with pytest.raises(ConfigError, match=f"invalid config file {conf}: 'utf-8' codec"):
        load_config(conf)
    conf.write_text("runtime = [\n")
    with pytest.raises(ConfigError, match=f"invalid config file {conf}: "):
        load_config(conf)
    conf.write_text('runtime = "/usr/bin/crun"\n')
    assert load_config(conf).runtime == "/usr/bin/crun"


def test_may_have_container_is_a_stat_for_runc_and_crun(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "_STATE_ROOTS", {"runc": str(tmp_path / "runc"),
                                                  "crun": str(tmp_path / "crun")})
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert not runtime.may_have_container("/usr/sbin/runc", "web", False)
    (tmp_path / "runc/web").mkdir(parents=True)
    assert runtime.may_have_container("/usr/sbin/runc", "web", False)
    assert not runtime.may_have_container("/usr/bin/crun", "web", False)
    # user mode, another runtime, not root: unknown, so the caller asks the runtime
    assert runtime.may_have_container("/usr/bin/crun", "web", True)
    assert runtime.may_have_container("/opt/bin/kata", "web", False)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert runtime.may_have_container("/usr/sbin/runc", "x", False)


_KEYS = ("system", "user", "checkout_path", "repo", "quiet", "log_level", "name")


@pytest.mark.parametrize("argv", [
    ["start", "web"], ["stop", "web"], ["status", "web.1"],
    ["--system", "-q", "start", "web"], ["--user", "--quiet", "stop", "w"],
    ["--checkout-path", "/co", "--repo=/r", "status", "x"],
    ["--checkout-path=/co", "--log-level", "warn", "start", "x"],
    ["--log-level=debug", "stop", "status"],
])
def test_quick_args_parse_as_argparse_does(argv):
    quick, full = quick_args(argv), build_parser().parse_args(argv)
    assert quick is not None
    assert {k: getattr(quick, k) for k in _KEYS} == {k: getattr(full, k) for k in _KEYS}
    assert quick.verb == full.func.__name__.lstrip("_")    # _run dispatches on it


_LIST_KEYS = ("system", "user", "checkout_path", "repo", "quiet", "log_level", "func", "json",
              "all", "filter", "noheading", "no_trunc", "list_quiet", "format")


@pytest.mark.parametrize("argv", [
    ["list"], ["ps"], ["list", "--json"], ["--user", "-q", "ps", "--json"],
    ["--checkout-path", "/co", "--repo=/r", "--log-level", "warn", "list"],
])
def test_quick_list_parses_as_argparse_does(argv):
    """list with 1000 containers: argparse was a tenth of it (docs/performance.md)."""
    quick, full = quick_args(argv), build_parser().parse_args(argv)
    assert quick is not None
    assert {k: getattr(quick, k) for k in _LIST_KEYS} == {k: getattr(full, k) for k in _LIST_KEYS}
    assert set(vars(full)) <= set(vars(quick)) | {"command", "group", "storage", "assumeyes"}


@pytest.mark.parametrize("argv", [
    ["list", "-a"], ["list", "--json", "--json"], ["list", "-q"], ["ps", "-f", "name=a"],
    ["list", "--no-trunc"], ["list", "x"], ["--repo=", "list"],
    ["start"], ["start", "a", "b"], ["start", "-x"], ["--system", "--user", "start", "a"],
    ["--log-level", "loud", "start", "a"], ["--checkout-path"], ["--check", "/co", "start", "a"],
    ["-h"], ["start", "--help"], ["logs", "a"], ["install", "img"], ["--repo=", "start", "a"],
    ["--version"], [],
])
def test_anything_else_goes_to_argparse(argv):
    assert quick_args(argv) is None


# --- lifecycle/quickcontrol.py: the plain case of start/stop with only os and json ----------

from hypothesis import given, strategies as st  # noqa: E402

from syscontainers import paths as paths_mod  # noqa: E402
from syscontainers.deploy import deployment as dl  # noqa: E402
from syscontainers.errors import ServiceError, UsageError  # noqa: E402
from syscontainers.lifecycle import quickcontrol as qc  # noqa: E402


def test_copied_values_match_their_originals():
    assert qc.SYSTEM_CHECKOUTS == str(paths_mod.SYSTEM_CHECKOUTS)
    assert qc.SYSTEM_CONFIG_FILE == str(paths_mod.SYSTEM_CONFIG_FILE)
    assert qc.DEFAULT_RUNTIME == runtime.DEFAULT_RUNTIME
    assert qc.STATE_ROOTS == runtime._STATE_ROOTS
    assert qc.NAME_MAX == dl.NAME_MAX


@given(st.text(alphabet="aZ09_.@-/é ", max_size=8) | st.sampled_from(
    ["web", "a" * 200, "a" * 201, "x..y", ".x", "-x", "@x", "_x", "web.1", "a@b"]))
def test_a_plain_name_is_one_validate_name_accepts(name):
    try:
        dl.validate_name(name)
        valid = True
    except UsageError:
        valid = False
    assert qc.plain_name(name) == valid


@pytest.fixture
def plain(tmp_path, monkeypatch):
    """Root, no config file, checkouts under tmp_path, a runtime (/bin/true) whose state root
    is under tmp_path, and a `systemctl` on PATH that logs its arguments (exit status from
    $FAKE_RC)."""
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setenv("SYSCONTAINERS_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.delenv("ATOMIC_OSTREE_CHECKOUT_PATH", raising=False)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(
        '#!/bin/sh\necho "$@" >> "$(dirname "$0")/calls"\necho "some output"\n'
        'if [ "${FAKE_RC:-0}" != 0 ]; then echo "Job failed." >&2; echo "See logs." >&2; fi\n'
        'exit "${FAKE_RC:-0}"\n')
    (bin_dir / "systemctl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    co = tmp_path / "co"
    (co / "web.1").mkdir(parents=True)
    (co / "web").symlink_to(co / "web.1")
    (co / "web.1/info").write_text('{"image": "x", "runtime": "/bin/true"}')
    monkeypatch.setattr(qc, "STATE_ROOTS", {"true": str(tmp_path / "run-runc")})
    return co, bin_dir / "calls"


def _calls(log):
    return log.read_text().splitlines() if log.exists() else []


def test_plain_start_and_stop_are_one_systemctl_each(plain):
    co, log = plain
    assert qc.start("web", checkout_flag=str(co), user_flag=False)
    assert qc.stop("web", checkout_flag=str(co), repo_flag=None, user_flag=False)
    assert _calls(log) == ["start web.service", "stop web.service"]


@pytest.mark.parametrize("setup", ["user", "not-root", "config", "unknown", "bad-name",
                                   "other-link", "switching", "installing", "state-left",
                                   "custom-runtime", "relative-runtime", "bad-info"])
def test_anything_but_the_plain_case_starts_nothing(plain, setup, monkeypatch, tmp_path):
    """False before any systemctl: the full path (control.start) then does it all."""
    co, log = plain
    name, user = "web", False
    if setup == "user":
        user = True
    elif setup == "not-root":
        monkeypatch.setattr(os, "geteuid", lambda: 1000)
    elif setup == "config":
        (tmp_path / "none.toml").write_text("")
    elif setup == "unknown":
        name = "nosuch"
    elif setup == "bad-name":
        name = "../web"
    elif setup == "other-link":
        (co / "web").unlink()
        (co / "web").symlink_to(co / "other.1")
    elif setup in ("switching", "installing"):
        (co / f".web.{setup}").write_text("")
    elif setup == "state-left":
        (tmp_path / "run-runc/web").mkdir(parents=True)
    elif setup == "custom-runtime":
        (co / "web.1/info").write_text('{"runtime": "/bin/sh"}')
    elif setup == "relative-runtime":
        (co / "web.1/info").write_text('{"runtime": "true"}')
    elif setup == "bad-info":
        (co / "web.1/info").write_text('["not", "an object"]')
    assert not qc.start(name, checkout_flag=str(co), user_flag=user)
    assert _calls(log) == []


def test_stop_with_state_left_hands_the_leftover_to_the_full_path(plain, monkeypatch,
                                                                 tmp_path):
    co, log = plain
    (tmp_path / "run-runc/web").mkdir(parents=True)
    seen = []
    from syscontainers.lifecycle import control
    monkeypatch.setattr(control, "clear_leftover", lambda paths, name: seen.append(
        (str(paths.checkouts), name)))
    assert qc.stop("web", checkout_flag=str(co), repo_flag=None, user_flag=False)
    assert _calls(log) == ["stop web.service"] and seen == [(str(co), "web")]


def test_a_failing_systemctl_is_one_line_as_on_the_full_path(plain, monkeypatch):
    co, log = plain
    monkeypatch.setenv("FAKE_RC", "1")
    with pytest.raises(ServiceError) as e:
        qc.start("web", checkout_flag=str(co), user_flag=False)
    assert str(e.value) == "systemctl start web.service: See logs."
    monkeypatch.setenv("FAKE_RC", "5")
    from syscontainers.service.systemd import Systemd
    with pytest.raises(ServiceError) as full:
        Systemd(False).stop("web.service")
    with pytest.raises(ServiceError) as quick:
        qc.systemctl("stop", "web.service")
    assert str(quick.value) == str(full.value) == "systemctl stop web.service: See logs."


def test_a_missing_systemctl_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ServiceError, match="^systemctl is not installed$"):
        qc.systemctl("start", "web.service")


def test_a_plain_start_imports_nothing_of_the_full_path(tmp_path):
    """What `start NAME` loads in the plain case (checked by name: no timing)."""
    code = ("import os, sys\n"
            "os.geteuid = lambda: 0\n"
            "from syscontainers.lifecycle import quickcontrol as qc\n"
            "qc.STATE_ROOTS = {'true': sys.argv[2]}\n"
            "from syscontainers.cli.__main__ import main\n"
            "rc = main(['--checkout-path', sys.argv[1], 'start', 'web'])\n"
            "heavy = ('dataclasses', 'pathlib', 'subprocess', 'argparse', 'json.decoder', 're',"
            " 'syscontainers.paths', 'syscontainers.deploy.deployment',"
            " 'syscontainers.lifecycle.control')\n"
            "print(rc, sorted(m for m in sys.modules if m in heavy))\n")
    co = tmp_path / "co"
    (co / "web.0").mkdir(parents=True)
    (co / "web").symlink_to("web.0")
    (co / "web.0/info").write_text('{"runtime": "/bin/true"}')
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").symlink_to("/bin/true")
    env = {**os.environ, "SYSCONTAINERS_CONFIG": str(tmp_path / "none.toml"),
           "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    out = subprocess.run([sys.executable, "-c", code, str(co), str(tmp_path / "state")],
                         env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "0 []"


def test_the_early_status_text_is_systemctl_status_of_the_unit(plain):
    co, log = plain
    early = qc.early_status_text("web", system_flag=False, user_flag=False)
    assert early.communicate() == ("some output\n", None)
    early.discard()                     # after communicate: nothing left to do
    assert _calls(log) == ["status --no-pager --full web.service"]
    early = qc.early_status_text("web", system_flag=False, user_flag=True)
    pid = early.pid
    early.discard()                     # not wanted: closed and reaped, no zombie left
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    assert _calls(log)[-1] == "--user status --no-pager --full web.service"


@pytest.mark.parametrize("name, system", [("../x", False), ("", False), ("web", True)])
def test_no_early_status_text_for_a_line_the_full_path_refuses(plain, monkeypatch, name,
                                                               system):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)     # --system needs root
    assert qc.early_status_text(name, system_flag=system, user_flag=False) is None
    assert _calls(plain[1]) == []


def test_status_uses_the_early_text_and_discards_it_on_an_error(plain, monkeypatch, capsys):
    """cli/quick.py: an unknown NAME (exit 4) leaves no systemctl process behind."""
    from syscontainers.cli.__main__ import main
    co, log = plain
    started = []
    real = qc.EarlyProcess.spawn.__func__

    def spy(cls, *a, **kw):
        started.append(real(cls, *a, **kw))
        return started[-1]
    monkeypatch.setattr(qc.EarlyProcess, "spawn", classmethod(spy))
    assert main(["--checkout-path", str(co), "status", "nosuch"]) == 4
    assert len(started) == 1 and started[0].returncode is not None     # discarded: reaped
    assert capsys.readouterr().err == "error: container nosuch is not installed\n"


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                     | st.text(), lambda kids: st.lists(kids) | st.dictionaries(st.text(), kids),
                     max_leaves=10)


@given(st.dictionaries(st.text(), _JSON))
def test_json_object_reads_what_json_loads_reads(obj):
    import json
    for text in (json.dumps(obj), json.dumps(obj, indent=4) + "\n"):
        assert qc.json_object(text.encode()) == json.loads(text)


@pytest.mark.parametrize("bad", [b"", b"{", b'{"a": 1} x', b"nope", b'{"a": 1}{}', b"\xff{}",
                                 b" ", b"\v{}"])
def test_json_object_refuses_what_is_not_one_json_value(bad):
    with pytest.raises((ValueError, StopIteration)):
        qc.json_object(bad)


def test_json_object_skips_the_blanks_json_loads_skips():
    assert qc.json_object(b' \t\n{"a": 1}\r\n') == {"a": 1}


def test_json_object_constants_as_json(monkeypatch):
    import math
    assert qc.json_object(b'{"a": NaN, "b": -Infinity, "c": 1.5e3, "d": [true, null]}') == \
        {"a": pytest.approx(math.nan, nan_ok=True), "b": -math.inf, "c": 1500.0,
         "d": [True, None]}
