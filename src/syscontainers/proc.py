"""The one way this project runs other programs.

Commands are argument lists, never shell strings. A failure becomes a CommandError whose
message is the tool's own last meaningful line of stderr, so the operator sees why.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Mapping, Sequence

from .errors import CommandError


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


def last_line(text: str) -> str:
    """The last non-empty line of a tool's output (tools put the reason last)."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def run(
    args: Sequence[str],
    *,
    check: bool = True,
    input: str | bytes | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    timeout: float | None = None,
    what: str | None = None,
) -> Result:
    """Run ``args``; capture stdout/stderr as text.

    ``what`` names the action for the error message ("pulling X"); by default the program name.
    """
    text_input = input.decode() if isinstance(input, bytes) else input
    try:
        cp = subprocess.run(
            list(args), input=text_input, capture_output=True, text=True,
            env=dict(env) if env is not None else None, cwd=cwd, timeout=timeout,
        )
    except FileNotFoundError:
        raise CommandError(f"{args[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise CommandError(f"{what or args[0]}: timed out after {timeout} s") from None
    res = Result(cp.returncode, cp.stdout, cp.stderr)
    if check and cp.returncode != 0:
        reason = last_line(cp.stderr) or last_line(cp.stdout) or f"exit status {cp.returncode}"
        raise CommandError(f"{what or args[0]}: {reason}")
    return res
