"""The progress line of long steps on a real terminal (docs/operations.md, "The command line"):
shown under a pseudo-terminal (`script`), never when the output is a pipe or with -q."""

from __future__ import annotations

import subprocess

import pytest

from tests.fixtures.images import ImageSpec, build_oci_layout
from tests.testhost.host import REPO_ROOT

pytestmark = [pytest.mark.root]

SC = str(REPO_ROOT / ".venv/bin/syscontainers")


def pull_command(tmp_path, layout, *extra: str) -> list[str]:
    return [SC, "--checkout-path", str(tmp_path / "co"), "--repo", str(tmp_path / "repo"),
            *extra, "pull", f"oci:{layout}:v1"]


def on_a_terminal(args: list[str]) -> str:
    """What a person at a terminal sees (util-linux `script` runs it on a pty)."""
    cmd = " ".join(f"'{a}'" for a in args)
    out = subprocess.run(["script", "-qefc", cmd, "/dev/null"], capture_output=True,
                         check=True).stdout
    return out.decode()      # bytes: text mode would turn the line's \r into \n


def test_a_pull_shows_its_import_on_a_terminal_only(tmp_path):
    layout = build_oci_layout(ImageSpec(layers=[{"etc/progress": "x\n"}]), tmp_path / "l", "v1").layout
    seen = on_a_terminal(pull_command(tmp_path, layout))
    assert "\rimporting 2 layers (" in seen and "into the OSTree repository..." in seen, seen
    assert "Pulled " in seen
    subprocess.run([SC, "--checkout-path", str(tmp_path / "co"), "--repo", str(tmp_path / "repo"),
                    "images", "delete", "--force", "l:v1"], check=True, capture_output=True)
    piped = subprocess.run(pull_command(tmp_path, layout), capture_output=True, check=True)
    assert b"importing" not in piped.stdout + piped.stderr and b"\r" not in piped.stderr
    subprocess.run([SC, "--checkout-path", str(tmp_path / "co"), "--repo", str(tmp_path / "repo"),
                    "images", "delete", "--force", "l:v1"], check=True, capture_output=True)
    quiet = on_a_terminal(pull_command(tmp_path, layout, "-q"))
    assert "importing" not in quiet
