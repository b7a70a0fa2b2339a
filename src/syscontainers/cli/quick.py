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


def quick_args(argv: list[str], early: str | None = None):
    """The parsed arguments of a plain start/stop/status/list line; None for anything else.
    ``early``: SYSCONTAINERS_EARLY, what the command's front started for this line
    (src/front/front.c); adopted as ``early`` (a list of quickcontrol.EarlyProcess, or None)."""
    ns = _line(argv)
    if early:
        from ..lifecycle.quickcontrol import adopt

        mine = ns is not None and ns.func is _run      # (else they are waited for)
        started = adopt(early, ns.verb if mine else "", ns.name if mine else "")
        if mine:
            ns.early = started
    return ns


def _line(argv: list[str]):
    words = list(argv)
    ns = _options(words)
    if ns is not None and words[:1] in (["list"], ["ps"]):
        return _listing(ns, words)
    if ns is None or len(words) != 2 or words[0] not in QUICK_VERBS or \
            words[1].startswith("-") or "" in (ns.checkout_path, ns.repo):
        return None
    ns.verb, ns.name, ns.early = words[0], words[1], None
    ns.func = _run
    return ns


def _run(args) -> int:
    """start/stop through lifecycle/quickcontrol.py when it is the plain case (no module of
    the full path imported), else the verb's handler in cli/containers.py. --log-level debug
    always takes the full path: it prints the commands it runs."""
    started = args.early[0] if args.early else None    # the front's systemctl
    if args.verb != "status" and (args.log_level != "debug" or started):
        from ..lifecycle import quickcontrol

        if args.verb == "start" and quickcontrol.start(
                args.name, checkout_flag=args.checkout_path, user_flag=args.user,
                started=started):
            return 0
        if args.verb == "stop" and quickcontrol.stop(
                args.name, checkout_flag=args.checkout_path, repo_flag=args.repo,
                user_flag=args.user, started=started):
            return 0
    # no site directories here (sitedirs.py): these paths need only the standard library,
    # and the one module from the system's dist-packages, gi, is never imported by them
    # (images/store/repo.py adds the directories before its import anyway)
    if args.verb == "status":
        return _status(args)
    from . import containers

    return {"start": containers._start, "stop": containers._stop}[args.verb](args)


def _status(args) -> int:
    """status: `systemctl status` (the slow part: it reads the journal) started first — by
    the command's front, with the `systemctl show` of the row (src/front/front.c), or here
    — so that it runs while the modules of the status line load. (In the plain case the
    front prints the whole status itself: this line is then never run.)"""
    from ..lifecycle.quickcontrol import early_status_text

    if args.early:
        args.status_text, *show = args.early
        args.status_show = show[0] if show else None
    else:
        args.status_text = early_status_text(args.name, system_flag=args.system,
                                             user_flag=args.user)
        args.status_show = None
    try:
        from . import containers

        return containers._status(args)
    finally:
        for started in (args.status_text, args.status_show):
            if started is not None:
                started.discard()      # not asked for (an error came first)


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
