"""``--format json|table|TEMPLATE`` of the reading verbs (docs/json.md): the data a verb's
``--json`` gives, printed as JSON, as the verb's table, or through a Go-template subset, as
podman's ``--format`` does.

The template subset: literal text with ``\\t`` and ``\\n`` escapes; ``{{.Field}}`` and
``{{.Field.Sub}}`` (the JSON keys, snake_case, also written as podman does in PascalCase:
``{{.ImageId}}`` is ``image_id``); ``{{json .Field}}`` / ``{{json .}}``; ``{{upper .F}}``,
``{{lower .F}}``; ``{{join .List ","}}``. A ``table`` prefix prints a heading row first (the
field names, upper case). One line per item of a list; a single object is one line. An
unknown field is an error naming the fields there are (a typo must not print empty columns
into a script's input).
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

from ..errors import UsageError

_ACTION = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_ESCAPES = {"\\t": "\t", "\\n": "\n"}


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _lookup(data: Any, path: str) -> Any:
    if path == ".":
        return data
    value = data
    for part in path.lstrip(".").split("."):
        if not isinstance(value, dict):
            raise UsageError(f"--format: {path} names no field (a {type(value).__name__} has none)")
        key = part if part in value else _snake(part)
        if key not in value:
            raise UsageError(f"--format: no field {part!r} (there are: {', '.join(sorted(value))})")
        value = value[key]
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


_FUNCS: dict[str, Callable[..., str]] = {
    "json": lambda v: json.dumps(v, separators=(",", ":")),
    "upper": lambda v: _text(v).upper(),
    "lower": lambda v: _text(v).lower(),
    "join": lambda v, sep: sep.join(_text(x) for x in (v or [])),
}


def _action(expr: str, item: Any) -> str:
    words = re.findall(r'"[^"]*"|\S+', expr)
    if not words:
        raise UsageError("--format: an empty {{ }}")
    if words[0].startswith("."):
        if len(words) != 1:
            raise UsageError(f"--format: cannot read {{{{{expr}}}}}")
        return _text(_lookup(item, words[0]))
    func = _FUNCS.get(words[0])
    if func is None:
        raise UsageError(f"--format: unknown function {words[0]!r} (known: {', '.join(_FUNCS)})")
    args = [_lookup(item, w) if w.startswith(".") else w.strip('"') for w in words[1:]]
    try:
        return func(*args)
    except TypeError:
        raise UsageError(f"--format: wrong arguments to {words[0]} in {{{{{expr}}}}}") from None


def render(template: str, item: Any) -> str:
    for escape, char in _ESCAPES.items():
        template = template.replace(escape, char)
    return _ACTION.sub(lambda m: _action(m.group(1), item), template)


def heading(template: str) -> str:
    """The heading row of a ``table`` template: each field's last name, upper case."""
    def name(m: re.Match) -> str:
        fields = [w for w in m.group(1).split() if w.startswith(".")]
        return _snake(fields[-1].rsplit(".", 1)[-1]).upper() if fields and fields[-1] != "." else ""
    for escape, char in _ESCAPES.items():
        template = template.replace(escape, char)
    return _ACTION.sub(name, template)


def run_formatted(args, handler: Callable[[Any], int]) -> int:
    """Run a verb's handler under ``--format``: ``json`` is its ``--json``; ``table`` its
    usual output; a template is applied to what its ``--json`` prints (captured, parsed),
    so every verb with ``--json`` has ``--format`` and both always agree."""
    import contextlib
    import io

    fmt = args.format
    args.json = fmt != "table"
    if fmt in ("json", "table"):
        return handler(args)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = handler(args)
    try:
        data = json.loads(out.getvalue()) if out.getvalue().strip() else []
    except ValueError:
        raise UsageError("--format: this verb printed no JSON to format") from None
    items = data if isinstance(data, list) else [data]
    body = fmt
    if fmt.startswith("table "):
        body = fmt[len("table "):]
        print(heading(body).rstrip())
    for item in items:
        print(render(body, item))
    return code


def add_format_option(p) -> None:
    p.add_argument("--format", metavar="json|table|TEMPLATE",
                   help="json (as --json), table, or a Go template such as "
                        "'{{.Name}}\\t{{.Status}}' (docs/json.md)")
