"""Template substitution primitives (docs/templates.md), shared by render.py and hostfiles.py.

Python ``string.Template`` semantics, as atomic: ``$VAR`` and ``${VAR}`` are replaced, ``$$``
is a dollar; identifiers are ``[_a-zA-Z][_a-zA-Z0-9]*``. Substitution is purely textual.
"""

from __future__ import annotations

from string import Template
from typing import Mapping

from ..errors import TemplateError


def template_variables(text: str) -> set[str]:
    """Every variable a template mentions (``$$`` escapes excluded)."""
    names: set[str] = set()
    for match in Template.pattern.finditer(text):
        name = match.group("named") or match.group("braced")
        if name:
            names.add(name)
    return names


def render_template(text: str, values: Mapping[str, str], what: str) -> str:
    """Substitute ``values`` into ``text``; all or nothing.

    TemplateError naming ``what`` (the file) and every variable without a value, or the
    position of an invalid ``$`` (write ``$$`` for a literal dollar).
    """
    missing = sorted(template_variables(text) - set(values))
    if missing:
        names = ", ".join(missing)
        raise TemplateError(
            f"{what}: no value for {names}; give it with --set {missing[0]}=VALUE")
    try:
        return Template(text).substitute(values)
    except ValueError:
        line, col = _invalid_placeholder(text)
        raise TemplateError(
            f"{what}: invalid '$' at line {line} column {col} (write $$ for a dollar sign)"
        ) from None


def _invalid_placeholder(text: str) -> tuple[int, int]:
    for match in Template.pattern.finditer(text):
        if match.group("invalid") is not None:
            start = match.start()  # the "$" itself
            line = text.count("\n", 0, start) + 1
            col = start - (text.rfind("\n", 0, start) + 1) + 1
            return line, col
    return 0, 0
