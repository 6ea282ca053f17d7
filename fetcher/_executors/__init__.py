"""The executors: each module runs attempts in its own kind of pool (see `base.Pool`).

`make_pool` builds the pool the registry (`fetcher._core.executors`) names for
`options.executor`, importing its module only then.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from .._core.errors import ExecutorError
from .._core.executors import EXECUTORS
from .._core.options import FetchOptions
from .base import Pool

__all__ = ["Pool", "make_pool"]


def make_pool(options: FetchOptions) -> Pool:
    """The pool named by `options.executor`, sized by `options.workers`."""
    spec = EXECUTORS[options.executor]
    if spec.module is None or spec.pool is None:
        raise ExecutorError(f"the {spec.name} executor runs its own engine, not a pool")
    if "multiprocessing" in sys.modules:  # else this is no worker process of a pool
        from .processes import exit_if_importing_parent_main

        exit_if_importing_parent_main()  # a worker re-running a script without the guard
    module = importlib.import_module(f"{__name__}.{spec.module}")
    factory: Any = getattr(module, spec.pool)
    pool: Pool = factory(options)
    return pool
