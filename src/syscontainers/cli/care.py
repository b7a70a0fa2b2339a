"""CLI verbs that look after installed containers: verify (drift, --repair), pin, unpin
(docs/operations.md, "Drift: verify and repair" and "Pinning")."""

from __future__ import annotations

from .common import make_context, print_json, sayer


def register(sub) -> None:
    p = sub.add_parser("verify", help="compare a container with what was installed (drift)")
    p.add_argument("name", metavar="NAME", nargs="?")
    p.add_argument("--all", action="store_true", help="every installed container")
    p.add_argument("--diff", action="store_true", help="unified diffs of changed files")
    p.add_argument("--repair", action="store_true",
                   help="restore the tool's files (an admin-edited host file needs --force)")
    p.add_argument("--force", action="store_true", help="with --repair: replace admin-edited host files")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_verify)
    p = sub.add_parser("inspect", help="everything recorded about an installed container (JSON)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--json", action="store_true", help="(the default: inspect prints JSON)")
    p.set_defaults(func=_inspect)
    p = sub.add_parser("pin", help="keep a container at its version (update --all, auto-update skip it)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--reason", metavar="TEXT", help="why (shown by list and update)")
    p.set_defaults(func=_pin)
    p = sub.add_parser("unpin", help="let a pinned container be updated again")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=_unpin)


def _verify(args) -> int:
    from ..errors import UsageError
    from ..lifecycle import drift

    if bool(args.name) == bool(args.all):
        raise UsageError("verify: name one container, or --all")
    if args.force and not args.repair:
        raise UsageError("--force goes with --repair")
    if args.repair and args.all:
        raise UsageError("verify --repair takes one NAME")
    ctx = make_context(args)
    if args.repair:
        reports = [drift.repair(ctx.paths, args.name, sayer(ctx), force=args.force)]
    elif args.all:
        reports = drift.verify_all(ctx.paths, diff=args.diff)
    else:
        reports = [drift.verify(ctx.paths, args.name, diff=args.diff)]
    if args.json:
        print_json(reports[0].as_json() if args.name else [r.as_json() for r in reports])
    else:
        for report in reports:
            _print(report)
    if args.repair:
        return 1 if reports[0].kept else 0
    return 1 if any(r.drifted for r in reports) else 0


def _print(report) -> None:
    if not report.drifted:
        print(f"{report.name}: as installed")
    for d in report.differences:
        print(f"{report.name}: {d.line()}")
        if d.diff:
            print(d.diff, end="" if d.diff.endswith("\n") else "\n")
    for note in report.notes:
        print(f"{report.name}: note: {note}")


def _inspect(args) -> int:
    from ..lifecycle.inspection import inspect_container

    print_json(inspect_container(make_context(args).paths, args.name))
    return 0


def _pin(args) -> int:
    from ..lifecycle.pinning import set_pin

    ctx = make_context(args)
    set_pin(ctx.paths, args.name, True, args.reason, sayer(ctx))
    return 0


def _unpin(args) -> int:
    from ..lifecycle.pinning import set_pin

    ctx = make_context(args)
    set_pin(ctx.paths, args.name, False, None, sayer(ctx))
    return 0
