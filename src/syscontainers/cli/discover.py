"""CLI verbs that describe the tool itself: ``info``, ``completion SHELL`` and the hidden
``__complete`` the completion scripts call (docs/operations.md, "The command line")."""

from __future__ import annotations

import argparse

from .common import make_context, print_json


def register(sub) -> None:
    p = sub.add_parser("info", help="what this host's syscontainers uses (mode, paths, versions)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_info)
    p = sub.add_parser("completion", help="print a shell completion script (bash, zsh, fish)")
    p.add_argument("shell", choices=("bash", "zsh", "fish"))
    p.set_defaults(func=_completion)


def _info(args) -> int:
    from ..lifecycle.hostinfo import host_info

    from .. import __version__

    data = {"version": __version__, **host_info(make_context(args).paths).as_json()}
    if args.json:
        print_json(data)
        return 0
    width = max(len(k) for k in data) + 2
    for key, value in data.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v or '(not installed)'}" for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(value) or "(none)"
        print(f"{key.replace('_', ' ') + ':':<{width}}{value}")
    return 0


def _completion(args) -> int:
    from .complete import script

    print(script(args.shell), end="")
    return 0


def complete_words(words: list[str]) -> int:
    """``syscontainers __complete WORDS...`` (argparse never sees it: the words are a partial
    command line). Never an error: a completion prints candidates or nothing."""
    from ..lifecycle.hostinfo import container_names, image_names
    from .commands import build_parser
    from .complete import candidates

    context = argparse.Namespace(system="--system" in words, user="--user" in words,
                                 checkout_path=_value(words, "--checkout-path"),
                                 repo=_value(words, "--repo"), quiet=True, log_level="warn")

    def listed(what):
        def get() -> list[str]:
            try:
                return what(make_context(context).paths)
            except Exception:        # noqa: BLE001 - a broken host completes nothing
                return []
        return get

    try:
        found = candidates(build_parser(), words or [""], listed(container_names),
                           listed(image_names))
    except Exception:               # noqa: BLE001
        found = []
    print("\n".join(found))
    return 0


def _value(words: list[str], flag: str) -> str | None:
    for i, word in enumerate(words[:-1]):
        if word == flag:
            return words[i + 1]
        if word.startswith(flag + "="):
            return word.split("=", 1)[1]
    return None
