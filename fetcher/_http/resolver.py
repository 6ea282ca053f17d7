"""Name resolution on reused daemon threads, so that a lookup can be abandoned.

`socket.getaddrinfo` has no timeout and cannot be interrupted, so the worker that needs
an address never calls it itself: a resolver thread does, and the worker waits for the
answer only until its attempt's deadline or an abort. Starting a thread per lookup cost
about 140 µs of CPU (against about 10 µs for the lookup of a name in /etc/hosts,
`scripts/dns_cost.py`), paid at nearly every URL of a scan; the threads are therefore
kept, idle ones waiting for the next lookup, and leave after a minute without one. A
lookup that hangs holds its thread, never a worker: when no thread is idle, another
starts, so one slow resolver never delays the other names.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable

__all__ = ["RESOLVERS", "Resolver"]

_IDLE_SECONDS = 60.0  # an idle resolver thread leaves after this long without a lookup


class Resolver:
    """Daemon threads that run lookups (any callable) handed to `submit`."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every thread: in a forked child, none of them exists."""
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  # threads waiting for a job, or about to

    def submit(self, job: Callable[[], None]) -> None:
        """Run `job` on an idle thread, or on a new one if none is idle."""
        with self._lock:
            start = self._idle == 0
            if not start:
                self._idle -= 1  # that thread is claimed: it will take this job
        self._jobs.put(job)
        if start:
            threading.Thread(target=self._serve, name="fetcher-resolve", daemon=True).start()

    def _serve(self) -> None:
        jobs, lock = self._jobs, self._lock  # a fork's reset gives the child new ones
        while True:
            try:
                job = jobs.get(timeout=_IDLE_SECONDS)
            except queue.Empty:
                with lock:
                    if self._idle > 0:  # still counted idle, so no job was meant for it
                        self._idle -= 1
                        return
                continue  # claimed just now: its job is in the queue
            job()
            with lock:
                self._idle += 1


#: The process's resolver threads, shared by every fetcher in it.
RESOLVERS = Resolver()
if hasattr(os, "register_at_fork"):  # a forked child starts with no resolver threads
    os.register_at_fork(after_in_child=RESOLVERS.reset)
