"""Values precedence (docs/templates.md), --set parsing, OS values and ALL_PROCESS_CAPABILITIES."""

from __future__ import annotations

import json

import pytest

from syscontainers.deploy import capabilities
from syscontainers.deploy.exports import Exports, ExportsManifest
from syscontainers.deploy.render import Target, deployment_values
from syscontainers.deploy.values import (
    FORCED_VARIABLES, carried_values, compute_values, forced_values, os_values, parse_set,
    tool_path,
)
from syscontainers.errors import UsageError
from syscontainers.service.runtime import ExecCommands, Runtime

RUNC = Runtime("/usr/sbin/runc", supports_pid_file=True, supports_systemd_cgroup=True)


# ---------------------------------------------------------------- --set

def test_set_splits_at_the_first_equal_sign():
    assert parse_set(["A=b=c", "EMPTY=", "X=1"]) == {"A": "b=c", "EMPTY": "", "X": "1"}


def test_set_later_pair_wins():
    assert parse_set(["A=1", "A=2"]) == {"A": "2"}


@pytest.mark.parametrize("bad", ["NOVALUE", "=value", ""])
def test_set_without_name_or_equal_sign_is_a_usage_error(bad):
    with pytest.raises(UsageError, match="Expected form NAME=VALUE"):
        parse_set([bad])


@pytest.mark.parametrize("forced", FORCED_VARIABLES)
def test_set_refuses_forced_variables(forced):
    with pytest.raises(UsageError, match=f"{forced} is set by syscontainers"):
        parse_set([f"{forced}=x"])


def test_set_keeps_newlines_and_json_fragments_verbatim():
    frag = ',{"type": "bind",\n "source": "/x"}'
    assert parse_set([f"M={frag}"]) == {"M": frag}


# ---------------------------------------------------------------- OS values

def test_os_values_system_mode():
    v = os_values(False, "web", "/usr/sbin/runc", uuid="u-1", env={}, home="/root")
    assert v["RUN_DIRECTORY"] == "/run"
    assert v["PIDFILE"] == "/run/container-web.pid"
    assert v["CONF_DIRECTORY"] == "/etc"
    assert v["STATE_DIRECTORY"] == "/var/lib"
    assert v["RUNTIME"] == "/usr/sbin/runc"
    assert v["UUID"] == "u-1"
    assert v["ALL_PROCESS_CAPABILITIES"] == capabilities.all_process_capabilities()
    assert v["ATOMIC"].startswith("/")


def test_os_values_user_mode():
    v = os_values(True, "web", "/usr/sbin/runc", uuid="u",
                  env={"XDG_RUNTIME_DIR": "/run/user/1000"}, home="/home/al")
    assert v["RUN_DIRECTORY"] == "/run/user/1000"
    assert v["PIDFILE"] == "/run/user/1000/container-web.pid"
    assert v["CONF_DIRECTORY"] == "/home/al/.config"
    assert v["STATE_DIRECTORY"] == "/home/al/.data"


def test_pidfile_follows_a_run_directory_given_with_set():
    v = os_values(False, "web", "/r", user_set={"RUN_DIRECTORY": "/srv/run/"}, env={})
    assert v["PIDFILE"] == "/srv/run/container-web.pid"
    assert v["RUN_DIRECTORY"] == "/run"  # the OS value itself; --set overrides it later


def test_a_new_uuid_each_time_unless_given():
    a = os_values(False, "n", "/r", env={})["UUID"]
    b = os_values(False, "n", "/r", env={})["UUID"]
    assert a != b and len(a) == 36


def test_tool_path_prefers_the_entry_point(tmp_path):
    script = tmp_path / "syscontainers"
    script.write_text("#!/bin/sh\n")
    assert tool_path(str(script)) == str(script)
    assert tool_path("relative/prog.py").startswith("/")


# ---------------------------------------------------------------- precedence

LAYERS = ("default", "os", "set", "forced")


@pytest.mark.parametrize("present, winner", [
    (("default",), "default"),
    (("default", "os"), "os"),
    (("default", "os", "set"), "set"),
    (("os", "set"), "set"),
    (("default", "set"), "set"),
    (("default", "os", "set", "forced"), "forced"),
    (("set", "forced"), "forced"),
    (("default", "forced"), "forced"),
])
def test_precedence_table(present, winner):
    layers = [{"V": layer} if layer in present else {} for layer in LAYERS]
    assert compute_values(*layers)["V"] == winner


def _target(**kw) -> Target:
    base = dict(name="web", destdir="/var/lib/containers/atomic/web.0", image_name="img:1",
                image_id="abc", user_mode=False, runtime=RUNC, uid=0, gid=0)
    base.update(kw)
    return Target(**base)


def test_deployment_values_layers_end_to_end():
    exports = Exports(manifest=ExportsManifest(default_values={
        "PORT": "80", "RUN_DIRECTORY": "/image/run", "NAME": "image-name"}))
    values = deployment_values(exports, _target(), {"PORT": "8080"}, uuid="keep-me")
    assert values["PORT"] == "8080"                      # --set beats the image default
    assert values["RUN_DIRECTORY"] == "/run"             # the OS beats the image default
    assert values["NAME"] == "web"                       # forced beats everything
    assert values["UUID"] == "keep-me"
    assert values["DESTDIR"] == "/var/lib/containers/atomic/web.0"
    assert values["IMAGE_NAME"] == "img:1" and values["IMAGE_ID"] == "abc"
    assert values["HOST_UID"] == "0" and values["HOST_GID"] == "0"
    # The default unit mentions $EXEC_STOPPOST and $PIDFILE: detached mode.
    assert values["EXEC_START"] == \
        "/usr/sbin/runc run -d --pid-file /run/container-web.pid 'web'"
    assert values["EXEC_STOPPOST"] == "/usr/sbin/runc delete 'web'"
    assert values["EXEC_STOP"] == "" and values["EXEC_STARTPRE"] == ""
    assert set(FORCED_VARIABLES) <= set(values)
    json.dumps(values)  # all of it is stored in the info file


def test_deployment_values_pidfile_in_exec_start_follows_set_run_directory():
    values = deployment_values(Exports(), _target(), {"RUN_DIRECTORY": "/srv"})
    assert values["PIDFILE"] == "/srv/container-web.pid"
    assert "--pid-file /srv/container-web.pid" in values["EXEC_START"]


def test_carried_values_keep_stored_values_but_not_forced_ones():
    stored = {"UUID": "u", "NAME": "old", "EXEC_START": "x", "PORT": "1", "RUN_DIRECTORY": "/run"}
    assert carried_values(stored, {"PORT": "2"}) == {"UUID": "u", "PORT": "2", "RUN_DIRECTORY": "/run"}


def test_forced_values_include_exec_commands():
    v = forced_values(name="n", destdir="/d", exec_commands=ExecCommands("s", "t", "p", "q"),
                      image_name="i", image_id="id", host_uid=5, host_gid=6)
    assert v == {"DESTDIR": "/d", "NAME": "n", "HOST_UID": "5", "HOST_GID": "6", "IMAGE_NAME": "i",
                 "IMAGE_ID": "id", "EXEC_START": "s", "EXEC_STOP": "t", "EXEC_STARTPRE": "p",
                 "EXEC_STOPPOST": "q"}


# ---------------------------------------------------------------- capabilities

def test_capability_numbers_are_the_kernels():
    names = capabilities.CAPABILITY_NAMES
    assert len(names) == 41
    assert (names[0], names[21], names[24], names[38], names[40]) == (
        "CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_SYS_RESOURCE", "CAP_PERFMON", "CAP_CHECKPOINT_RESTORE")


def test_bounding_set_drops_what_the_process_cannot_grant():
    # Every bit 0..40 set except 24 (CAP_SYS_RESOURCE), plus unknown bits 41 and 45.
    mask = ((1 << 41) - 1) & ~(1 << 24) | (1 << 41) | (1 << 45)
    status = f"Name:\tx\nCapInh:\t0000000000000000\nCapBnd:\t{mask:016x}\n"
    caps = capabilities.bounding_set(status)
    assert "CAP_SYS_RESOURCE" not in caps
    assert len(caps) == 40
    assert caps == [n for n in capabilities.CAPABILITY_NAMES if n != "CAP_SYS_RESOURCE"]


def test_all_process_capabilities_format():
    status = "CapBnd:\t0000000000000023\n"  # bits 0, 1, 5
    assert capabilities.all_process_capabilities(status) == \
        '"CAP_CHOWN",\n"CAP_DAC_OVERRIDE",\n"CAP_KILL"'
    # The point: it drops into a JSON list.
    assert json.loads("[" + capabilities.all_process_capabilities(status) + "]") == \
        ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_KILL"]


def test_bounding_set_of_this_process_matches_proc():
    with open("/proc/self/status") as f:
        line = next(ln for ln in f if ln.startswith("CapBnd:"))
    mask = int(line.split()[1], 16)
    caps = capabilities.bounding_set()
    assert caps == capabilities.names_from_mask(mask)
    assert len(caps) == bin(mask & ((1 << 41) - 1)).count("1")


# ---------------------------------------------------------------- --set-secret and masking

class _Stdin:
    def __init__(self, text: str, tty: bool = False):
        import io
        self._io, self._tty = io.StringIO(text), tty

    def readline(self) -> str:
        return self._io.readline()

    def isatty(self) -> bool:
        return self._tty


def test_set_secret_reads_stdin_lines_and_files(tmp_path):
    from syscontainers.deploy.values import parse_set_secret
    f = tmp_path / "token"
    f.write_text("s3cret=x\n")
    got = parse_set_secret(["A", "B=@" + str(f), "C"], stdin=_Stdin("first line\nsecond\n"))
    assert got == {"A": "first line", "B": "s3cret=x", "C": "second"}


@pytest.mark.parametrize("item, message", [
    ("A=plain", "NAME=@FILE"),
    ("=@x", "NAME=@FILE"),
    ("TOKEN=@/nonexistent/file", "cannot read /nonexistent/file"),
    ("DESTDIR", "set by syscontainers"),
    ("A", "no line left on stdin"),
])
def test_set_secret_errors_never_show_a_value(item, message):
    from syscontainers.deploy.values import parse_set_secret
    with pytest.raises(UsageError, match=message) as e:
        parse_set_secret([item], stdin=_Stdin(""))
    assert "plain" not in str(e.value)


def test_a_name_in_both_set_and_set_secret_is_refused():
    from syscontainers.deploy.values import merge_set
    assert merge_set({"A": "1"}, {"B": "2"}) == {"A": "1", "B": "2"}
    with pytest.raises(UsageError, match="B is given with both"):
        merge_set({"B": "1"}, {"B": "2"})


def test_mask_values_and_text():
    from syscontainers.deploy.values import mask_text, mask_values
    values = {"TOKEN": "abc", "LONG": "abcdef", "PORT": "8080", "EMPTY": ""}
    assert mask_values(values, ["TOKEN", "EMPTY"]) == {"TOKEN": "***", "LONG": "abcdef",
                                                        "PORT": "8080", "EMPTY": "***"}
    assert mask_text("x=abcdef y=abc p=8080", values, ["TOKEN", "LONG", "EMPTY"]) == \
        "x=*** y=*** p=8080"
    assert mask_text("nothing", values, []) == "nothing"
