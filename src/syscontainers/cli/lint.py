"""CLI verb for image authors: lint IMAGE|DIR [--json] (docs/image-authors.md "Lint your
image"). Exit status 0: no errors (warnings allowed); 1: errors; 2: usage."""

from __future__ import annotations

from .common import make_context, print_json, print_table


def register(sub) -> None:
    p = sub.add_parser("lint", help="check an image (stored, or an exports directory) the way "
                                    "install would, without installing")
    p.add_argument("target", metavar="IMAGE|DIR",
                   help="a stored image (name or ID prefix; never pulled), or a directory: an "
                        "image rootfs or build context with exports/, or exports/ itself")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_lint)


def _lint(args) -> int:
    from ..lifecycle.lint import LintRequest, lint

    ctx = make_context(args)
    report = lint(ctx.paths, LintRequest(target=args.target))
    result = report.result
    if args.json:
        print_json({
            "source": report.source, "errors": result.errors, "warnings": result.warnings,
            "findings": [f.as_dict() for f in result.findings],
            "privileges": [{"name": p.name, "detail": p.detail, "dangerous": p.dangerous}
                           for p in result.privileges],
            "notes": list(result.notes)})
        return report.exit_code
    print(f"lint of {report.source}")
    if result.findings:
        print_table(("SEVERITY", "CODE", "WHERE", "MESSAGE"),
                    [(f.severity, f.code, f.where, f.message) for f in result.findings])
    if result.privileges:
        print("Privileges asked for:")
        for p in result.privileges:
            print(f"  {p.line()}")
    for note in result.notes:
        print(f"note: {note}")
    print(f"{result.errors} error(s), {result.warnings} warning(s)")
    return report.exit_code
