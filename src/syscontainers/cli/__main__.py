"""Entry point: parse, call the API, print, map errors to exit codes."""

from __future__ import annotations

import errno
import os
import sys

from .. import sitedirs
from ..errors import SysContainersError
from .quick import quick_args


def build_parser(argv: list[str] | None = None):
    """Every verb's parser, or with ``argv`` its verb's group's (cli/commands.py); imported
    when a line needs it."""
    from .commands import build_parser as build
    return build(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = quick_args(argv, os.environ.pop("SYSCONTAINERS_EARLY", None))
    if args is None:           # not a plain line of cli/quick.py: the site directories first
        sitedirs.ensure()
        if argv[:1] == ["__complete"]:      # the completion scripts' question (cli/complete.py)
            from .discover import complete_words
            return complete_words(argv[1:])
        args = build_parser(argv).parse_args(argv)
    if args.log_level == "warn":
        args.quiet = True
    os.environ["SYSCONTAINERS_LOG_LEVEL"] = args.log_level     # proc.run prints commands at debug
    # the progress line of long steps (syscontainers/progress.py): only for a person watching
    on_terminal = sys.stdout.isatty() and sys.stderr.isatty()
    os.environ["SYSCONTAINERS_PROGRESS"] = "1" if on_terminal and not args.quiet and not (
        getattr(args, "json", False) or getattr(args, "format", None)) else "0"
    debug = args.log_level == "debug"
    try:
        if getattr(args, "format", None):
            from .formatting import run_formatted
            return int(run_formatted(args, args.func) or 0)
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
