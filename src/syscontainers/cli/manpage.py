"""Man pages generated from the parser (docs/operations.md, "The command line"):
``syscontainers.1`` and one page per verb (``syscontainers-install.1``,
``syscontainers-images-list.1``), so a page can never disagree with ``--help``.

``python -m syscontainers.cli.manpage DIR`` writes them; scripts/install-cli.sh installs them
under /usr/local/share/man/man1.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .. import __version__
from .parser import subcommands

SEE_ALSO = "systemctl(1), journalctl(1), skopeo(1), runc(8), ostree(1), containers-registries.conf(5)"
EXIT_STATUS = (("0", "success"), ("1", "an error (one line on stderr says what and, when obvious, "
                                        "the fix)"),
               ("2", "a usage error"), ("70", "an internal error (a bug: run with --log-level debug)"),
               ("100", "update --check: an update is available"))


def _esc(text: str) -> str:
    """Text for roff: backslashes and leading dots/quotes neutralised."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(("\\&" + ln) if ln[:1] in (".", "'") else ln for ln in text.splitlines())


def _options(parser: argparse.ArgumentParser) -> list[str]:
    out = []
    for action in parser._actions:
        if not action.option_strings or action.help is argparse.SUPPRESS:
            continue
        metavar = ""
        if action.nargs != 0:
            metavar = " " + (action.metavar or (("{" + ",".join(action.choices) + "}")
                                                 if action.choices else action.dest.upper()))
        flags = ", ".join(f"\\fB{_esc(s)}\\fR" for s in action.option_strings)
        out += [".TP", f"{flags}{_esc(metavar)}", _esc(action.help or "")]
    return out


def _positionals(parser: argparse.ArgumentParser) -> list[str]:
    out = []
    for action in parser._actions:
        if action.option_strings or isinstance(action, argparse._SubParsersAction):
            continue
        name = action.metavar or action.dest.upper()
        help_text = action.help or (", ".join(action.choices) if action.choices else "")
        out += [".TP", f"\\fI{_esc(str(name))}\\fR", _esc(help_text)]
    return out


def _header(name: str, summary: str) -> list[str]:
    date = time.strftime("%Y-%m-%d", time.gmtime(0 if _reproducible() else time.time()))
    return [f'.TH "{name.upper()}" "1" "{date}" "syscontainers {__version__}" "syscontainers manual"',
            ".SH NAME", f"{_esc(name)} \\- {_esc(summary)}"]


def _reproducible() -> bool:
    import os
    return "SOURCE_DATE_EPOCH" in os.environ


def _page(parser: argparse.ArgumentParser, name: str, summary: str, verbs: dict) -> str:
    lines = _header(name, summary)
    lines += [".SH SYNOPSIS", ".nf", _esc(parser.format_usage().replace("usage: ", "", 1).strip()), ".fi"]
    lines += [".SH DESCRIPTION", _esc(parser.description or summary)]
    if verbs:
        lines += [".SH COMMANDS"]
        for verb, (page, text) in verbs.items():
            lines += [".TP", f"\\fB{_esc(verb)}\\fR", f"{_esc(text)} (see \\fB{_esc(page)}\\fR(1))"]
    positionals = _positionals(parser)
    if positionals:
        lines += [".SH ARGUMENTS", *positionals]
    lines += [".SH OPTIONS", *_options(parser)]
    lines += [".SH EXIT STATUS"]
    for code, meaning in EXIT_STATUS:
        lines += [".TP", f"\\fB{code}\\fR", _esc(meaning)]
    lines += [".SH SEE ALSO", _esc("syscontainers(1), " + SEE_ALSO if name != "syscontainers"
                                   else SEE_ALSO),
              ".PP", _esc("The documentation in the source tree: docs/operations.md (verbs, "
                          "updates, errors), docs/templates.md (the /exports contract).")]
    return "\n".join(lines) + "\n"


def pages(root: argparse.ArgumentParser) -> dict[str, str]:
    """{file name: roff text} for the root and every visible verb, nested ones included."""
    out: dict[str, str] = {}

    def walk(parser, name: str, summary: str) -> None:
        subs = subcommands(parser)
        helps = {a.dest: a.help for act in parser._actions
                 if isinstance(act, argparse._SubParsersAction) for a in act._choices_actions}
        verbs = {verb: (f"{name}-{verb}", helps.get(verb) or "") for verb in subs}
        out[f"{name}.1"] = _page(parser, name, summary, verbs)
        for verb, child in subs.items():
            walk(child, f"{name}-{verb}", helps.get(verb) or verb)

    walk(root, "syscontainers", "run OCI images as host system services")
    return out


def write(directory: Path) -> list[Path]:
    from .commands import build_parser

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, text in pages(build_parser()).items():
        path = directory / file_name
        path.write_text(text)
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write(Path(sys.argv[1])):
        print(written_path)
