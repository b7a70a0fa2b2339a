"""CLI verb auto-update: update the containers that have a policy; its timer
(docs/operations.md "Unattended updates (auto-update)")."""

from __future__ import annotations

import os
import sys

from .common import make_context, print_json, print_table, sayer

# exit codes (docs/operations.md): dry-run as update --check
OK, PROBLEM, AVAILABLE = 0, 1, 100


def register(sub) -> None:
    p = sub.add_parser("auto-update",
                       help="update every container that has an auto-update policy")
    p.add_argument("--dry-run", action="store_true",
                   help="only check (nothing pulled or written); exit 0 none, 100 updates "
                        "available, 1 a container could not be checked")
    p.add_argument("--stage", action="store_true",
                   help="pull and prepare the new deployments, switch nothing (the next "
                        "auto-update or update switches them)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                   help="settle time before a new version is judged (default 10)")
    p.add_argument("--install-timer", action="store_true",
                   help="write and enable the systemd timer that runs auto-update")
    p.add_argument("--remove-timer", action="store_true", help="disable and remove that timer")
    p.add_argument("--on-calendar", metavar="SPEC",
                   help="with --install-timer: when auto-update runs (default daily)")
    p.add_argument("--stage-calendar", metavar="SPEC",
                   help="with --install-timer: also run auto-update --stage at SPEC (then "
                        "--on-calendar is when staged updates are switched in)")
    p.add_argument("--randomized-delay", metavar="TIMESPAN",
                   help="with --install-timer: RandomizedDelaySec of the timers (default 30min)")
    p.set_defaults(func=_auto_update)


def _auto_update(args) -> int:
    from ..errors import UsageError

    ctx = make_context(args)
    timer_opts = [args.on_calendar, args.stage_calendar, args.randomized_delay]
    if args.install_timer and args.remove_timer:
        raise UsageError("--install-timer and --remove-timer do not go together")
    if any(o is not None for o in timer_opts) and not args.install_timer:
        raise UsageError("--on-calendar, --stage-calendar and --randomized-delay go with "
                         "--install-timer")
    if (args.install_timer or args.remove_timer) and (args.dry_run or args.stage or args.json):
        raise UsageError("--install-timer/--remove-timer take no --dry-run, --stage or --json")
    if args.dry_run and args.stage:
        raise UsageError("--dry-run and --stage do not go together (--dry-run writes nothing)")
    if args.install_timer:
        return _install_timer(ctx, args)
    if args.remove_timer:
        from ..lifecycle.timer import remove_timer

        report = remove_timer(ctx.paths, sayer(ctx))
        for path in report.removed:
            sayer(ctx)(f"removed {path}")
        return OK
    return _run(ctx, args)


def _run(ctx, args) -> int:
    from ..lifecycle.autoupdate import AutoUpdateRequest, auto_update

    rows = auto_update(ctx.paths, AutoUpdateRequest(dry_run=args.dry_run, stage=args.stage,
                                                    timeout=args.timeout), sayer(ctx))
    if args.json:
        print_json([r.as_json() for r in rows])
    elif rows:
        print_table(("CONTAINER", "POLICY", "FROM", "TO", "RESULT"),
                    [(r.container, r.policy, r.before[:12], r.after[:12],
                      r.result + (f": {r.reason}" if r.reason else "")) for r in rows])
    else:
        sayer(ctx)("no container has an auto-update policy (install/update --auto-update=registry|local)")
    if any(r.result in ("failed", "unchecked", "rolled-back") for r in rows):
        return PROBLEM
    return AVAILABLE if any(r.result == "would-update" for r in rows) else OK


def _install_timer(ctx, args) -> int:
    from ..lifecycle.timer import TimerRequest, install_timer

    req = TimerRequest(command=_self_command(ctx, args),
                       on_calendar=args.on_calendar or "daily",
                       stage_calendar=args.stage_calendar,
                       randomized_delay=args.randomized_delay or "30min")
    report = install_timer(ctx.paths, req, sayer(ctx))
    say = sayer(ctx)
    for path in report.removed:
        say(f"removed {path}")
    for path in report.written:
        say(f"wrote {path}")
    say(f"enabled {', '.join(report.timers)}")
    return OK


def _self_command(ctx, args) -> tuple[str, ...]:
    """This syscontainers by its absolute path (a venv's script, or its python -m), in the
    mode and with the locations given on this command line."""
    exe = os.path.abspath(sys.argv[0])
    if os.path.basename(exe) == "syscontainers" and os.access(exe, os.X_OK):
        cmd = [exe]
    else:
        cmd = [os.path.abspath(sys.executable), "-m", "syscontainers.cli"]
    cmd.append("--user" if ctx.paths.user_mode else "--system")
    if args.checkout_path:
        cmd += ["--checkout-path", os.path.abspath(args.checkout_path)]
    if args.repo:
        cmd += ["--repo", os.path.abspath(args.repo)]
    return tuple(cmd)
