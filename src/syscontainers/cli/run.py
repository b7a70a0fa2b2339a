"""CLI verbs: run (stub until implemented)."""


def register(sub) -> None:
    pass
