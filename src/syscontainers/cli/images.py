"""CLI verbs for images: pull, and images list/inspect/delete/tag/prune/verify/info
(docs/operations.md, "What each verb does to the host").

Parsing and printing only; the work, and the host lock of the verbs that write, are in
syscontainers.lifecycle.imageverbs.
"""

from __future__ import annotations

import sys
import time

from .common import (Context, add_listing_options, add_registry_options, creds, human_size,
                     make_context, print_json,
                     print_table, registry_files, sayer, tls_bool, truncate)


def register(sub) -> None:
    p = sub.add_parser("pull", help="pull an image into the OSTree repository")
    p.add_argument("image", metavar="IMAGE",
                   help="[docker://|http:]NAME, oci:DIR[:TAG], oci-archive:FILE[:REF], "
                        "docker-archive:FILE, docker-daemon:NAME[:TAG]")
    p.add_argument("--update", action="store_true", help="fetch a newer version even if the name is present")
    add_registry_options(p, recorded=False)
    from .common import signature_policy_flag
    signature_policy_flag(p)
    p.add_argument("--quiet", "-q", dest="pull_quiet", action="store_true", help="print only the name")
    p.set_defaults(func=_pull)

    p = sub.add_parser("login", help="store registry credentials (checked with the registry first)")
    p.add_argument("registry", metavar="REGISTRY", help="HOST[:PORT]")
    p.add_argument("--username", "-u", metavar="USER")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password from stdin (else it is asked for on the terminal)")
    p.add_argument("--authfile", metavar="FILE",
                   help="the auth file (default: $REGISTRY_AUTH_FILE, else "
                        "$XDG_CONFIG_HOME/containers/auth.json)")
    p.add_argument("--tls-verify", type=tls_bool, default=True, metavar="true|false",
                   help="verify the registry's TLS certificate (default true)")
    p.set_defaults(func=_login)
    p = sub.add_parser("logout", help="remove stored registry credentials")
    p.add_argument("registry", metavar="REGISTRY", nargs="?")
    p.add_argument("--all", "-a", action="store_true", help="of every registry")
    p.add_argument("--authfile", metavar="FILE", help="the auth file (as for login)")
    p.set_defaults(func=_logout)

    p = sub.add_parser("images", help="images commands (list, inspect, delete, tag, prune, verify, info)")
    # `images` alone lists them, as podman does
    p.set_defaults(func=_list, all=False, json=False, filter=[], noheading=False, no_trunc=False,
                   list_quiet=False)
    isub = p.add_subparsers(dest="images_verb", metavar="COMMAND")
    q = isub.add_parser("list", help="list images")
    add_listing_options(q, "images")
    q.set_defaults(func=_list)
    q = isub.add_parser("version", help="an image's ID, name and version label (atomic's)")
    q.add_argument("image", metavar="IMAGE")
    q.set_defaults(func=_version)
    q = isub.add_parser("update", help="pull newer versions of images (atomic's)")
    q.add_argument("images", metavar="IMAGE", nargs="*")
    q.add_argument("-a", "--all", action="store_true", help="every image pulled from a registry")
    q.set_defaults(func=_images_update)
    q = isub.add_parser("inspect", help="show one image (manifest, config labels)")
    q.add_argument("image", metavar="IMAGE")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=_inspect)
    q = isub.add_parser("delete", help="delete images by name or unique ID prefix")
    q.add_argument("images", metavar="IMAGE", nargs="+")
    q.add_argument("-f", "--force", action="store_true",
                   help="delete even an image an installed container uses (its tree is kept)")
    q.set_defaults(func=_delete)
    q = isub.add_parser("tag", help="give an image a second name")
    q.add_argument("src", metavar="SRC")
    q.add_argument("dest", metavar="DEST")
    q.set_defaults(func=_tag)
    q = isub.add_parser("prune", help="remove unused layers, refs and leftover deployments")
    q.add_argument("--dry-run", action="store_true", help="only show what would be removed")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=_prune)
    q = isub.add_parser("verify", help="check every file of an image against its checksum")
    q.add_argument("image", metavar="IMAGE")
    q.set_defaults(func=_verify)
    q = isub.add_parser("info", help="template variables of an image (what --set may or must give)")
    q.add_argument("image", metavar="IMAGE")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=_info)


# --- login / logout ------------------------------------------------------------------------

def _login(args) -> int:
    from ..errors import UsageError
    from ..lifecycle.credentials import LoginRequest, login

    user = args.username or _ask("Username: ", "--username")
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = _ask("Password: ", "--password-stdin", secret=True)
    if not user or not password:
        raise UsageError("login: a user name and a password are needed")
    registry, path = login(LoginRequest(registry=args.registry, username=user, password=password,
                                        auth_file=args.authfile, tls_verify=args.tls_verify))
    print(f"Login Succeeded: {registry} (credentials in {path})")
    return 0


def _ask(prompt: str, flag: str, secret: bool = False) -> str:
    import getpass

    from ..errors import UsageError
    if not sys.stdin.isatty():
        raise UsageError(f"login: no terminal to ask on: give {flag}")
    return getpass.getpass(prompt) if secret else input(prompt)


def _logout(args) -> int:
    from ..errors import UsageError
    from ..lifecycle.credentials import LogoutRequest, logout

    if bool(args.registry) == bool(args.all):
        raise UsageError("logout: name one REGISTRY, or --all")
    what, path = logout(LogoutRequest(registry=args.registry, auth_file=args.authfile))
    print(f"Removed login credentials for {what} (from {path})")
    return 0


# --- pull ----------------------------------------------------------------------------------

def _pull(args) -> int:
    from ..lifecycle.imageverbs import pull
    from ..lifecycle.requests import PullRequest

    ctx = make_context(args)
    quiet = ctx.quiet or args.pull_quiet
    req = PullRequest(image=args.image, update=args.update, tls_verify=args.tls_verify,
                      files=registry_files(args),
                      creds=creds(args.src_creds), progress=ctx.tty and not quiet,
                      signature_policy=args.signature_policy)

    def say(message: str) -> None:
        if message.startswith("warning: "):
            print(message, file=sys.stderr)
        elif not quiet:
            print(message, flush=True)

    result = pull(ctx.paths, req, say)
    if quiet:
        print(result.name)
    elif not result.skipped:
        print(f"Pulled {result.name} (ID {result.image.id[:12]}, "
              f"{len(result.fetched)} new layer{'s' if len(result.fetched) != 1 else ''})")
    return 0


# --- images list / inspect -----------------------------------------------------------------

MISSING_CONFIG = "(config blob missing from the store)"


def iso_time(epoch):
    from ..lifecycle.inspection import iso_time as iso
    return iso(epoch)


def _created(epoch: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch)) if epoch else ""


def _image_json(ctx: Context, image) -> dict:
    return {"id": image.id, "digest": image.digest, "names": list(image.names),
            "created": iso_time(image.created), "virtual_size": image.virtual_size,
            "type": "user" if ctx.paths.user_mode else "system",
            # null: unknown, the config blob is missing from the store (docs/formats.md "Refs")
            "labels": None if image.config_missing else image.labels, "kind": "image"}


def _blob_json(ctx: Context, entry) -> dict:
    return {"id": entry.id, "digest": f"sha256:{entry.id}", "names": [], "created": iso_time(entry.created),
            "virtual_size": entry.size, "type": "user" if ctx.paths.user_mode else "system",
            "labels": {}, "kind": entry.kind}


def _list(args) -> int:
    from ..lifecycle.imageverbs import list_images

    from ..lifecycle.filters import IMAGE_FIELDS, apply, parse_filters

    ctx = make_context(args)
    filters = parse_filters(args.filter, IMAGE_FIELDS)
    listing = list_images(ctx.paths, include_dangling=args.all)
    images = apply(listing.images, filters)
    blobs = [] if filters else listing.blobs      # layer/config refs have no fields to match
    if args.json:
        print_json([_image_json(ctx, i) for i in images] + [_blob_json(ctx, b) for b in blobs])
        return 0
    short = (lambda i: i) if args.no_trunc else (lambda i: i[:12])
    if args.list_quiet:
        for entry_id in dict.fromkeys([i.id for i in images] + [b.id for b in blobs]):
            print(short(entry_id))
        return 0
    kind = "user" if ctx.paths.user_mode else "system"
    rows = []
    for image in images:
        labels = ",".join(f"{k}={v}" for k, v in sorted(image.labels.items()))
        labels = MISSING_CONFIG if image.config_missing else truncate(labels, 60, args.no_trunc)
        for name in image.names or ("<none>",):
            rows.append((short(image.id), name, _created(image.created),
                         human_size(image.virtual_size), kind, labels))
    for blob in blobs:
        rows.append((short(blob.id), f"<none> ({blob.kind})", _created(blob.created),
                     human_size(blob.size), kind, ""))
    print_table(("ID", "NAME", "CREATED", "VIRTUAL SIZE", "TYPE", "LABELS"), rows,
                heading=not args.noheading)
    return 0


def _version(args) -> int:
    from ..lifecycle.imageverbs import inspect_image

    image, _review = inspect_image(make_context(args).paths, args.image)
    labels = image.labels
    version = labels.get("version") or labels.get("org.opencontainers.image.version") or ""
    if version and labels.get("release"):
        version += f"-{labels['release']}"
    print_table(("IMAGE ID", "NAME", "VERSION"),
                [(image.id[:12], image.name or "<none>", version or "<none>")])
    return 0


def _images_update(args) -> int:
    from ..errors import UsageError
    from ..lifecycle.imageverbs import update_images

    if bool(args.images) == bool(args.all):
        raise UsageError("images update: name the IMAGEs, or --all")
    ctx = make_context(args)
    rows = update_images(ctx.paths, args.images, sayer(ctx))
    print_table(("IMAGE", "RESULT", "REASON"), [(r.name, r.result, r.reason or "") for r in rows])
    return 1 if any(r.result == "failed" for r in rows) else 0


def _inspect(args) -> int:
    from ..lifecycle.imageverbs import inspect_image

    ctx = make_context(args)
    image, review = inspect_image(ctx.paths, args.image)
    data = {**_image_json(ctx, image), "commit": image.commit,
            "layers": [{"digest": layer.digest, "size": layer.size} for layer in image.layers],
            "manifest": image.manifest, "config": image.config}
    data["privileges"] = [{"name": p.name, "detail": p.detail, "dangerous": p.dangerous}
                          for p in review.privileges]
    data["host-cannot-grant"] = list(review.unavailable)
    if args.json:
        print_json(data)
        return 0
    for key in ("id", "digest", "names", "created", "virtual_size", "type", "commit"):
        value = data[key]
        if key == "names":
            value = ", ".join(value) or "<none>"
        elif key == "created":
            value = value or ""
        elif key == "virtual_size":
            value = f"{human_size(value)} ({value} bytes)"
        print(f"{key.replace('_', ' ').capitalize() + ':':<14}{value}")
    print("Layers:")
    for layer in image.layers:
        print(f"  {layer.digest}  {human_size(layer.size)}")
    if image.config_missing:
        print(f"Labels:       unknown: {MISSING_CONFIG} (`syscontainers pull` of the image fetches it)")
    else:
        print("Labels:" + ("" if image.labels else " none"))
    for k, v in sorted(image.labels.items()):
        print(f"  {k}={v}")
    _print_review(review)
    return 0


def _print_review(review) -> None:
    """What installing the image would ask of this host (docs/operations.md --allow)."""
    print("Privileges:" + (f" ({review.note})" if review.note else "")
          + ("" if review.privileges or review.note else " none"))
    for p in review.privileges:
        print(f"  {p.line()}")
    if review.unavailable:
        print("This host cannot grant: " + "; ".join(review.unavailable))


# --- writing verbs -------------------------------------------------------------------------

def _delete(args) -> int:
    from ..lifecycle.imageverbs import delete

    for name in delete(make_context(args).paths, args.images, args.force):
        print(f"Deleted {name}")
    return 0


def _tag(args) -> int:
    from ..lifecycle.imageverbs import tag

    dest = tag(make_context(args).paths, args.src, args.dest)
    print(f"Tagged {args.src} as {dest}")
    return 0


def _prune(args) -> int:
    from ..lifecycle.imageverbs import prune

    result = prune(make_context(args).paths, dry_run=args.dry_run)
    if args.json:
        print_json({"dry_run": args.dry_run, "leftovers": list(result.leftovers),
                    "refs": list(result.refs), "removed": list(result.removed),
                    "bytes_freed": result.bytes_freed})
        return 0
    verb = "Would remove" if args.dry_run else "Removed"
    for name in result.leftovers:
        print(f"{verb} deployments of uninstalled container {name}")
    for ref in result.refs:
        print(f"{verb} ref {ref}")
    for path in result.removed:
        print(f"{verb} {path}")
    print(f"{'Would reclaim' if args.dry_run else 'Reclaimed'} {human_size(result.bytes_freed)}")
    return 0


def _verify(args) -> int:
    from ..lifecycle.imageverbs import verify_image

    image, bad = verify_image(make_context(args).paths, args.image)
    label = image.name or image.id[:12]
    if not bad:
        print(f"{label}: every file matches its checksum")
        return 0
    print(f"{label}: {len(bad)} file{'s' if len(bad) != 1 else ''} changed since the pull:")
    for t in bad:
        print(f"  {t.path}  (layer {t.layer[:19]}, expected {t.expected[:12]}, found {t.actual[:12]})")
    return 1


def _info(args) -> int:
    from ..lifecycle.imageverbs import image_variables

    image, found = image_variables(make_context(args).paths, args.image)
    if args.json:
        print_json({"image": image.name or image.id, "id": image.id,
                    "defaults": {k: v for k, v in found.defaults.items() if k not in found.set_by_os},
                    "set_by_os": list(found.set_by_os),
                    "required": list(found.required),
                    "templates": {k: list(v) for k, v in found.templates.items()}})
        return 0
    print(f"Image {image.name or image.id[:12]}")
    if not found.templates:
        print("No templates in /exports: no variables.")
        return 0
    print("Variables with a default (override with --set NAME=VALUE):")
    for var, value in found.defaults.items() or [("(none)", "")]:
        print(f"  {var}" + (f" = {value}" if value else ""))
    print("Variables that must be set with --set NAME=VALUE:")
    for var in found.required or ("(none)",):
        print(f"  {var}")
    return 0
