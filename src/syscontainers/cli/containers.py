"""CLI verbs for containers: install, uninstall, list, start, stop, status, logs."""

from __future__ import annotations

import os
import sys
import time

from .common import make_context, print_json, print_table, sayer


def register(sub) -> None:
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
    p.set_defaults(func=_install)

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
    p.add_argument("--display", action="store_true", help="show what would change, change nothing")
    p.add_argument("--json", action="store_true", help="with --all: the summary as JSON")
    p.set_defaults(func=_update)

    p = sub.add_parser("rollback", help="switch a container back to its previous deployment")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=_rollback)

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


def _secret_and_allow(p) -> None:
    p.add_argument("--set-secret", dest="set_secrets", action="append", default=[],
                   metavar="NAME[=@FILE]",
                   help="set a template variable from one line of stdin (or a file) and never "
                        "print it (repeatable)")
    p.add_argument("--allow", dest="allow", action="append", default=[], metavar="NAMES",
                   help="grant privileges the image asks for (comma-separated, e.g. "
                        "hooks,host-namespaces; see docs/operations.md)")


def _values_and_secrets(args) -> tuple[dict, frozenset]:
    from ..deploy.values import merge_set, parse_set, parse_set_secret

    secrets = parse_set_secret(args.set_secrets)
    return merge_set(parse_set(args.set_values), secrets), frozenset(secrets)


def _allowed(args) -> frozenset:
    from ..deploy.privileges import parse_allow

    return parse_allow(args.allow)


def _install(args) -> int:
    from ..lifecycle.install import InstallRequest, install

    ctx = make_context(args)
    values, secrets = _values_and_secrets(args)
    req = InstallRequest(image=args.image, name=args.name, set_values=values,
                         runtime=args.runtime, display=args.display, remote=args.remote,
                         system_package=args.system_package, secret_names=secrets,
                         allow=_allowed(args))
    install(ctx.paths, req, sayer(ctx))
    return 0


def _uninstall(args) -> int:
    from ..lifecycle.remove import uninstall

    ctx = make_context(args)
    uninstall(ctx.paths, args.name, sayer(ctx), force=args.force)
    return 0


def _list(args) -> int:
    from ..lifecycle.query import containers

    ctx = make_context(args)
    rows = containers(ctx.paths)
    if args.json:
        print_json([r.as_json() for r in rows])
        return 0
    print_table(
        ("NAME", "IMAGE", "IMAGE ID", "CREATED", "STATUS", "RUNTIME", "TYPE", "COMMAND"),
        [(r.name + (" (preinstalled)" if r.preinstalled else ""), r.image, r.image_id[:12],
          time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created)) if r.created else "",
          r.status, os.path.basename(r.runtime), r.type, " ".join(r.command))
         for r in rows])
    return 0


def _update(args) -> int:
    from ..errors import UsageError
    from ..lifecycle.update import UpdateRequest, update

    ctx = make_context(args)
    if args.all:
        if args.name or args.rebase:
            raise UsageError("update --all takes no NAME and no --rebase")
        if args.set_secrets or args.allow:
            raise UsageError("update --all takes no --set-secret and no --allow; give them per container")
        return _update_all(ctx, _values_and_secrets(args)[0], args)
    if not args.name:
        raise UsageError("update needs a container NAME (or --all)")
    values, secrets = _values_and_secrets(args)
    req = UpdateRequest(args.name, args.rebase, values, args.controlled, args.timeout, args.display,
                        secret_names=secrets, allow=_allowed(args))
    update(ctx.paths, req, sayer(ctx))
    return 0


def _update_all(ctx, values, args) -> int:
    from ..deploy import deployment as dl
    from ..errors import SysContainersError
    from ..lifecycle.update import UpdateRequest, update

    rows, failed = [], 0
    for name in dl.installed_names(ctx.paths):
        before = dl.current(ctx.paths, name).read_info().revision
        try:
            result = update(ctx.paths, UpdateRequest(name, None, values, True, args.timeout,
                                                     args.display), sayer(ctx))
        except SysContainersError as e:
            result, failed = f"failed: {e}", failed + 1
        after = dl.current(ctx.paths, name).read_info().revision
        rows.append({"container": name, "before": before, "after": after, "result": result})
    if args.json:
        print_json(rows)
    else:
        print_table(("CONTAINER", "BEFORE", "AFTER", "RESULT"),
                    [(r["container"], r["before"][:12], r["after"][:12], r["result"]) for r in rows])
    return 1 if failed else 0


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
    from ..lifecycle.control import status_text
    from ..lifecycle.query import container

    ctx = make_context(args)
    row = container(ctx.paths, args.name)
    print(f"{row.name}: {row.status} (image {row.image}, {row.image_id[:12]})")
    sys.stdout.write(status_text(ctx.paths, args.name))
    return 0 if row.status == "running" else 3


def _logs(args) -> int:
    from ..lifecycle.control import logs_command

    cmd = logs_command(make_context(args).paths, args.name)
    if args.follow:
        cmd.append("--follow")
    if args.lines:
        cmd += ["-n", str(args.lines)]
    os.execvp(cmd[0], cmd)
