"""Keeping the garbage collector's full passes short while a fetch node runs.

CPython's cyclic collector, in a full pass (its oldest generation), looks at every object
the process tracks, holding the GIL throughout. A Dask worker tracks some 75,000 objects
before a node starts (its own, distributed's, tornado's, the node's HTTP clients), and a
full pass over them took 48-77 ms on a 2-core machine under load: every thread of the
node stood still, and records waiting to be sent reached the client that much later (a
record is to reach it within 50 ms of finishing; `python scripts/cluster_delivery.py`).
Full passes come every run or so, as the run's own long-lived objects pile up.

So a node takes the objects that exist when it has started out of the collector's view
(`gc.freeze`) and puts them back when it ends (`gc.unfreeze`): full passes during the run
then look only at what the run made. Nothing leaks: a cycle among the older objects that
becomes garbage meanwhile is collected after the node ends. Nodes of concurrent runs in
one process share the freeze: the last to end thaws.
"""

from __future__ import annotations

import gc
import threading

__all__ = ["hold_old_objects", "release_old_objects"]

_lock = threading.Lock()
_holders = 0  # nodes running in this process that hold the freeze


def hold_old_objects() -> None:
    """Take every object tracked now out of the collector's passes, until the matching
    `release_old_objects` (the first holder freezes; later ones share its freeze)."""
    global _holders
    with _lock:
        if _holders == 0:
            gc.freeze()
        _holders += 1


def release_old_objects() -> None:
    """End a `hold_old_objects`; the last holder puts the objects back in the collector's
    oldest generation."""
    global _holders
    with _lock:
        if _holders == 0:
            return
        _holders -= 1
        if _holders == 0:
            gc.unfreeze()
