"""Running the command line as if an optional extra were not installed."""

from __future__ import annotations

import subprocess
import sys


def fetcher_without(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`fetcher ARGS` in a fresh interpreter where importing `module` fails (as if its
    extra were not installed), its output captured."""
    code = (
        f"import sys; sys.modules[{module!r}] = None\n"  # an import of it raises ImportError
        f"from fetcher.cli import main; sys.argv = ['fetcher', *{list(args)!r}]; main()"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
