"""The ``slidemap`` console script and ``python -m slidemap``: the command line, loaded
inside a ``try``.

Loading the command line (click, every command's module) takes a few tenths of a
second; a Ctrl-C then would end in a ``KeyboardInterrupt`` traceback, since
:func:`slidemap.cli.main` is not running yet to turn it into ``slidemap:
aborted``. This module imports nothing but the standard library, so the window
left is Python's own start-up.
"""

from __future__ import annotations

import signal
import sys


def main() -> int:
    """Run :func:`slidemap.cli.main` on ``sys.argv``; a Ctrl-C while it loads ends with
    ``slidemap: aborted`` and exit code 130, as one during the command does."""
    try:
        from slidemap.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("slidemap: aborted\n")
        return 128 + signal.SIGINT
    return run()
