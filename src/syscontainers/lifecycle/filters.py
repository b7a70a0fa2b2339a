"""``-f/--filter KEY=VALUE`` of `list` (`containers list`) and `images list`, with atomic's keys
and its rule: the value is a case-insensitive substring of the field; several filters all
apply (docs/atomic-migration.md)."""

from __future__ import annotations

import time
from typing import Callable, Iterable, TypeVar

from ..errors import UsageError

T = TypeVar("T")


def _created(epoch: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch)) if epoch else ""


CONTAINER_FIELDS: dict[str, Callable] = {
    "container": lambda r: r.name,
    "image": lambda r: r.image,
    "command": lambda r: " ".join(r.command),
    "created": lambda r: _created(r.created),
    "state": lambda r: r.status,
    "runtime": lambda r: r.runtime,
    "backend": lambda r: "ostree",
}

IMAGE_FIELDS: dict[str, Callable] = {
    "repo": lambda i: " ".join(i.names),
    "id": lambda i: i.id,
    "type": lambda i: "ostree",           # atomic's backend column: every image here is one
    "created": lambda i: _created(i.created),
    "dangling": lambda i: "false" if i.names else "true",
}


def parse_filters(texts: Iterable[str], fields: dict[str, Callable]) -> list[tuple[Callable, str]]:
    """UsageError for a malformed filter or an unknown key (listing the known ones)."""
    out = []
    for text in texts:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise UsageError(f"--filter {text!r}: expected KEY=VALUE")
        if key not in fields:
            raise UsageError(f"--filter: unknown key {key!r} (known: {', '.join(fields)})")
        out.append((fields[key], value.lower()))
    return out


def apply(items: Iterable[T], filters: list[tuple[Callable, str]]) -> list[T]:
    return [item for item in items
            if all(value in str(field(item)).lower() for field, value in filters)]
