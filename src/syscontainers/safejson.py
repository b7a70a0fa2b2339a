"""JSON from files we do not control (image exports, info files, config.json), parsed safely.

``json.loads`` alone turns hostile input into crashes instead of one-line errors: nesting
100 000 levels deep raises RecursionError (and a few hundred levels still break the code that
walks the result), a 5000-digit number raises a bare ValueError (Python's int size limit), and a
``\\udc80`` escape yields a string that cannot be written to any file. :func:`loads` turns each
into a :class:`~syscontainers.errors.ConfigError` "invalid JSON in WHAT: ..." (see
docs/operations.md, "Errors and broken state").
"""

from __future__ import annotations

import json
import re

from .errors import ConfigError

MAX_DEPTH = 100   # far beyond any real config.json or manifest.json

# The fast path of :func:`loads` (docs/performance.md, "Where the time goes": `list` parses
# two files per container): a lone surrogate can only come from a ``\\uD800``-``\\uDFFF``
# escape (or be in ``text`` already), and the nesting depth is that of the brackets outside
# strings; only a text that may hold either problem gets the walk over every parsed value.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def loads(text: str | bytes, what: str, error=ConfigError,
          message: str = "invalid JSON in {what}: {why}"):
    """Parse ``text``; when it is bad, raise ``error`` (a SysContainersError class) with
    ``message`` naming ``what`` and why."""
    def fail(why: str):
        return error(message.format(what=what, why=why))

    try:
        value = json.loads(text)
    except RecursionError:
        raise fail("too deeply nested") from None
    except json.JSONDecodeError as e:
        raise fail(f"{e.msg} at line {e.lineno} column {e.colno}") from None
    except ValueError as e:   # e.g. "Exceeds the limit (4300 digits) for integer string ..."
        raise fail(str(e)) from None
    problem = check_value(value) if _may_be_unusable(text) else None
    if problem:
        raise fail(problem)
    return value


def _may_be_unusable(text: str | bytes) -> bool:
    """False when ``text`` (valid JSON) surely parses to a usable value: no surrogate (raw or
    escaped) and brackets nested at most :data:`MAX_DEPTH` deep. True: ask :func:`check_value`."""
    if isinstance(text, bytes):
        if not text.isascii():      # json.loads decodes bytes with "surrogatepass"
            return True
        text = text.decode("ascii")
    elif not is_utf8(text):
        return True
    if _SURROGATE_ESCAPE.search(text):
        return True
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    depth = 0
    for bracket in _NOT_BRACKET.sub("", _STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > MAX_DEPTH:
            return True
    return False


def check_value(value) -> str | None:
    """Why ``value`` (parsed JSON) is unusable, or None: nested deeper than :data:`MAX_DEPTH`,
    or a string (key or value) that is not valid Unicode (a lone surrogate). Iterative, so it
    cannot itself run out of stack."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                return f"too deeply nested (more than {MAX_DEPTH} levels)"
            children = item.items() if isinstance(item, dict) else ((None, v) for v in item)
            for key, child in children:
                if isinstance(key, str) and not is_utf8(key):
                    return f"the key {key!r} is not valid Unicode (a lone surrogate)"
                stack.append((child, depth + 1))
        elif isinstance(item, str) and not is_utf8(item):
            return f"the string {item[:40]!r} is not valid Unicode (a lone surrogate)"
    return None


def is_utf8(s: str) -> bool:
    """Whether ``s`` can be written as UTF-8 (no lone surrogates)."""
    try:
        s.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False
