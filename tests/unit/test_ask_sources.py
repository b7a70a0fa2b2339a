"""lifecycle.images.ask_sources: the sources of update --all / update --check --all asked at
once, each one once (docs/operations.md, "Updates: what is checked, --check, --offline, exit
codes"). The registry side is tests/integration/test_update_many.py."""

from __future__ import annotations

import threading

import pytest

from syscontainers.errors import SourceUnavailable
from syscontainers.lifecycle import images
from syscontainers.lifecycle.images import Access, RegistryFiles, ask_sources


def _access(n: int) -> Access:
    return Access(f"registry.example/img{n}:1", "docker")


def test_sources_are_asked_concurrently_each_once(monkeypatch):
    asked: list[str] = []
    both = threading.Barrier(2, timeout=10)    # broken (an error) unless two asks overlap

    def ask(access, creds=None, files=None):
        asked.append(access.reference)
        both.wait()
        return f"manifest of {access.reference}"

    monkeypatch.setattr(images, "ask_source", ask)
    keys = [(_access(n % 2), None, RegistryFiles()) for n in range(6)]
    answers = ask_sources(keys)
    assert sorted(asked) == ["registry.example/img0:1", "registry.example/img1:1"]
    assert answers.ask(_access(1)) == "manifest of registry.example/img1:1"


def test_one_source_that_cannot_be_asked_is_its_own_answer(monkeypatch):
    def ask(access, creds=None, files=None):
        if access == _access(0):
            raise SourceUnavailable("connection refused")
        return "fine"

    monkeypatch.setattr(images, "ask_source", ask)
    answers = ask_sources([(_access(n), None, RegistryFiles()) for n in range(3)])
    with pytest.raises(SourceUnavailable, match="^connection refused$"):
        answers.ask(_access(0))
    assert answers.ask(_access(2)) == "fine"


def test_at_most_at_once_asks_run_together(monkeypatch):
    running, peak, lock = [0], [0], threading.Lock()
    release = threading.Event()

    def ask(access, creds=None, files=None):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            if running[0] == 3:
                release.set()
        release.wait(10)
        with lock:
            running[0] -= 1
        return "m"

    monkeypatch.setattr(images, "ask_source", ask)
    ask_sources([(_access(n), None, RegistryFiles()) for n in range(12)], at_once=3)
    assert release.is_set() and peak[0] == 3


def test_a_source_not_asked_ahead_is_asked_then(monkeypatch):
    monkeypatch.setattr(images, "ask_source", lambda access, creds=None, files=None: "late")
    assert ask_sources([]).ask(_access(5), ("u", "p")) == "late"
