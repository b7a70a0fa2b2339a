"""CLI verbs that use images without installing them: run, exec, mount, umount, extract."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_registry_options, creds, make_context, registry_files, sayer, signature_policy_flag


def register(sub) -> None:
    p = sub.add_parser("run", help="run an image once in the foreground")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="CMD")
    p.add_argument("--name", help="NAME for the templates (default: from the image name)")
    p.add_argument("--set", dest="set_values", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--runtime", metavar="PATH")
    signature_policy_flag(p)
    add_registry_options(p, recorded=False)
    p.set_defaults(func=_run)

    p = sub.add_parser("exec", help="run a command in a container (running or not)")
    p.add_argument("--detach", "-d", action="store_true")
    p.add_argument("name", metavar="NAME")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="CMD")
    p.set_defaults(func=_exec)

    p = sub.add_parser("mount", help="mount an image or a container's rootfs at DIR")
    p.add_argument("what", metavar="IMAGE|NAME")
    p.add_argument("target", metavar="DIR")
    p.add_argument("--rw", action="store_true", help="writable (changes kept until umount)")
    p.add_argument("--shared", action="store_true",
                   help="atomic's: accepted (a read-only mount is shared by every user already)")
    p.add_argument("--live", action="store_true",
                   help="atomic's live mount of a running container: refused (see --rw)")
    p.set_defaults(func=_mount)

    p = sub.add_parser("umount", help="unmount what `mount` mounted at DIR")
    p.add_argument("target", metavar="DIR")
    p.set_defaults(func=_umount)

    p = sub.add_parser("extract", help="copy an image's tree into DIR")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("target", metavar="DIR")
    p.set_defaults(func=_extract)


def _run(args) -> int:
    from ..lifecycle.execute import run
    from ..lifecycle.requests import parse_settings
    from ..lifecycle.runonce import RunRequest

    ctx = make_context(args)
    settings = parse_settings(set_args=args.set_values)
    req = RunRequest(image=args.image, signature_policy=args.signature_policy,
                     command=args.command, name=args.name,
                     set_values=settings.values, runtime=args.runtime,
                     tls_verify=args.tls_verify, creds=creds(args.src_creds),
                     files=registry_files(args))
    return run(ctx.paths, req, sayer(ctx, progress_to_stderr=True))


def _exec(args) -> int:
    from ..lifecycle.execute import exec_in

    ctx = make_context(args)
    return exec_in(ctx.paths, args.name, args.command, args.detach, sayer(ctx, progress_to_stderr=True))


def _mount(args) -> int:
    from ..errors import UsageError
    from ..lifecycle.mounts import mount
    from ..lifecycle.requests import MountRequest

    if args.live:
        raise UsageError("mount --live: a system container's rootfs is never changed in place; "
                         "`mount --rw` gives a writable view whose changes stay until umount")
    if args.shared and args.rw:
        raise UsageError("--shared is for read-only mounts; --rw gives a private writable one")

    mount(make_context(args).paths, MountRequest(what=args.what, target=args.target,
                                                 writable=args.rw))
    return 0


def _umount(args) -> int:
    from ..lifecycle.mounts import umount_dir

    umount_dir(make_context(args).paths, Path(args.target))
    return 0


def _extract(args) -> int:
    from ..lifecycle.mounts import extract_image

    extract_image(make_context(args).paths, args.image, Path(args.target))
    return 0
