"""The plainest command lines of the verbs run most often — ``[--system|--user]
[--checkout-path DIR] [--repo DIR] [-q] [--log-level L] start|stop|status NAME`` and ``list``
/ ``ps`` with at most ``--json`` — parsed without argparse: its import and the building of
every verb's parser cost more than the rest of a start (docs/performance.md, "start, stop,
status"), and a tenth of a list of 1000. Anything else returns None and goes through the
full parser, which also reports what is wrong."""

from __future__ import annotations

import types

QUICK_VERBS = ("start", "stop", "status")
LOG_LEVELS = ("debug", "info", "warn")
_VALUE_OPTIONS = ("--checkout-path", "--repo", "--log-level")


def _options(words: list[str]) -> types.SimpleNamespace | None:
    """The global options at the front of ``words`` (consumed); None: something else."""
    ns = types.SimpleNamespace(system=False, user=False, checkout_path=None, repo=None,
                               quiet=False, log_level="info", format=None)
    while words and words[0].startswith("-"):
        word = words.pop(0)
        flag, eq, value = word.partition("=")
        if flag in _VALUE_OPTIONS:
            if not eq:
                if not words:
                    return None
                value = words.pop(0)
            if flag == "--log-level" and value not in LOG_LEVELS:
                return None
            setattr(ns, flag[2:].replace("-", "_"), value)
        elif word in ("--system", "--user") and not (ns.system or ns.user):
            setattr(ns, word[2:], True)
        elif word in ("-q", "--quiet"):
            ns.quiet = True
        else:
            return None
    return ns


def quick_args(argv: list[str]):
    """The parsed arguments of a plain start/stop/status/list line; None for anything else."""
    words = list(argv)
    ns = _options(words)
    if ns is not None and words[:1] in (["list"], ["ps"]):
        return _listing(ns, words)
    if ns is None or len(words) != 2 or words[0] not in QUICK_VERBS or \
            words[1].startswith("-") or "" in (ns.checkout_path, ns.repo):
        return None
    from . import containers

    ns.verb, ns.name = words
    ns.func = {"start": containers._start, "stop": containers._stop,
               "status": containers._status}[words[0]]
    return ns


def _listing(ns: types.SimpleNamespace, words: list[str]) -> types.SimpleNamespace | None:
    """``list`` / ``ps`` [``--json``] with the listing options' defaults (common.py
    add_listing_options); any other option: None (argparse)."""
    if words[1:] not in ([], ["--json"]) or "" in (ns.checkout_path, ns.repo):
        return None
    from . import containers

    ns.verb, ns.json = words[0], words[1:] == ["--json"]
    ns.all, ns.filter, ns.noheading, ns.no_trunc, ns.list_quiet = False, [], False, False, False
    ns.func = containers._list
    return ns
