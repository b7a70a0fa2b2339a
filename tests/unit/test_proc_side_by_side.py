"""proc.side_by_side: two independent questions at once, errors not lost (used by install's
name check and the switch, docs/performance.md "Install and update against podman")."""

from __future__ import annotations

import threading

import pytest

from syscontainers.errors import CommandError
from syscontainers.proc import side_by_side


def test_both_run_at_the_same_time_and_both_values_come_back():
    meet = threading.Barrier(2, timeout=30)   # broken unless the two calls overlap
    assert side_by_side(lambda: meet.wait() * 0 + 1, lambda: meet.wait() * 0 + 2) == (1, 2)


@pytest.mark.parametrize("failing", ["first", "second"])
def test_an_error_of_either_is_raised_after_both_ended(failing):
    ended = []

    def call(which: str):
        ended.append(which)
        if which == failing:
            raise CommandError(f"{which} failed")
        return which

    with pytest.raises(CommandError, match=f"{failing} failed"):
        side_by_side(lambda: call("first"), lambda: call("second"))
    assert sorted(ended) == ["first", "second"]
