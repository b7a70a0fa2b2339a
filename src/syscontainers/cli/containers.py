"""CLI verbs for containers: install, uninstall, list, update, history, rollback, start, stop,
status, logs."""

from __future__ import annotations

import os
import sys
import time

from .common import (add_listing_options, add_registry_options, creds, make_context, print_json,
                     print_table, sayer,
                     registry_files, tls_bool, truncate)


def register(sub) -> None:
    _register_install(sub)
    p = sub.add_parser("uninstall", help="stop and remove an installed container")
    p.add_argument("name", metavar="NAME")
    p.add_argument("-f", "--force", action="store_true", help="an unknown NAME is not an error")
    p.set_defaults(func=_uninstall)

    for verb in ("list", "ps"):
        p = sub.add_parser(verb, help="list installed containers" if verb == "list" else "same as list")
        add_listing_options(p, "containers")
        p.set_defaults(func=_list)
    _register_update(sub)
    p = sub.add_parser("history", help="what install/update/rollback/uninstall did to a container")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_history)
    _register_rollback(sub)
    _register_atomic_containers(sub)

    p = sub.add_parser("healthcheck", help="run a container's health check once (exit 0 "
                                           "healthy, 1 unhealthy)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_healthcheck)
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
        if verb == "status":
            p.add_argument("--json", action="store_true", help="the row of `list --json`")
        p.set_defaults(func=func)


def _register_rollback(sub) -> None:
    p = sub.add_parser("rollback", help="switch a container back to its previous deployment")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=_rollback)


def _register_atomic_containers(sub) -> None:
    """atomic's `containers list|update|rollback|delete` (docs/atomic-migration.md): the same
    parsers and handlers as the top-level verbs."""
    p = sub.add_parser("containers", help="containers commands (list, update, rollback, delete)")
    p.set_defaults(func=_list, all=False, filter=[], noheading=False, no_trunc=False,
                   list_quiet=False, json=False)
    csub = p.add_subparsers(dest="containers_verb", metavar="COMMAND")
    q = csub.add_parser("list", help="list installed containers")
    add_listing_options(q, "containers")
    q.set_defaults(func=_list)
    _register_update(csub)
    _register_rollback(csub)
    q = csub.add_parser("delete", help="uninstall containers (atomic's name for uninstall)")
    q.add_argument("names", metavar="NAME", nargs="+")
    q.add_argument("-f", "--force", action="store_true", help="an unknown NAME is not an error")
    q.set_defaults(func=_delete)


def _register_install(sub) -> None:
    p = sub.add_parser("install", help="install an image as a system container (a systemd service)")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--name", help="container name (default: from the image name)")
    p.add_argument("--set", dest="set_values", action="append", default=[], metavar="NAME=VALUE",
                   help="set a template variable (repeatable)")
    _secret_and_allow(p)
    p.add_argument("--runtime", metavar="PATH", help="OCI runtime (default: runc)")
    p.add_argument("--system-package", choices=("auto", "build", "no", "yes"), default="auto")
    p.add_argument("--remote", "--rootfs", dest="remote", metavar="DIR",
                   help="use an existing rootfs instead of a checkout (--rootfs: atomic's name)")
    p.add_argument("--display", action="store_true", help="show what would be done, change nothing")
    p.add_argument("--force", action="store_true",
                   help="accept --set of a variable no template of the image uses")
    add_registry_options(p)
    from .common import signature_policy_flag
    signature_policy_flag(p)
    _auto_update_flag(p, "default: the image label io.containers.autoupdate, else off")
    _health_flags(p)
    p.set_defaults(func=_install)


def _register_update(sub) -> None:
    p = sub.add_parser("update", help="update a container to the newest image (or --rebase)")
    p.add_argument("name", metavar="NAME", nargs="?")
    p.add_argument("--all", action="store_true", help="update every container (controlled)")
    p.add_argument("--rebase", metavar="IMAGE", help="switch to another image")
    p.add_argument("--set", dest="set_values", action="append", default=[], metavar="NAME=VALUE")
    _secret_and_allow(p)
    p.add_argument("--controlled", action="store_true",
                   help="roll back automatically if the new version is not healthy")
    p.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                   help="how long a controlled update waits for the new version to be healthy "
                        "(without a health check: to stay active; default 10)")
    p.add_argument("--display", action="store_true",
                   help="show what would change from the stored images (the registry is not asked)")
    p.add_argument("--check", action="store_true",
                   help="ask the source whether an update is available (manifest only, nothing "
                        "written); exit 0 up to date, 100 update available, 1 could not check")
    p.add_argument("--diff", action="store_true", help="with --check: unified diffs of the files")
    p.add_argument("--offline", action="store_true",
                   help="do not ask the source: use the image stored under the container's name")
    add_registry_options(p)    # --tls-verify: for the --rebase image
    p.add_argument("--json", action="store_true", help="with --all or --check: JSON")
    p.add_argument("--force", action="store_true",
                   help="accept --set of a variable no template of the image uses")
    from .common import signature_policy_flag
    signature_policy_flag(p)
    _auto_update_flag(p, "default: keep the stored policy")
    _health_flags(p)
    p.set_defaults(func=_update)


def _auto_update_flag(p, default: str) -> None:
    p.add_argument("--auto-update", choices=("registry", "local", "off"), default=None,
                   help=f"the container's auto-update policy ({default}; docs/operations.md)")


def _health_flags(p) -> None:
    """The operator's health check (docs/operations.md "Health checks"), stored with the
    container and kept by later updates."""
    g = p.add_argument_group("health check (replaces the image's; kept across updates)")
    g.add_argument("--health-cmd", metavar="CMD", help="run CMD in the container (sh -c); exit 0 is healthy")
    g.add_argument("--health-url", metavar="URL", help="GET URL from the host; 2xx/3xx is healthy")
    g.add_argument("--health-tcp", metavar="[HOST:]PORT", help="connect from the host")
    g.add_argument("--health-interval", type=float, metavar="SECONDS", help="between probes (default 5)")
    g.add_argument("--health-timeout", type=float, metavar="SECONDS", help="of one probe (default 5)")
    g.add_argument("--health-retries", type=int, metavar="N",
                   help="failures in a row that make it unhealthy (default 3)")
    g.add_argument("--health-start-period", type=float, metavar="SECONDS",
                   help="failures in this first time do not count (default 0)")
    g.add_argument("--no-healthcheck", action="store_true", help="no health check, not even the image's")


def _health(args):
    from ..lifecycle.health import operator_check

    return operator_check(cmd=args.health_cmd, url=args.health_url, tcp=args.health_tcp,
                          interval=args.health_interval, timeout=args.health_timeout,
                          retries=args.health_retries, start_period=args.health_start_period,
                          disabled=args.no_healthcheck)

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
                         files=registry_files(args),
                         secret_names=settings.secret_names, allow=settings.allow,
                         signature_policy=args.signature_policy, auto_update=args.auto_update,
                         health_check=_health(args))
    return install(ctx.paths, req, sayer(ctx))


def _uninstall(args) -> int:
    from ..lifecycle.remove import uninstall

    ctx = make_context(args)
    uninstall(ctx.paths, args.name, sayer(ctx), force=args.force)
    return 0


def _delete(args) -> int:
    """`containers delete NAME...`: each uninstalled in turn; the first error stops."""
    from ..lifecycle.remove import uninstall

    ctx = make_context(args)
    for name in args.names:
        uninstall(ctx.paths, name, sayer(ctx), force=args.force)
    return 0


def _list(args) -> int:
    from ..lifecycle.query import containers

    from ..lifecycle.filters import CONTAINER_FIELDS, apply, parse_filters

    ctx = make_context(args)
    filters = parse_filters(args.filter, CONTAINER_FIELDS)
    rows = apply(containers(ctx.paths, with_health=True), filters)
    _warn_broken(rows, sayer(ctx))
    if args.json:
        from ..lifecycle.query import iso_time
        print_json([{**r.as_json(), "created": iso_time(r.created)} for r in rows])
        return 0
    if args.list_quiet:
        for r in rows:
            print(r.name)
        return 0
    full = args.no_trunc
    print_table(
        ("NAME", "IMAGE", "IMAGE ID", "CREATED", "STATUS", "RUNTIME", "TYPE", "AUTO-UPDATE",
         "COMMAND"),
        [(r.name + (" (preinstalled)" if r.preinstalled else ""), r.image,
          r.image_id if full else r.image_id[:12],
          time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created)) if r.created else "",
          r.status_text(), os.path.basename(r.runtime), r.type, r.auto_update,
          truncate(" ".join(r.command), 40, full))
         for r in rows], heading=not args.noheading)
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
    if args.all and args.auto_update is not None:
        raise UsageError("update --all takes no --auto-update; give it per container")
    if args.auto_update is not None and (args.check or args.display):
        raise UsageError("--auto-update changes the container: not with --check or --display")
    if args.all and _health(args) is not None:
        raise UsageError("update --all takes no --health-* flags; give them per container")
    if not args.all and not args.name:
        raise UsageError("update needs a container NAME (or --all)")
    req = _request(args, _settings(args))
    if args.check:
        return _check(ctx, req, args)
    if args.all:
        return _update_all(ctx, req, args.json)
    from ..lifecycle.update import update_one

    row = update_one(ctx.paths, req, sayer(ctx))
    if args.json:
        print_json(row.as_json())
    return 0


def _request(args, settings):
    """One request for every container (--all: the name is each container's; the
    credentials are asked once, on the terminal)."""
    from ..lifecycle.update import UpdateRequest

    return UpdateRequest(name=args.name or "", rebase=args.rebase, set_values=settings.values,
                         controlled=args.controlled and not args.check, timeout=args.timeout,
                         display=args.display, offline=args.offline, creds=creds(args.src_creds),
                         tls_verify=args.tls_verify, force=args.force, files=registry_files(args),
                         secret_names=settings.secret_names, allow=settings.allow,
                         signature_policy=args.signature_policy, auto_update=args.auto_update,
                         health_check=_health(args))


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
STATUS_UNKNOWN = 4       # status NAME of a container that is not installed (docs/json.md)


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


def _history(args) -> int:
    """docs/operations.md "History": local times, from -> to, the result and its reason."""
    from ..lifecycle.history import history

    records = history(make_context(args).paths, args.name)
    if args.json:
        print_json([r.as_data() for r in records])
        return 0
    print_table(("TIME", "VERB", "FROM", "TO", "VALUES", "RESULT"),
                [(_local_time(r.time), r.verb, _version(r.from_version), _version(r.to_version),
                  ", ".join(f"{k}: {_value(a)} -> {_value(b)}" for k, (a, b) in r.values.items()),
                  r.result + (f": {r.reason}" if r.reason else "")) for r in records])
    return 0


def _local_time(text: str) -> str:
    from datetime import datetime

    try:
        return datetime.fromisoformat(text).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return text


def _version(v) -> str:
    return f"{v.image} ({v.image_id[:12]})" if v else "-"


def _value(v: str | None, width: int = 40) -> str:
    """A value for the table: quoted, long ones cut (--json has them whole)."""
    if v is None:
        return "-"
    text = repr(v)
    return text if len(text) <= width else text[:width - 4] + "...'"


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
    from dataclasses import replace

    from ..lifecycle.health import container_health
    from ..lifecycle.query import status

    from ..errors import ContainerNotFound

    ctx = make_context(args)
    try:
        row, text = status(ctx.paths, args.name, getattr(args, "status_text", None),
                           getattr(args, "status_show", None))
    except ContainerNotFound as e:      # systemctl status says 4 for "no such unit"
        print(f"error: {e}", file=sys.stderr)
        return STATUS_UNKNOWN
    if row.reason:
        _warn_broken([row], sayer(ctx))
        print(f"{row.name}: broken ({row.reason})")
        sys.stdout.write(text)
        return 1
    report = container_health(ctx.paths, args.name, row.status)
    row = replace(row, health=report.state)
    if getattr(args, "json", False):
        from ..lifecycle.inspection import iso_time
        print_json({**row.as_json(), "created": iso_time(row.created),
                    "health_check": report.check or None, "health_output": report.output or None})
        return 0 if row.status == "running" else 3
    print(row.status_line())
    if report.check:
        print(f"health: {report.detail()}")
    sys.stdout.write(text)
    return 0 if row.status == "running" else 3


def _healthcheck(args) -> int:
    """Exit 0 healthy, 1 otherwise (docs/operations.md "Health checks")."""
    from ..lifecycle.health import HEALTHY, run_healthcheck

    ctx = make_context(args)
    report = run_healthcheck(ctx.paths, args.name)
    if args.json:
        print_json({"name": report.name, "health": report.state, "check": report.check,
                    "output": report.output})
    else:
        print(report.line())
    return 0 if report.state == HEALTHY else 1


def _logs(args) -> int:
    from ..lifecycle.control import logs_command

    cmd = logs_command(make_context(args).paths, args.name)
    if args.follow:
        cmd.append("--follow")
    if args.lines:
        cmd += ["-n", str(args.lines)]
    os.execvp(cmd[0], cmd)
