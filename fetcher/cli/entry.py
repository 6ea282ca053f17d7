"""The console script's entry point: signals first, then the command line.

Importing the command line (typer and its dependencies) takes tens of milliseconds; a
Ctrl-C or SIGTERM meanwhile must end the program quietly, as one a moment earlier would
have, not with a traceback from wherever the import happened to be.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

__all__ = ["main", "quit_quietly"]


def quit_quietly(signum: int, frame: object) -> None:
    """Exit at once with the status of the signal (130 for Ctrl-C, 143 for SIGTERM)."""
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os._exit(143 if signum == signal.SIGTERM else 130)


def main() -> None:
    """Console-script entry point."""
    signal.signal(signal.SIGINT, quit_quietly)  # until a command takes them over
    signal.signal(signal.SIGTERM, quit_quietly)
    from .env import guard_standard_fds

    guard_standard_fds()
    from .app import app

    app()
