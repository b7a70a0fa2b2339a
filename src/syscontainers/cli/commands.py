"""The parser of every verb: the groups register their sub-commands (docs/operations.md, "The
command line"). Apart from __main__ so that the verbs that describe the parser (completion, man
pages) can build it without importing the entry point."""

from __future__ import annotations

import argparse
import importlib

from .. import __version__
from .formatting import add_format_option
from .parser import Parser, add_global_options, leaf_parsers

# Each verb group registers its sub-commands; order is the order shown in --help.
GROUPS = ("images", "containers", "care", "autoupdate", "run", "discover", "lint")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="syscontainers",
        description="Run OCI images as host system services (OSTree storage, runc, systemd).",
    )
    parser.add_argument("--version", action="version", version=f"syscontainers {__version__}")
    add_global_options(parser, after_verb=False)
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND")
    sub.required = True
    for group in GROUPS:
        importlib.import_module(f".{group}", __package__).register(sub)
    for leaf in leaf_parsers(parser):
        if leaf is not parser:
            add_global_options(leaf, after_verb=True)
        if "--json" in leaf._option_string_actions:
            add_format_option(leaf)      # every verb with --json has --format (docs/json.md)
    return parser
