"""The command's front (src/front/*.c; docs/performance.md "The command's front") against the
Python command behind it: the same lines start the same systemctl process early, and the
status line the front prints itself is the full path's, byte for byte, or the front leaves
the line to Python. A systemctl on PATH records its arguments and answers `show` from a
file; the fronts are built from src/front as `make deps` builds them, with a Python that
notes each run (so a test knows whether the front answered by itself or handed over).
tests/integration/test_control.py does the same against a real systemd."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from syscontainers.cli import quick
from syscontainers.deploy.infofields import INFO_TYPES, info_fields
from syscontainers.errors import ConfigError
from syscontainers.lifecycle import quickcontrol as qc

pytestmark = pytest.mark.root          # the plain case is root's

REPO = Path(__file__).resolve().parents[2]
VENV_PY = REPO / ".venv/bin/python3"
sys.path.insert(0, str(REPO / "scripts"))
import write_launcher  # noqa: E402

RUNNING = "LoadState=loaded\nActiveState=active\nSubState=running\nNRestarts=0\n"


@pytest.fixture(scope="module")
def fronts(tmp_path_factory):
    """Two fronts: ``noting`` execs a stand-in for Python that only notes the hand-over
    (fast verdicts), ``real`` execs the real Python with a launcher that notes it first (not
    a shell: a shell may reap the front's processes before Python adopts them)."""
    d = tmp_path_factory.mktemp("front")
    launcher = d / "launcher.py"
    write_launcher.write_script(launcher, VENV_PY, None)
    noting_launcher = d / "noting-launcher.py"
    noting_launcher.write_text(
        "import os, sys\n"
        "with open(os.environ['FRONT_LOG'], 'a') as log:\n"
        "    log.write('ran:' + os.environ.get('SYSCONTAINERS_EARLY', '') + '\\n')\n"
        + launcher.read_text().split("\n", 1)[1])
    stand_in = d / "python"
    stand_in.write_text('#!/bin/sh\necho "ran:$SYSCONTAINERS_EARLY" >> "$FRONT_LOG"\n')
    stand_in.chmod(0o755)
    built = {"noting": d / "front-noting", "real": d / "front-real", "launcher": launcher}
    write_launcher.build_front(built["noting"], stand_in, launcher)
    write_launcher.build_front(built["real"], VENV_PY, noting_launcher)
    return built


class Box:
    """A checkouts dir with one container, a recording systemctl, and the env to run in."""

    def __init__(self, tmp_path: Path):
        self.name = f"scfront{uuid.uuid4().hex[:8]}"     # no unit of that name on the machine
        self.co, self.tmp = tmp_path / "co", tmp_path
        self.dep = self.co / f"{self.name}.0"
        self.dep.mkdir(parents=True)
        (self.co / self.name).symlink_to(self.dep)
        self.info = {"image": "127.0.0.1:5000/web:1", "revision": "ab" * 32,
                     "runtime": "/usr/sbin/runc", "auto-update": "off", "pinned": False,
                     "health-check": None, "image-health-check": None}
        self.write()
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "systemctl").write_text(
            '#!/bin/sh\necho "$@" >> "$SYSTEMCTL_LOG"\n'
            'case "$1" in show) cat "$FAKE_SHOW" ;; status) echo "status text" ;; esac\n')
        (bin_dir / "systemctl").chmod(0o755)
        self.show(RUNNING)
        self.env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
                    "SYSCONTAINERS_CONFIG": str(tmp_path / "none.toml"),
                    "SYSTEMCTL_LOG": str(tmp_path / "systemctl.log"),
                    "FRONT_LOG": str(tmp_path / "front.log"), "FAKE_SHOW": str(tmp_path / "show")}
        self.env.pop("ATOMIC_OSTREE_CHECKOUT_PATH", None)
        self.env.pop("SYSCONTAINERS_EARLY", None)

    def write(self, info: dict | str | None = None) -> None:
        text = info if isinstance(info, str) else json.dumps(info or self.info, indent=4)
        (self.dep / "info").write_text(text)

    def show(self, props: str, unit: str | None = None) -> None:
        (self.tmp / "show").write_text(f"Id={unit or self.name + '.service'}\n{props}")

    def argv(self, *words: str) -> list[str]:
        return ["--checkout-path", str(self.co), *words]

    def run(self, exe: list[str], *words: str) -> subprocess.CompletedProcess:
        for log in ("systemctl.log", "front.log"):
            (self.tmp / log).unlink(missing_ok=True)
        return subprocess.run([*exe, *words], env=self.env, capture_output=True, text=True,
                              timeout=60)

    def handed_over(self) -> list[str] | None:
        """The front's hand-overs (SYSCONTAINERS_EARLY of each Python run); None: none ran."""
        log = self.tmp / "front.log"
        return log.read_text().splitlines() if log.exists() else None


@pytest.fixture
def box(tmp_path):
    return Box(tmp_path)


@pytest.fixture
def runc_state(box):
    """Makes runc's state directory of the box's container (/run/runc/NAME: a leftover, to
    the plain case) on demand; removes it, and /run/runc when it made that too."""
    root = Path("/run/runc")
    made_root = not root.exists()
    state = root / box.name

    def make() -> None:
        state.mkdir(parents=True)
    yield make
    if state.exists():
        state.rmdir()
    if made_root and root.exists() and not any(root.iterdir()):
        root.rmdir()


# --- which lines start systemctl early: the front's checks are quickcontrol's ---------------

def _python_verdict(argv: list[str]) -> str:
    """What the Python command would start first for this line: VERB, or none."""
    ns = quick.quick_args(argv)
    if ns is None or ns.func is not quick._run or ns.log_level == "debug":
        return "none"
    if ns.verb == "status":
        ok = qc.plain_name(ns.name) and not (ns.system and os.geteuid() != 0)
    elif ns.verb == "stop":
        ok = qc._plain(ns.name, ns.checkout_path, ns.user) is not None
    else:
        ok = qc.start_is_plain(ns.name, ns.checkout_path, ns.user)
    return ns.verb if ok else "none"


def _front_verdict(box: Box, fronts, argv: list[str]) -> str:
    """What the front started for this line: VERB, or none."""
    r = box.run([str(fronts["noting"])], *argv)
    runs = box.handed_over()
    if runs is None:                  # the front finished the line by itself
        calls = (box.tmp / "systemctl.log").read_text().splitlines()
        verb = argv[-2]
        assert calls[0].split()[0] == verb and r.returncode in (0, 3), (calls, r)
        return verb
    assert len(runs) == 1, runs
    early = runs[0].removeprefix("ran:").split(" ")
    return early[0] if early != [""] else "none"


_LINES = [["start", "N"], ["stop", "N"], ["status", "N"], ["-q", "--system", "start", "N"],
          ["--log-level", "debug", "stop", "N"], ["--log-level=warn", "stop", "N"],
          ["--user", "stop", "N"], ["--user", "status", "N"], ["--repo=", "start", "N"],
          ["--repo", "/r", "stop", "N"], ["start", "-N"], ["start", "N", "x"], ["list"],
          ["--system", "--user", "stop", "N"], ["--log-level", "loud", "stop", "N"],
          ["--checkout-path-x", "/c", "stop", "N"], ["status", "bad..name"], ["--quiet"],
          ["stop", "nosuch"], ["status", "nosuch"]]


@pytest.mark.parametrize("words", _LINES, ids=" ".join)
def test_the_front_starts_what_the_python_command_would_start_first(box, fronts, words,
                                                                    monkeypatch):
    monkeypatch.setenv("SYSCONTAINERS_CONFIG", box.env["SYSCONTAINERS_CONFIG"])
    argv = box.argv(*(box.name if w == "N" else w for w in words))
    assert _front_verdict(box, fronts, argv) == _python_verdict(argv)


@pytest.mark.parametrize("setup", ["plain", "config", "switching", "installing", "state-left",
                                   "other-link", "custom-runtime", "relative-runtime",
                                   "null-runtime", "no-runtime", "escaped-runtime",
                                   "bad-info", "not-json", "blank-first", "runtime-twice"])
@pytest.mark.parametrize("verb", ["start", "stop"])
def test_the_plain_case_is_quickcontrols(box, fronts, setup, verb, monkeypatch, runc_state):
    monkeypatch.setenv("SYSCONTAINERS_CONFIG", box.env["SYSCONTAINERS_CONFIG"])
    if setup == "config":
        Path(box.env["SYSCONTAINERS_CONFIG"]).write_text("")
    elif setup in ("switching", "installing"):
        (box.co / f".{box.name}.{setup}").write_text("")
    elif setup == "state-left":
        runc_state()
    elif setup == "other-link":
        (box.co / box.name).unlink()
        (box.co / box.name).symlink_to(box.co / "other.0")
    elif setup in ("custom-runtime", "relative-runtime", "null-runtime", "no-runtime"):
        box.info["runtime"] = {"custom-runtime": "/bin/sh", "relative-runtime": "runc",
                               "null-runtime": None, "no-runtime": None}[setup]
        if setup == "no-runtime":
            del box.info["runtime"]
        box.write()
    elif setup == "escaped-runtime":
        box.write('{"runtime": "\\/usr\\/sbin\\/runc"}')
    elif setup == "bad-info":
        box.write('["not", "an object"]')
    elif setup == "not-json":
        box.write('{"runtime": "/usr/sbin/runc",}')
    elif setup == "blank-first":
        box.write('\n  {"runtime": "/usr/sbin/runc"}\n')
    elif setup == "runtime-twice":
        box.write('{"runtime": "/bin/sh", "runtime": "/usr/sbin/runc"}')
    argv = box.argv(verb, box.name)
    python = _python_verdict(argv)
    if setup == "escaped-runtime" and verb == "start":
        # what the front does not fully read it leaves to Python, which decides (and here
        # starts the unit on its own quick path)
        assert (_front_verdict(box, fronts, argv), python) == ("none", "start")
    else:
        assert _front_verdict(box, fronts, argv) == python


@pytest.mark.parametrize("verb", ["start", "stop"])
def test_a_plain_start_or_stop_that_succeeds_needs_no_python(box, fronts, verb):
    r = box.run([str(fronts["real"])], *box.argv(verb, box.name))
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert (box.tmp / "systemctl.log").read_text().splitlines() == [f"{verb} {box.name}.service"]
    assert box.handed_over() is None


@pytest.mark.parametrize("verb", ["start", "stop"])
def test_a_failing_systemctl_is_handed_to_python_which_words_it(box, fronts, verb):
    """The front's one systemctl, finished by Python: its error line and exit status are the
    Python command's own; nothing is run twice."""
    (box.tmp / "bin/systemctl").write_text(
        '#!/bin/sh\necho "$@" >> "$SYSTEMCTL_LOG"\necho "Job failed." >&2\n'
        'echo "See the logs." >&2\nexit 1\n')
    python = box.run([str(VENV_PY), "-S", str(fronts["launcher"])], *box.argv(verb, box.name))
    front = box.run([str(fronts["real"])], *box.argv(verb, box.name))
    assert (front.returncode, front.stdout, front.stderr) == \
        (python.returncode, python.stdout, python.stderr) == \
        (1, "", f"error: systemctl {verb} {box.name}.service: See the logs.\n")
    assert (box.tmp / "systemctl.log").read_text().splitlines() == [f"{verb} {box.name}.service"]
    assert box.handed_over()[0].startswith(f"ran:{verb} {box.name} ")


def test_a_stop_that_leaves_runtime_state_is_handed_over(box, fronts, runc_state):
    """runc's state is still there after the stop: Python's leftover check decides."""
    runc_state()
    box.run([str(fronts["noting"])], *box.argv("stop", box.name))
    assert box.handed_over()[0].startswith(f"ran:stop {box.name} ")


# --- the status line: the front's, or none ------------------------------------------------------

def _both(box: Box, fronts, *words: str) -> tuple[subprocess.CompletedProcess, ...]:
    """The status through the front (real Python behind it) and through Python alone."""
    front = box.run([str(fronts["real"])], *box.argv(*words))
    by_itself = box.handed_over() is None
    python = box.run([str(VENV_PY), "-S", str(fronts["launcher"])], *box.argv(*words))
    return front, python, by_itself


_SHOWS = {
    "running": RUNNING,
    "inactive": "LoadState=loaded\nActiveState=inactive\nSubState=dead\nNRestarts=0\n",
    "failed, restarts": "LoadState=loaded\nActiveState=failed\nSubState=failed\nNRestarts=2\n",
    "restarting": "LoadState=loaded\nActiveState=activating\nSubState=auto-restart\nNRestarts=3\n",
    "crash loop": "LoadState=loaded\nActiveState=activating\nSubState=start\nNRestarts=1\n",
    "starting": "LoadState=loaded\nActiveState=activating\nSubState=start\nNRestarts=0\n",
    "stopping": "LoadState=loaded\nActiveState=deactivating\nSubState=stop-sigterm\nNRestarts=0\n",
    "reloading": "LoadState=loaded\nActiveState=reloading\nSubState=reload\nNRestarts=1\n",
    "not found": "LoadState=not-found\nActiveState=inactive\nSubState=dead\nNRestarts=0\n",
    "unknown state": "LoadState=loaded\nActiveState=maintenance\nSubState=x\nNRestarts=x\n",
    "no answer": "",
}


@pytest.mark.parametrize("state", list(_SHOWS))
def test_the_fronts_status_line_is_the_full_paths_in_every_service_state(box, fronts, state):
    if state == "no answer":
        box.show("", unit="other.service")
    else:
        box.show(_SHOWS[state])
    front, python, by_itself = _both(box, fronts, "status", box.name)
    assert by_itself
    assert (front.returncode, front.stdout) == (python.returncode, python.stdout)
    assert front.stdout.endswith("\nstatus text\n") and front.stderr == ""


@pytest.mark.parametrize("case, by_itself", [
    ("plain", True), ("pinned", True), ("registry", True), ("local", True),
    ("policy junk", True), ("no policy", True), ("unit copy", True),
    ("checksum ok", True), ("checksum off", True), ("checksum, no config", True),
    ("bad args", False), ("args null", True), ("args empty", True), ("config not json", False),
    ("health check", False), ("image check", False), ("short image", False),
    ("hub one-part", False), ("digest", True), ("no tag", False), ("non-ascii", False),
    ("escaped image", False), ("u escape elsewhere", False), ("wrong type", False),
    ("no deployment dir", False),
])
def test_the_fronts_row_is_the_full_paths_or_it_leaves_it(box, fronts, case, by_itself):
    config = json.dumps({"ociVersion": "1.0.2", "process": {"args": ["/bin/sh", "-c", "x"]}})
    edits = {"pinned": {"pinned": True}, "registry": {"auto-update": "registry"},
             "local": {"auto-update": "local"}, "policy junk": {"auto-update": "later"},
             "health check": {"health-check": {"type": "tcp", "port": 1}},
             "image check": {"image-health-check": {"type": "tcp", "port": 1}},
             "short image": {"image": "web:1"}, "hub one-part": {"image": "docker.io/web:1"},
             "digest": {"image": "reg.example/a/b@sha256:" + "0" * 64},
             "no tag": {"image": "reg.example/a/b"}, "non-ascii": {"pinned-reason": "été"},
             "wrong type": {"created": "yesterday"}}
    box.info.update(edits.get(case, {}))
    if case == "no policy":
        del box.info["auto-update"]
    if case.startswith("checksum"):
        box.info["config-checksum"] = hashlib.sha256(config.encode()).hexdigest()
        if case == "checksum off":
            box.info["config-checksum"] = "0" * 64
    if case != "checksum, no config":
        if case == "bad args":
            config = json.dumps({"process": {"args": "/bin/sh -c x"}})
        elif case in ("args null", "args empty"):
            config = json.dumps({"process": {"args": None if case == "args null" else []}})
        elif case == "config not json":
            config = "{"
        (box.dep / "config.json").write_text(config)
    if case == "unit copy":
        (box.dep / f"{box.name}.service").write_text("[Service]\nExecStart=/bin/true\n")
    text = json.dumps(box.info, indent=4, ensure_ascii=False)
    if case == "escaped image":
        text = text.replace('"127.0.0.1:5000/web:1"', '"127.0.0.1:5000\\/web:1"')
    elif case == "u escape elsewhere":
        text = text.replace('"pinned": false', '"pinned": false, "note": "\\u00e9t\\u00e9"')
    box.write(text)
    if case == "no deployment dir":
        (box.co / box.name).unlink()
        (box.co / box.name).symlink_to(box.co / f"{box.name}.1")
    front, python, itself = _both(box, fronts, "status", box.name)
    assert itself == by_itself, (front, python)
    assert (front.returncode, front.stdout) == (python.returncode, python.stdout)


@pytest.mark.parametrize("size", [0, 54, 55, 56, 63, 64, 65, 119, 120, 1000])
def test_the_fronts_config_checksum_is_sha256(box, fronts, size):
    """The drift check's digest at every padding boundary (the front has its own SHA-256)."""
    config = json.dumps({"x": "a" * size})
    (box.dep / "config.json").write_text(config)
    for checksum, drifted in ((hashlib.sha256(config.encode()).hexdigest(), False),
                              (hashlib.sha256(config.encode() + b" ").hexdigest(), True)):
        box.info["config-checksum"] = checksum
        box.write()
        r = box.run([str(fronts["noting"])], *box.argv("status", box.name))
        assert box.handed_over() is None
        assert r.stdout.splitlines()[0].startswith(
            f"{box.name}: running{', drifted' if drifted else ''} (image "), r.stdout


_SAMPLES = ("text", 1, 1.5, True, False, None, [], {}, ["a"], {"a": 1})


def test_the_fronts_field_types_are_infofields(box, fronts, monkeypatch):
    """Every INFO_TYPES field with a value of every JSON type: the front prints the line by
    itself exactly when the full path would read the info file without an error (and no
    health check, and the image it starts with)."""
    base = dict(box.info)
    for field in (f.replace("_", "-") for f in INFO_TYPES):
        for value in _SAMPLES:
            info = {**base, field: value}
            try:
                info_fields(info, "x")
                readable = True
            except ConfigError:
                readable = False
            checked = field in ("health-check", "image-health-check") and value is not None
            expect = readable and not checked and field != "image"
            box.write(info)
            r = box.run([str(fronts["noting"])], *box.argv("status", box.name))
            assert (box.handed_over() is None) == expect, (field, value, r)


# --- adopting the front's processes ---------------------------------------------------------

def test_a_stray_early_variable_is_ignored(tmp_path):
    """Not children of ours, or no pipes: nothing adopted, nothing waited for."""
    r, w = os.pipe()
    try:
        assert qc.adopt(f"stop web {os.getppid()}:{r}:{w}", "stop", "web") is None
        assert qc.adopt(f"stop web {os.getpid()}:0", "stop", "web") is None
        assert qc.adopt("stop web x:y", "stop", "web") is None
    finally:
        os.close(r)
        os.close(w)


def test_processes_started_for_another_line_are_waited_for():
    started = qc.EarlyProcess.spawn(["sh", "-c", "echo hi"])
    assert qc.adopt(f"start web {started.pid}:{started._out}:{started._err}", "stop",
                    "web") is None
    assert started.returncode is None     # (adopt made its own handle, which it reaped)
    with pytest.raises(ChildProcessError):
        os.waitpid(started.pid, os.WNOHANG)


# --- the values the front copies ------------------------------------------------------------

def test_the_fronts_copied_values_are_the_python_ones():
    """Each `#define` of src/front that copies a Python value, against that value (the
    checkouts default, the config file and the units dir are never reached by the tests
    above, which name their own)."""
    import re

    from syscontainers import paths
    from syscontainers.deploy import deployment as dl
    from syscontainers.service import runtime, unitstate

    text = "".join(p.read_text() for p in sorted((REPO / "src/front").glob("*.c")))
    defines = dict(re.findall(r'^#define (\w+) "?(.*?)"?(?:\s+/\*.*)?$', text, re.M))
    assert defines["SYSTEM_CHECKOUTS"] == str(paths.SYSTEM_CHECKOUTS) == qc.SYSTEM_CHECKOUTS
    assert defines["SYSTEM_CONFIG_FILE"] == str(paths.SYSTEM_CONFIG_FILE)
    assert defines["SYSTEM_UNITS_DIR"] == str(paths.SYSTEM_UNITS_DIR)
    assert defines["DEFAULT_RUNTIME"] == runtime.DEFAULT_RUNTIME
    assert int(defines["NAME_MAX_LEN"]) == dl.NAME_MAX
    assert defines["SHOW_PROPERTIES"] == f"--property={unitstate.SHOW_PROPERTIES}"


def test_the_fronts_systemctl_lines_are_the_python_ones(box, fronts):
    from syscontainers.service import unitstate

    box.run([str(fronts["noting"])], *box.argv("status", box.name))
    assert sorted((box.tmp / "systemctl.log").read_text().splitlines()) == sorted([
        f"status --no-pager --full {box.name}.service",
        f"show --property={unitstate.SHOW_PROPERTIES} -- {box.name}.service"])
