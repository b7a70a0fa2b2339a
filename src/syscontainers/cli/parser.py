"""The argument parser's conventions (docs/operations.md, "The command line"): no
abbreviations, one error line with "did you mean", global options before or after the verb.

argparse prints its usage block and ``prog: error: ...`` on a bad command line; we print one
line like every other error, naming the ``--help`` that explains it. An unknown verb gets the
closest known one. Abbreviated long options (``--system-pack`` for ``--system-package``) are
refused everywhere: a script that works today would break the day a second option starts
with the same letters (atomic's own ``install --system`` met exactly that).
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys

_CHOICE_RE = re.compile(r"argument (?P<arg>\S+): invalid choice: '(?P<given>[^']*)' "
                        r"\(choose from (?P<choices>.*)\)")


class Parser(argparse.ArgumentParser):
    """Every parser and sub-parser of the CLI (sub-parsers inherit the class)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        m = _CHOICE_RE.fullmatch(message)
        if m:
            message = _unknown_choice(m)
        sys.stderr.write(f"error: {message} (see '{self.prog} --help')\n")
        sys.exit(2)


def _unknown_choice(m: re.Match) -> str:
    choices = re.findall(r"'([^']*)'", m.group("choices"))
    given = m.group("given")
    what = "command" if m.group("arg") == "COMMAND" else f"value for {m.group('arg')}"
    close = difflib.get_close_matches(given, choices, n=1, cutoff=0.6)
    if close:
        return f"unknown {what} {given!r}; did you mean {close[0]!r}?"
    return f"unknown {what} {given!r}"


# --- global options, accepted before or after the verb --------------------------------------

LOG_LEVELS = ("debug", "info", "warn")

GLOBAL_OPTIONS = (
    (("--system",), dict(action="store_true", help="system mode (root only; default for root)")),
    (("--user",), dict(action="store_true", help="user mode (default for non-root)")),
    (("--checkout-path",), dict(metavar="DIR", help="where deployments live")),
    (("--repo",), dict(metavar="DIR", help="the OSTree repository to use")),
    (("-q", "--quiet"), dict(action="store_true", help="print less")),
    # atomic's: every image is in OSTree here, and nothing ever asks for a confirmation
    (("--storage",), dict(choices=("ostree",), help="accepted for atomic's command lines: "
                                                      "the only storage is ostree")),
    (("-y", "--assumeyes"), dict(action="store_true", help="accepted for atomic's command "
                                                             "lines: nothing asks for confirmation")),
    (("--log-level",), dict(choices=LOG_LEVELS, default="info",
                            help="debug: also print every command run and the stack of an "
                                 "error; warn: only warnings and errors (like --quiet); "
                                 "default info")),
)


def add_global_options(parser: argparse.ArgumentParser, *, after_verb: bool) -> None:
    """The global options on ``parser``. After the verb (``list -q``, ``images list --repo
    X``) they leave the namespace alone when absent (SUPPRESS), so a value given before the
    verb stays; a verb's own option of the same spelling (``pull -q``) wins."""
    taken = parser._option_string_actions
    for flags, kwargs in GLOBAL_OPTIONS:
        free = tuple(f for f in flags if f not in taken)
        if not free:
            continue
        if after_verb:
            kwargs = {**kwargs, "default": argparse.SUPPRESS, "help": argparse.SUPPRESS}
        # dest from every spelling: a verb that took --quiet leaves -q, still "quiet"
        parser.add_argument(*free, dest=flags[-1].lstrip("-").replace("-", "_"), **kwargs)


def leaf_parsers(parser: argparse.ArgumentParser):
    """Every parser that has no sub-commands of its own (where a verb's options live)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield parser
        return
    seen = set()
    for action in subs:
        for child in action.choices.values():
            if id(child) not in seen:
                seen.add(id(child))
                yield from leaf_parsers(child)


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The visible sub-commands of ``parser`` (those with a help text), by name."""
    out = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            visible = {c.dest for c in action._choices_actions}
            out.update({name: p for name, p in action.choices.items() if name in visible})
    return out
