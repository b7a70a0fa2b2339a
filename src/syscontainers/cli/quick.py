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
    ns.verb, ns.name = words
    ns.func = _run
    return ns


def _run(args) -> int:
    """start/stop through lifecycle/quickcontrol.py when it is the plain case (no module of
    the full path imported), else the verb's handler in cli/containers.py. --log-level debug
    always takes the full path: it prints the commands it runs."""
    if args.verb != "status" and args.log_level != "debug":
        from ..lifecycle import quickcontrol

        if args.verb == "start" and quickcontrol.start(
                args.name, checkout_flag=args.checkout_path, user_flag=args.user):
            return 0
        if args.verb == "stop" and quickcontrol.stop(
                args.name, checkout_flag=args.checkout_path, repo_flag=args.repo,
                user_flag=args.user):
            return 0
    # no site directories here (sitedirs.py): these paths need only the standard library,
    # and the one module from the system's dist-packages, gi, is never imported by them
    # (images/store/repo.py adds the directories before its import anyway)
    if args.verb == "status":
        return _status(args)
    from . import containers

    return {"start": containers._start, "stop": containers._stop}[args.verb](args)


def _status(args) -> int:
    """status: `systemctl status` (the slow part: it reads the journal) started first, so
    that it runs while the modules of the status line load."""
    from ..lifecycle.quickcontrol import early_status_text

    args.status_text = early_status_text(args.name, system_flag=args.system,
                                         user_flag=args.user)
    try:
        from . import containers

        return containers._status(args)
    finally:
        if args.status_text is not None:
            args.status_text.discard()      # not asked for (an error came first)


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
