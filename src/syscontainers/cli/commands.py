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

# Which group registers each verb, so that a command line naming one builds only that group's
# parsers (docs/performance.md, "Install and update against podman"); a unit test checks it
# against what the groups register (tests/unit/test_cli_verb_parser.py).
VERB_GROUPS = {
    **dict.fromkeys(("pull", "login", "logout", "images"), "images"),
    **dict.fromkeys(("install", "uninstall", "list", "ps", "update", "history", "rollback",
                     "containers", "healthcheck", "start", "stop", "status", "logs"),
                    "containers"),
    **dict.fromkeys(("verify", "inspect", "pin", "unpin"), "care"),
    "auto-update": "autoupdate",
    **dict.fromkeys(("run", "exec", "mount", "umount", "extract"), "run"),
    **dict.fromkeys(("info", "completion"), "discover"),
    "lint": "lint",
}

# the global options that take a value (cli/parser.py GLOBAL_OPTIONS), to find the verb
_VALUE_OPTIONS = ("--checkout-path", "--repo", "--storage", "--log-level")
_FLAG_OPTIONS = ("--system", "--user", "-q", "--quiet", "-y", "--assumeyes")


def verb_group(argv: list[str]) -> str | None:
    """The group of the verb ``argv`` names after its global options; None when the line
    has no known verb or anything else before it (``--help``, ``--version``, a typo): then
    every group is built, so help, "did you mean" and the usage errors see every verb."""
    words = iter(argv)
    for word in words:
        flag = word.partition("=")[0]
        if flag in _VALUE_OPTIONS:
            if "=" not in word and next(words, None) is None:
                return None
        elif word not in _FLAG_OPTIONS:
            return VERB_GROUPS.get(word)
    return None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every verb; given the command line, of its verb's group only (the
    parsers of the others cost about as much as the rest of a quick verb)."""
    parser = Parser(
        prog="syscontainers",
        description="Run OCI images as host system services (OSTree storage, runc, systemd).",
    )
    parser.add_argument("--version", action="version", version=f"syscontainers {__version__}")
    add_global_options(parser, after_verb=False)
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND")
    sub.required = True
    group = verb_group(argv) if argv is not None else None
    for group in (group,) if group else GROUPS:
        importlib.import_module(f".{group}", __package__).register(sub)
    for leaf in leaf_parsers(parser):
        if leaf is not parser:
            add_global_options(leaf, after_verb=True)
        if "--json" in leaf._option_string_actions:
            add_format_option(leaf)      # every verb with --json has --format (docs/json.md)
    return parser
