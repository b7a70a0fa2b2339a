"""CLI verbs: images (stub until implemented)."""


def register(sub) -> None:
    pass
