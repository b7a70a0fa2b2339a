"""The command as `make deps` installs it: the front (src/front, compiled) execs
scripts/write_launcher.py's launcher, which runs Python without its site step; start/stop/
status never add the site directories, every other line does before it goes on
(syscontainers/sitedirs.py, docs/performance.md "start, stop, status" and "The command's
front")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = REPO / ".venv/bin/syscontainers"          # the front
SCRIPT = REPO / ".venv/libexec/syscontainers.py"       # the Python launcher it execs


def _plain_container(tmp_path: Path) -> tuple[Path, dict[str, str], Path]:
    """A checkouts dir with an installed-looking container `demo` and a systemctl on PATH that
    records its arguments: what quickcontrol's plain start needs."""
    checkouts = tmp_path / "cp"
    (checkouts / "demo.0").mkdir(parents=True)
    (checkouts / "demo.0" / "info").write_text("{}")
    (checkouts / "demo").symlink_to(checkouts / "demo.0")
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    (bin_dir / "systemctl").chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}",
               SYSCONTAINERS_CONFIG=str(tmp_path / "no-config.toml"),
               PYTHONPROFILEIMPORTTIME="1")
    return checkouts, env, calls


def _imported(stderr: str) -> set[str]:
    """Module names from -X importtime lines (``import time: self | cumulative | name``)."""
    return {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines()
            if line.startswith("import time:") and line.count("|") == 2}


def test_the_installed_command_is_the_front_and_its_launcher_runs_without_site():
    assert LAUNCHER.read_bytes()[:4] == b"\x7fELF"
    lines = SCRIPT.read_text().splitlines()
    assert lines[0].startswith("#!") and lines[0].endswith(" -S"), lines[0]
    # what names the command (ATOMIC, the auto-update timer's unit) names the front
    assert f"sys.argv[0] = {str(LAUNCHER)!r}" in lines


@pytest.mark.root          # the plain start is root's (quickcontrol)
def test_a_plain_start_never_adds_the_site_directories(tmp_path):
    """The Python launcher on its own (as without a front), then through the front, which
    finishes a plain start without Python."""
    checkouts, env, calls = _plain_container(tmp_path)
    res = subprocess.run([str(LAUNCHER), "--checkout-path", str(checkouts), "start", "demo"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert (res.returncode, res.stderr) == (0, "")              # no Python import lines
    assert calls.read_text().split() == ["start", "demo.service"]
    calls.unlink()
    res = subprocess.run([str(SCRIPT), "--checkout-path", str(checkouts), "start", "demo"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr[-2000:]
    assert calls.read_text().split() == ["start", "demo.service"]
    mods = _imported(res.stderr)
    assert "syscontainers.lifecycle.quickcontrol" in mods
    assert not mods & {"site", "gi", "argparse", "dataclasses"}, mods & {"site", "gi"}
    # status takes the full status path, still without the site step
    res = subprocess.run([str(SCRIPT), "--checkout-path", str(checkouts), "status", "demo"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert res.stdout.startswith("demo: "), res.stderr[-2000:]
    mods = _imported(res.stderr)
    assert "syscontainers.lifecycle.query" in mods and not mods & {"site", "gi"}


def test_every_other_line_gets_the_site_directories_first(tmp_path):
    """`images list` opens the store (gi, from the system's dist-packages) under the launcher;
    a start that is not the plain case (no such container) is worded by the full path."""
    env = dict(os.environ, SYSCONTAINERS_CONFIG=str(tmp_path / "no-config.toml"))
    res = subprocess.run([str(LAUNCHER), "--repo", str(tmp_path / "repo"), "--checkout-path",
                          str(tmp_path / "cp"), "images", "list"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    res = subprocess.run([str(LAUNCHER), "--checkout-path", str(tmp_path / "cp"), "start",
                          "nosuch"], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode != 0 and res.stderr.startswith("error: ") and \
        len(res.stderr.strip().splitlines()) == 1, res.stderr


@pytest.mark.parametrize("front", [True, False])
def test_write_launcher_writes_a_runnable_command(tmp_path, front):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python3").symlink_to(sys.executable)
    flags = [] if front else ["--no-front"]
    for _ in range(2):          # idempotent
        subprocess.run([sys.executable, str(REPO / "scripts/write_launcher.py"), str(venv),
                        *flags], check=True, timeout=120)
    command = venv / "bin" / "syscontainers"
    script = venv / "libexec" / "syscontainers.py" if front else command
    assert script.read_text().splitlines()[0] == f"#!{venv}/bin/python3 -S"
    assert (command.read_bytes()[:4] == b"\x7fELF") == front
    assert os.access(command, os.X_OK)
    res = subprocess.run([str(command), "--version"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.startswith("syscontainers "), res.stderr
