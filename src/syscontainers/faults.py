"""Crash points for the crash-consistency tests.

``SYSCONTAINERS_CRASH_AT=<point>`` makes the process SIGKILL itself when it reaches that
point, exactly as a power loss or `kill -9` would stop it (no cleanup handlers run). Unset, a
point costs one dict lookup.
"""

from __future__ import annotations

import os
import signal


def point(name: str) -> None:
    if os.environ.get("SYSCONTAINERS_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
