"""The command line: the only layer that imports typer and tqdm.

`app` is the typer application; `main` is the console script's entry point (see
`entry`, which sets up signals and the standard descriptors before importing `app`).
"""

from __future__ import annotations

from .entry import main

__all__ = ["main"]
