"""Run in each process of a local Dask cluster as it starts (a Dask preload).

A terminal's Ctrl-C goes to the whole process group, the cluster's processes included;
fetcher alone decides what it means (it stops the run in order and closes the cluster),
so they ignore it instead of dying with a `KeyboardInterrupt` traceback.
"""

from __future__ import annotations

import signal
import threading

if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
