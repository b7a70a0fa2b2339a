"""CLI verbs for containers: install, uninstall, list, start, stop, status, logs."""

from __future__ import annotations

import os
import sys
import time

from .common import creds, make_context, print_json, print_table, sayer, tls_bool


def register(sub) -> None:
    _register_install(sub)
    p = sub.add_parser("uninstall", help="stop and remove an installed container")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--force", action="store_true", help="an unknown NAME is not an error")
    p.set_defaults(func=_uninstall)

    for verb in ("list", "ps"):
        p = sub.add_parser(verb, help="list installed containers" if verb == "list" else "same as list")
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=_list)
    p = sub.add_parser("containers", help="containers commands (list)")
    csub = p.add_subparsers(dest="containers_verb", metavar="COMMAND")
    csub.required = True
    p = csub.add_parser("list", help="list installed containers")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_list)

    _register_update(sub)
    p = sub.add_parser("rollback", help="switch a container back to its previous deployment")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=_rollback)
    register_control(sub)


def register_control(sub) -> None:
    """start, stop, status, logs: all a quick command line needs (cli/__main__.py)."""
    for verb, func, text in (("start", _start, "start a container's service"),
                             ("stop", _stop, "stop a container's service"),
                             ("status", _status, "show a container's service status"),
                             ("logs", _logs, "show a container's journal")):
        p = sub.add_parser(verb, help=text)
        p.add_argument("name", metavar="NAME")
        if verb == "logs":
            p.add_argument("-f", "--follow", action="store_true")
            p.add_argument("-n", "--lines", type=int)
        p.set_defaults(func=func)


def _register_install(sub) -> None:
    p = sub.add_parser("install", help="install an image as a system container (a systemd service)")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--name", help="container name (default: from the image name)")
    p.add_argument("--set", dest="set_values", action="append", default=[], metavar="NAME=VALUE",
                   help="set a template variable (repeatable)")
    _secret_and_allow(p)
    p.add_argument("--runtime", metavar="PATH", help="OCI runtime (default: runc)")
    p.add_argument("--system-package", choices=("auto", "build", "no", "yes"), default="auto")
    p.add_argument("--remote", metavar="DIR", help="use an existing rootfs instead of a checkout")
    p.add_argument("--display", action="store_true", help="show what would be done, change nothing")
    p.add_argument("--force", action="store_true",
                   help="accept --set of a variable no template of the image uses")
    p.add_argument("--src-creds", metavar="USER[:PASSWORD]",
                   help="registry credentials (only where they came from is recorded)")
    p.add_argument("--tls-verify", type=tls_bool, default=True, metavar="true|false",
                   help="verify the registry's TLS certificate (default true; recorded for update)")
    p.set_defaults(func=_install)


def _register_update(sub) -> None:
    p = sub.add_parser("update", help="update a container to the newest image (or --rebase)")
    p.add_argument("name", metavar="NAME", nargs="?")
    p.add_argument("--all", action="store_true", help="update every container (controlled)")
    p.add_argument("--rebase", metavar="IMAGE", help="switch to another image")
    p.add_argument("--set", dest="set_values", action="append", default=[], metavar="NAME=VALUE")
    _secret_and_allow(p)
    p.add_argument("--controlled", action="store_true",
                   help="roll back automatically if the new version does not start")
    p.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                   help="settle time before a controlled update is judged (default 10)")
    p.add_argument("--display", action="store_true",
                   help="show what would change from the stored images (the registry is not asked)")
    p.add_argument("--check", action="store_true",
                   help="ask the source whether an update is available (manifest only, nothing "
                        "written); exit 0 up to date, 100 update available, 1 could not check")
    p.add_argument("--diff", action="store_true", help="with --check: unified diffs of the files")
    p.add_argument("--offline", action="store_true",
                   help="do not ask the source: use the image stored under the container's name")
    p.add_argument("--src-creds", metavar="USER[:PASSWORD]", help="registry credentials")
    p.add_argument("--tls-verify", type=tls_bool, default=True, metavar="true|false",
                   help="for the --rebase image: verify the registry's TLS certificate")
    p.add_argument("--json", action="store_true", help="with --all or --check: JSON")
    p.add_argument("--force", action="store_true",
                   help="accept --set of a variable no template of the image uses")
    p.set_defaults(func=_update)

def _secret_and_allow(p) -> None:
    p.add_argument("--set-secret", dest="set_secrets", action="append", default=[],
                   metavar="NAME[=@FILE]",
                   help="set a template variable from one line of stdin (or a file) and never "
                        "print it (repeatable)")
    p.add_argument("--allow", dest="allow", action="append", default=[], metavar="NAMES",
                   help="grant privileges the image asks for (comma-separated, e.g. "
                        "hooks,host-namespaces; see docs/operations.md)")


def _settings(args):
    """--set, --set-secret and --allow, parsed once (a secret is read from stdin here)."""
    from ..lifecycle.requests import parse_settings

    return parse_settings(set_args=args.set_values, secret_args=args.set_secrets,
                          allow_args=args.allow)


def _install(args) -> int:
    from ..lifecycle.install import InstallRequest, install

    ctx = make_context(args)
    settings = _settings(args)
    req = InstallRequest(image=args.image, name=args.name, set_values=settings.values,
                         runtime=args.runtime, display=args.display, remote=args.remote,
                         system_package=args.system_package, force=args.force,
                         tls_verify=args.tls_verify, creds=creds(args.src_creds),
                         secret_names=settings.secret_names, allow=settings.allow)
    return install(ctx.paths, req, sayer(ctx))


def _uninstall(args) -> int:
    from ..lifecycle.remove import uninstall

    ctx = make_context(args)
    uninstall(ctx.paths, args.name, sayer(ctx), force=args.force)
    return 0


def _list(args) -> int:
    from ..lifecycle.query import containers

    ctx = make_context(args)
    rows = containers(ctx.paths)
    _warn_broken(rows, sayer(ctx))
    if args.json:
        print_json([r.as_json() for r in rows])
        return 0
    print_table(
        ("NAME", "IMAGE", "IMAGE ID", "CREATED", "STATUS", "RUNTIME", "TYPE", "COMMAND"),
        [(r.name + (" (preinstalled)" if r.preinstalled else ""), r.image, r.image_id[:12],
          time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created)) if r.created else "",
          r.status_text(), os.path.basename(r.runtime), r.type, " ".join(r.command))
         for r in rows])
    return 0


def _warn_broken(rows, say) -> None:
    """One warning (stderr) per container whose deployment cannot be read (its row says
    ``broken``; --json has the reason too)."""
    for r in rows:
        if r.reason:
            say(f"warning: container {r.name} is broken: {r.reason}")


def _update(args) -> int:
    from ..errors import UsageError

    ctx = make_context(args)
    if args.diff and not args.check:
        raise UsageError("--diff goes with --check")
    if args.check and args.display:
        raise UsageError("--check and --display do not go together (--check asks the source)")
    if args.all and (args.name or args.rebase):
        raise UsageError("update --all takes no NAME and no --rebase")
    if args.all and (args.set_secrets or args.allow):
        raise UsageError("update --all takes no --set-secret and no --allow; give them per container")
    if not args.all and not args.name:
        raise UsageError("update needs a container NAME (or --all)")
    req = _request(args, _settings(args))
    if args.check:
        return _check(ctx, req, args)
    if args.all:
        return _update_all(ctx, req, args.json)
    from ..lifecycle.update import update

    update(ctx.paths, req, sayer(ctx))
    return 0


def _request(args, settings):
    """One request for every container (--all: the name is each container's; the
    credentials are asked once, on the terminal)."""
    from ..lifecycle.update import UpdateRequest

    return UpdateRequest(name=args.name or "", rebase=args.rebase, set_values=settings.values,
                         controlled=args.controlled and not args.check, timeout=args.timeout,
                         display=args.display, offline=args.offline, creds=creds(args.src_creds),
                         tls_verify=args.tls_verify, force=args.force,
                         secret_names=settings.secret_names, allow=settings.allow)


def _update_all(ctx, req, as_json: bool) -> int:
    """Exit 1 when a container failed or could not be checked (docs/operations.md,
    "Updates")."""
    from ..lifecycle.update import update_all

    rows = update_all(ctx.paths, req, sayer(ctx))
    if as_json:
        print_json([r.as_json() for r in rows])
    else:
        print_table(("CONTAINER", "BEFORE", "AFTER", "RESULT"),
                    [(r.container, r.before[:12], r.after[:12],
                      r.result + (f": {r.reason}" if r.reason else "")) for r in rows])
    return 1 if any(r.result in ("unchecked", "failed") for r in rows) else 0


CHECK_UP_TO_DATE, CHECK_AVAILABLE, CHECK_FAILED = 0, 100, 1


def _check(ctx, req, args) -> int:
    """update --check: exit 0 all up to date, 100 an update is available (as dnf
    check-update), 1 a container could not be checked (that wins)."""
    from ..lifecycle.check import check, check_all

    reports = check_all(ctx.paths, req, diff=args.diff) if args.all \
        else [check(ctx.paths, req, diff=args.diff)]
    if args.json:
        rows = [r.as_json() for r in reports]
        print_json(rows if args.all else rows[0])
    else:
        for r in reports:
            _print_check(r)
    if any(r.update_available is None for r in reports):
        return CHECK_FAILED
    return CHECK_AVAILABLE if any(r.update_available for r in reports) else CHECK_UP_TO_DATE


def _print_check(r) -> None:
    if r.update_available is None:
        print(f"{r.name}: unchecked: {r.reason}")
        return
    state = "update available" if r.update_available else "up to date"
    print(f"{r.name}: {state}")
    print(f"  current:   {r.current_id[:12]} ({r.current_image})")
    same = " (the same image: config and layers unchanged)" if r.same_image and \
        r.available_id != r.current_id else ""
    print(f"  available: {r.available_id[:12]} ({r.available_image}){same}")
    print(f"  source:    {'asked ' + r.asked if r.asked else 'not asked (--offline: the stored image)'}")
    for k, (old, new) in r.values.items():
        print(f"  value {k}: {old!r} -> {new!r}")
    _print_check_privileges(r)
    if r.files is None:
        print("  files: not known until the new image's layers are fetched "
              "(`syscontainers pull` it, then check again)")
    elif r.files:
        print(f"  would change: {', '.join(r.files)}")
    for d in r.diffs:
        sys.stdout.write(d)


def _print_check_privileges(r) -> None:
    """As install prints them (docs/operations.md "Privileges in update --check")."""
    if r.privileges is None:
        if r.files is None:
            print("  privileges: not known until the new image's layers are fetched")
        return
    for p in r.privileges:
        print(f"  privilege {p.line()}")
    if r.host_cannot_grant:
        print("  this host cannot grant: " + "; ".join(r.host_cannot_grant))
    if r.needs_allow:
        print(f"  update would be refused: needs --allow={','.join(r.needs_allow)}")


def _rollback(args) -> int:
    from ..lifecycle.update import rollback

    ctx = make_context(args)
    rollback(ctx.paths, args.name, sayer(ctx))
    return 0


def _start(args) -> int:
    from ..lifecycle.control import start

    start(make_context(args).paths, args.name)
    return 0


def _stop(args) -> int:
    from ..lifecycle.control import stop

    stop(make_context(args).paths, args.name)
    return 0


def _status(args) -> int:
    from ..lifecycle.query import status

    ctx = make_context(args)
    row, text = status(ctx.paths, args.name)
    if row.reason:
        _warn_broken([row], sayer(ctx))
        print(f"{row.name}: broken ({row.reason})")
        sys.stdout.write(text)
        return 1
    print(f"{row.name}: {row.status_text()} (image {row.image}, {row.image_id[:12]})")
    sys.stdout.write(text)
    return 0 if row.status == "running" else 3


def _logs(args) -> int:
    from ..lifecycle.control import logs_command

    cmd = logs_command(make_context(args).paths, args.name)
    if args.follow:
        cmd.append("--follow")
    if args.lines:
        cmd += ["-n", str(args.lines)]
    os.execvp(cmd[0], cmd)
