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


_KEYS = ("system", "user", "checkout_path", "repo", "quiet", "log_level", "name", "func")


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
