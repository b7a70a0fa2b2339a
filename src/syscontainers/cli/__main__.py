"""Entry point: parse, call the API, print, map errors to exit codes."""

from __future__ import annotations

import errno
import sys

from .. import __version__
from ..errors import SysContainersError

# Each verb group registers its sub-commands; order is the order shown in --help.
GROUPS = ("images", "containers", "run")
LOG_LEVELS = ("debug", "info", "warn")
# Verbs run often and expected as fast as systemctl (docs/performance.md "start, stop,
# status"): only their group's parsers are built and imported.
QUICK_VERBS = {"start": "containers", "stop": "containers", "status": "containers"}
QUICK_REGISTER = {"containers": "register_control"}   # group -> its function for quick verbs
_VALUE_OPTIONS = ("--checkout-path", "--repo", "--log-level")


def quick_group(argv: list[str]) -> str | None:
    """The one group a command line needs, when its verb is a quick one (the first word that
    is neither an option nor an option's value); None: build every group (help, errors)."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in _VALUE_OPTIONS:
            skip = True
        elif word in ("-h", "--help", "--version"):
            return None
        elif not word.startswith("-"):
            return QUICK_VERBS.get(word)
    return None


def quick_args(argv: list[str]):
    """The parsed arguments of the plainest quick command line — ``[--system|--user]
    [--checkout-path DIR] [--repo DIR] [-q] [--log-level L] start|stop|status NAME`` — without
    argparse (its import and parser building cost more than the rest of a start); None for
    anything else (argparse then parses it, and reports what is wrong)."""
    import types

    ns = types.SimpleNamespace(system=False, user=False, checkout_path=None, repo=None,
                               quiet=False, log_level="info")
    words = list(argv)
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
    if len(words) != 2 or words[0] not in QUICK_VERBS or words[1].startswith("-") or \
            any(v == "" for v in (ns.checkout_path, ns.repo)):
        return None
    from . import containers

    ns.verb, ns.name = words
    ns.func = {"start": containers._start, "stop": containers._stop,
               "status": containers._status}[words[0]]
    return ns


def build_parser(only: str | None = None):
    import argparse

    parser = argparse.ArgumentParser(
        prog="syscontainers",
        description="Run OCI images as host system services (OSTree storage, runc, systemd).",
    )
    parser.add_argument("--version", action="version", version=f"syscontainers {__version__}")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--system", action="store_true", help="system mode (root only; default for root)")
    mode.add_argument("--user", action="store_true", help="user mode (default for non-root)")
    parser.add_argument("--checkout-path", metavar="DIR", help="where deployments live")
    parser.add_argument("--repo", metavar="DIR", help="the OSTree repository to use")
    parser.add_argument("-q", "--quiet", action="store_true", help="print less")
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="info",
                        help="debug: print the stack of an error too; warn: only warnings and "
                             "errors (like --quiet); default info")
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND")
    sub.required = True
    import importlib

    for group in (only,) if only else GROUPS:
        module = importlib.import_module(f".{group}", __package__)
        getattr(module, QUICK_REGISTER[group] if only else "register")(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = quick_args(argv) or build_parser(quick_group(argv)).parse_args(argv)
    if args.log_level == "warn":
        args.quiet = True
    debug = args.log_level == "debug"
    try:
        return int(args.func(args) or 0)
    except SysContainersError as e:
        return _fail(str(e), e.exit_code, debug)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except OSError as e:
        return _fail(os_error_line(e), 1, debug)
    except RecursionError:
        return _fail("input nested too deeply to process", 1, debug)
    except Exception as e:   # a bug: still one line (docs/operations.md, "Errors and broken state")
        return _fail(f"internal error: {type(e).__name__}: {e} (run with --log-level debug "
                     "for the stack)", 70, debug)


def os_error_line(e: OSError) -> str:
    """One line for an OSError: the path(s), the reason and the errno name, e.g.
    ``/etc/systemd/system/x.service: Read-only file system (EROFS)``."""
    name = errno.errorcode.get(e.errno, str(e.errno)) if e.errno else ""
    reason = e.strerror or str(e)
    where = ": ".join(str(f) for f in (e.filename, e.filename2) if f is not None)
    hint = ""
    if e.errno in (errno.EACCES, errno.EPERM):
        hint = " (is this the right user, or the right --checkout-path/--repo?)"
    elif e.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = " (free some space or inodes; `syscontainers images prune` removes unused images)"
    return f"{where + ': ' if where else ''}{reason}{f' ({name})' if name else ''}{hint}"


def _fail(line: str, code: int, debug: bool) -> int:
    if debug:
        import traceback

        traceback.print_exc(file=sys.stderr)
    print(f"error: {line}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
