"""A command line builds only its verb's group of parsers (cli/commands.py VERB_GROUPS;
docs/performance.md, "Install and update against podman"): the table matches what the groups
register, and every verb's help, usage errors and parsed values are those of the full parser."""

from __future__ import annotations

import contextlib
import functools
import importlib
import io

import pytest

from syscontainers.cli.commands import GROUPS, VERB_GROUPS, build_parser, verb_group
from syscontainers.cli.parser import Parser, subcommands


@functools.lru_cache(maxsize=1)
def _full():
    """Every verb's parser, built once (parse_args leaves a parser as it was)."""
    return build_parser()


def _registered(group: str) -> set[str]:
    sub = Parser(prog="x").add_subparsers(dest="verb")
    importlib.import_module(f"syscontainers.cli.{group}").register(sub)
    return set(sub.choices)


def test_the_table_names_every_verb_of_every_group():
    for group in GROUPS:
        assert {v for v, g in VERB_GROUPS.items() if g == group} == _registered(group), group


def _run(parser, argv: list[str]) -> tuple[object, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            result = vars(parser.parse_args(argv))
        except SystemExit as e:
            result = ("exit", e.code)
    if isinstance(result, dict):
        result = {k: v for k, v in result.items() if k != "func"} | {
            "func": getattr(result.get("func"), "__name__", None)}
    return result, out.getvalue(), err.getvalue()


def _lines() -> list[list[str]]:
    lines = []
    for verb in VERB_GROUPS:
        lines += [[verb, "--help"], [verb, "--no-such-option"], ["-q", verb, "--help"],
                  ["--repo", "/r", "--log-level=debug", verb, "--help"]]
    for verb, parser in subcommands(_full()).items():
        for child in subcommands(parser):
            lines += [[verb, child, "--help"], [verb, child, "--bogus"]]
        if subcommands(parser):
            lines += [[verb, "nosuchchild"], [verb]]
    return lines + [
        ["instal", "x"], ["--help"], [], ["--version"], ["-q"], ["--repo"],
        ["--log-level", "nope", "install", "x"], ["install"], ["install", "img", "n", "extra"],
        ["--system", "update", "--all"], ["update", "name", "--no-such"], ["list", "-q"],
        ["--checkout-path", "/c", "install", "--name", "n", "img"], ["pull", "-q", "img"],
        ["images", "list", "--json"], ["start", "n", "x"], ["auto-update", "--dry-run"],
    ]


@pytest.mark.parametrize("argv", _lines(), ids=lambda a: " ".join(a) or "(empty)")
def test_a_line_parses_as_with_every_verb(argv):
    assert _run(build_parser(argv), argv) == _run(_full(), argv)


def test_the_verb_after_the_global_options_picks_the_group():
    assert verb_group(["install", "img"]) == "containers"
    assert verb_group(["--repo", "install", "images", "list"]) == "images"
    assert verb_group(["--log-level=debug", "-q", "--system", "auto-update"]) == "autoupdate"
    # anything that is not plainly a verb builds every group (help, "did you mean")
    assert verb_group(["--help"]) is None
    assert verb_group(["instal"]) is None
    assert verb_group(["--repo"]) is None
    assert verb_group([]) is None


def test_one_group_is_built_for_a_verb():
    assert set(subcommands(build_parser(["install", "x"]))) == _registered("containers")
