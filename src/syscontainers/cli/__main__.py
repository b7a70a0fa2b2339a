"""Entry point: parse, call the API, print, map errors to exit codes."""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import SysContainersError

# Each verb group registers its sub-commands; order is the order shown in --help.
GROUPS = ("images", "containers", "run")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syscontainers",
        description="Run OCI images as host system services (OSTree storage, runc, systemd).",
    )
    parser.add_argument("--version", action="version", version=f"syscontainers {__version__}")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--system", action="store_true", help="system mode (root only; default for root)")
    mode.add_argument("--user", action="store_true", help="user mode (default for non-root)")
    parser.add_argument("--checkout-path", metavar="DIR", help="where deployments live")
    parser.add_argument("--repo", metavar="DIR", help="the OSTree repository to use")
    parser.add_argument("-q", "--quiet", action="store_true", help="print less")
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND")
    sub.required = True
    import importlib

    for group in GROUPS:
        importlib.import_module(f".{group}", __package__).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SysContainersError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
