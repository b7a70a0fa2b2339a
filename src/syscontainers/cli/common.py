"""What every CLI module shares: the invocation context, argument types and output helpers.

Heavy modules (gi, OSTree) are imported inside handlers only, so `--help`/`--version` and
argument errors stay fast.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Iterable, Sequence

from ..errors import UsageError
from ..paths import Paths, decide_user_mode, resolve_paths


@dataclass(frozen=True)
class Context:
    paths: Paths
    quiet: bool
    json: bool = False

    @property
    def tty(self) -> bool:
        return sys.stdout.isatty()


def make_context(args) -> Context:
    user = decide_user_mode(args.system, args.user)
    paths = resolve_paths(user, checkout_flag=args.checkout_path, repo_flag=args.repo)
    return Context(paths=paths, quiet=args.quiet, json=getattr(args, "json", False))


def print_json(obj) -> None:
    import json

    json.dump(obj, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def print_table(headers: Sequence[str], rows: Iterable[Sequence[object]],
                heading: bool = True) -> None:
    rows = [[("" if c is None else str(c)) for c in r] for r in rows]
    widths = [len(h) for h in headers] if heading else [0] * len(headers)
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    if heading:
        print(fmt.format(*headers).rstrip())
    for r in rows:
        print(fmt.format(*r).rstrip())


def sayer(ctx: Context, progress_to_stderr: bool = False):
    """The ``say`` callback the lifecycle API reports through: warnings always on stderr;
    other lines on stdout (stderr when stdout carries --json or a container's own output);
    --quiet drops all but warnings."""
    def say(message: str) -> None:
        if message.startswith("warning"):
            print(message, file=sys.stderr, flush=True)
        elif not ctx.quiet:
            out = sys.stderr if (ctx.json or progress_to_stderr) else sys.stdout
            print(message, file=out, flush=True)
    return say


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"



def signature_policy_flag(p) -> None:
    """--signature-policy FILE on every verb that pulls (docs/operations.md, "Signatures and
    the trust policy")."""
    p.add_argument("--signature-policy", metavar="FILE",
                   help="containers trust policy (policy.json) to verify the image with "
                        "(default: the host's, /etc/containers/policy.json)")


def tls_bool(text: str) -> bool:
    """The argument type of --tls-verify."""
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    import argparse   # (not at the top: start/stop/status do without it, cli/__main__.py)

    raise argparse.ArgumentTypeError(f"expected true or false, not {text!r}")


def creds(text: str | None) -> tuple[str, str] | None:
    """--src-creds USER[:PASSWORD]; without a password, ask for it on the terminal (never
    echoed)."""
    if text is None:
        return None
    user, sep, password = text.partition(":")
    if not user:
        raise UsageError("--src-creds: expected USER[:PASSWORD]")
    if not sep:
        if not sys.stdin.isatty():
            raise UsageError("--src-creds: no password given and no terminal to ask for it")
        import getpass

        password = getpass.getpass(f"Password for {user}: ")
    return user, password


def truncate(text: str, width: int, full: bool) -> str:
    """A long column cut to ``width`` (ending in "...") unless --no-trunc."""
    return text if full or len(text) <= width else text[:width - 3] + "..."


def add_listing_options(p, what: str) -> None:
    """atomic's and podman's options of a listing: -a, -f, -n, --no-trunc, -q (its own -q
    prints only the names/IDs; the global -q before the verb still only quiets messages)."""
    p.add_argument("-a", "--all", action="store_true", help=f"all {what} (atomic's flag)")
    p.add_argument("-f", "--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="only rows whose KEY contains VALUE (case-insensitive; repeatable)")
    p.add_argument("-n", "--noheading", action="store_true", help="no heading line")
    p.add_argument("--no-trunc", action="store_true", help="do not shorten IDs and commands")
    p.add_argument("-q", "--quiet", dest="list_quiet", action="store_true",
                   help=f"only the {what}' names (IDs for images)")
    p.add_argument("--json", action="store_true")


def add_registry_options(p, recorded: bool = True) -> None:
    """How a pulling verb reaches a registry (docs/operations.md, "Registry credentials"):
    podman's and skopeo's flags. ``recorded``: install/update keep them with the container."""
    keep = " (recorded for update)" if recorded else ""
    p.add_argument("--tls-verify", type=tls_bool, default=True, metavar="true|false",
                   help=f"verify the registry's TLS certificate (default true){keep}")
    p.add_argument("--src-creds", "--creds", dest="src_creds", metavar="USER[:PASSWORD]",
                   help="registry credentials (never stored; only that they were given)")
    p.add_argument("--authfile", metavar="FILE",
                   help=f"the containers auth file to read (default: skopeo's){keep}")
    p.add_argument("--cert-dir", metavar="DIR",
                   help=f"client certificates and CAs for the registry{keep}")


def registry_files(args):
    """--authfile / --cert-dir as the lifecycle takes them."""
    from ..lifecycle.images import RegistryFiles
    return RegistryFiles(args.authfile, args.cert_dir)

