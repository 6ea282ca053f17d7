"""Which executors the tests run, derived from the registry (never listed by hand)."""

from __future__ import annotations

import importlib.util

from fetcher import EXECUTORS

#: Executors that need no optional extra (the cluster tests take the others).
LOCAL = [name for name, spec in EXECUTORS.items() if spec.needs is None]
#: Executors whose pool survives a worker process's death, losing only its URLs.
ISOLATING = [name for name, spec in EXECUTORS.items() if spec.isolates_crashes]
#: Every executor whose optional extra is installed.
AVAILABLE = [
    name
    for name, spec in EXECUTORS.items()
    if spec.needs is None or importlib.util.find_spec(spec.needs) is not None
]
#: The two HTTP clients: the sync one (thread, process, hybrid) and the async one.
CLIENTS = ["thread", "async"]
