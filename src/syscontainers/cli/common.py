"""What every CLI module shares: the invocation context and output helpers.

Heavy modules (gi, OSTree) are imported inside handlers only, so `--help`/`--version` and
argument errors stay fast.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Iterable, Sequence

from ..paths import Paths, decide_user_mode, resolve_paths


@dataclass(frozen=True)
class Context:
    paths: Paths
    quiet: bool
    json: bool = False

    @property
    def tty(self) -> bool:
        return sys.stdout.isatty()


def make_context(args) -> Context:
    user = decide_user_mode(args.system, args.user)
    paths = resolve_paths(user, checkout_flag=args.checkout_path, repo_flag=args.repo)
    return Context(paths=paths, quiet=args.quiet, json=getattr(args, "json", False))


def print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def print_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    rows = [[("" if c is None else str(c)) for c in r] for r in rows]
    widths = [len(h) for h in headers]
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    print(fmt.format(*headers).rstrip())
    for r in rows:
        print(fmt.format(*r).rstrip())


def sayer(ctx: Context, progress_to_stderr: bool = False):
    """The ``say`` callback the lifecycle API reports through: warnings always on stderr;
    other lines on stdout (stderr when stdout carries --json or a container's own output);
    --quiet drops all but warnings."""
    def say(message: str) -> None:
        if message.startswith("warning"):
            print(message, file=sys.stderr, flush=True)
        elif not ctx.quiet:
            out = sys.stderr if (ctx.json or progress_to_stderr) else sys.stdout
            print(message, file=out, flush=True)
    return say


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def info(ctx: Context, message: str) -> None:
    if not ctx.quiet:
        print(message, file=sys.stderr if ctx.json else sys.stdout)


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false", "no")
