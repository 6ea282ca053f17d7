"""The asyncio executor: one event loop on a background thread, running the async client.

`submit` hands a URL to the loop and returns a `concurrent.futures.Future`, so the runner
treats it like any other pool: first-only, the window, retries, caps and output are the
same code. `workers` is the number of requests in flight at once: each runs in a slot
with its own transport (`fetcher._http.aclient.Slot`). A future is marked running only
once its request has a slot, so URLs still waiting for one can be cancelled, as with
`concurrent.futures` pools.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import Future

from .._core.errors import ExecutorError
from .._core.options import FetchOptions
from .._core.result import Attempt
from .._core.signals import signals_blocked
from .._http.aclient import AsyncFetcher, Slot
from .base import Pool

__all__ = ["AsyncPool"]

_CLOSE_SECONDS = 5.0


class AsyncPool:
    """An event loop on its own thread, running up to `workers` requests at once."""

    def __init__(self, options: FetchOptions) -> None:
        self._options = options
        self._loop = asyncio.new_event_loop()
        self._fetcher = AsyncFetcher(options)
        # A slot is a request that may run; each has its own transport, as each thread of
        # the thread pool does: one httpx pool serving many requests at once rechecks
        # every idle connection for every request (with a system call each), which at
        # 64 requests cost ten times the CPU of the requests themselves.
        self._free_slots: asyncio.LifoQueue[int] = asyncio.LifoQueue()
        for slot in range(options.workers):
            self._free_slots.put_nowait(slot)
        self._slots: dict[int, Slot] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        with signals_blocked():  # the loop thread and its helper threads leave signals alone
            self._thread = threading.Thread(target=self._run, name="fetcher-async", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def submit(self, url: str, deadline: float | None = None) -> Future[Attempt]:
        if self._loop.is_closed() or not self._thread.is_alive():
            raise RuntimeError("cannot submit to a pool that has stopped")
        future: Future[Attempt] = Future()
        self._loop.call_soon_threadsafe(self._start, url, deadline, future)
        return future

    def _start(self, url: str, deadline: float | None, future: Future[Attempt]) -> None:
        task = self._loop.create_task(self._attempt(url, deadline, future))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _attempt(self, url: str, deadline: float | None, future: Future[Attempt]) -> None:
        try:
            number = await self._free_slots.get()
        except asyncio.CancelledError:  # abandoned before it started
            future.cancel()
            raise
        try:
            if not future.set_running_or_notify_cancel():
                return  # cancelled while it waited for a slot
            slot = self._slots.get(number) or self._slots.setdefault(number, self._fetcher.slot())
            try:
                future.set_result(await self._fetcher.attempt(url, deadline, slot))
            except asyncio.CancelledError:  # the pool is being abandoned
                future.set_exception(RuntimeError("aborted"))
                raise
            except BaseException as exc:  # a bug: the runner turns it into an error record
                future.set_exception(exc)
        finally:
            self._free_slots.put_nowait(number)

    def shutdown(self) -> None:
        """End in order (the runner calls this once every URL has finished)."""
        self._stop(cancel=False)

    def abort(self) -> None:
        """End now: cancel every request, waiting or running."""
        self._stop(cancel=True)

    def alone(self) -> Pool | None:
        return None  # the loop's thread cannot die alone: a crash takes the whole process

    def fatal(self) -> ExecutorError | None:
        return None  # no worker process of its own can re-run the script

    def _stop(self, *, cancel: bool) -> None:
        if self._loop.is_closed():
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._close(cancel), self._loop).result(_CLOSE_SECONDS)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_CLOSE_SECONDS)
        if not self._thread.is_alive():
            self._loop.close()

    async def _close(self, cancel: bool) -> None:
        tasks = list(self._tasks)
        if cancel:
            for task in tasks:
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for slot in self._slots.values():
            await slot.aclose()
