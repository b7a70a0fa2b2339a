"""The site directories, for a command started without them.

The launcher ``scripts/write_launcher.py`` puts into the venv runs Python with ``-S``: the site
step (every ``.pth`` file of the venv and of the system's dist-packages) costs about as much
as a plain ``start`` does itself (docs/performance.md, "start, stop, status"), and the
start/stop/status paths need nothing outside the standard library and this package. Every
other command line calls :func:`ensure` first (cli/__main__.py), so that it runs with exactly
the ``sys.path`` of a normal start; and so does the one import from the system's
dist-packages, gi (the OSTree bindings, images/store/repo.py), whatever path reaches it.
"""

from __future__ import annotations

import sys

_done = False


def ensure() -> None:
    """Add the site directories now when the interpreter skipped them (``-S``); idempotent."""
    global _done
    if _done or not sys.flags.no_site:
        return
    _done = True
    import site

    site.main()
