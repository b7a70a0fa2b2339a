"""CLI verbs: containers (stub until implemented)."""


def register(sub) -> None:
    pass
