"""`afetch_all`: a `FetchRun` for code already inside an asyncio event loop.

The run itself is the same `FetchRun` on the same executors; a thread of its own (the
pump) iterates it and hands each record to the loop with `call_soon_threadsafe`, so
nothing the run does (starting a pool, waiting on futures, closing a cluster) can block
the caller's loop. The pump takes a record only when the loop has room for it
(`_BUFFER` records at most wait in between), so a slow consumer slows the hand-over, not
the memory.

Stopping: `aclose()` (and leaving `async with`) asks the pump to stop and waits, without
blocking the loop, until the run is closed as `FetchRun.close()` closes it. Leaving an
`async for` early (`break`), cancelling the task that iterates, or dropping the object
asks the pump to stop without waiting. The pump is woken with `FetchRun.interrupt()`,
the one call a run takes from another thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

from .._core.result import FetchResult
from .runner import FetchRun

__all__ = ["AsyncFetchRun"]

_BUFFER = 16  # records handed to the loop and not yet taken by the consumer
_END = object()  # the pump's last message: the run is closed


class _Pump:
    """The thread that iterates the run and hands its records to the loop. It holds no
    reference to the `AsyncFetchRun`, so that one is dropped (and stops the run) as soon
    as its consumer lets go of it."""

    def __init__(self, run: FetchRun, loop: asyncio.AbstractEventLoop) -> None:
        self.run = run
        self.loop = loop
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.credits = threading.Semaphore(_BUFFER)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.pump, name="fetcher-afetch", daemon=True)

    def stop(self) -> None:
        """Ask the run to stop, without waiting (safe from any thread)."""
        if not self.stopping.is_set():
            self.stopping.set()
            self.credits.release()  # a pump waiting for room wakes and sees the stop
            self.run.interrupt()  # a pump waiting for a record wakes too

    def pump(self) -> None:
        """Iterate the run on this thread, handing each record to the loop."""
        run = self.run
        try:
            while self.credits.acquire() and not self.stopping.is_set():
                try:
                    self._call(self.queue.put_nowait, next(run))
                except StopIteration:
                    break
                except KeyboardInterrupt:  # interrupt(): the stop asked for
                    if self.stopping.is_set():
                        break
                    raise
        except BaseException as exc:  # the run failed: the consumer gets the error
            self._call(self.queue.put_nowait, exc)
        finally:
            run.close()
            self._call(self.queue.put_nowait, _END)
            self._call(self._set_closed)

    def _call(self, function: Any, *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            self.loop.call_soon_threadsafe(function, *args)

    def _set_closed(self) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class AsyncFetchRun(AsyncIterator[FetchResult]):
    """An async iterator over a run's records, in completion order (see the module).

    `async with afetch_all(...) as run:` closes the run deterministically on leaving;
    a plain `async for` that breaks stops it when the iterator is dropped.
    """

    def __init__(self, run: FetchRun) -> None:
        self.run = run
        self._pump: _Pump | None = None
        self._ended = False

    def __aiter__(self) -> AsyncFetchRun:
        return self

    async def __anext__(self) -> FetchResult:
        if self._ended:
            raise StopAsyncIteration
        pump = self._start()
        try:
            item = await pump.queue.get()
        except BaseException:  # cancelled: the iteration is over, so is the run
            self.stop()
            raise
        if item is _END:
            self._ended = True
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            self._ended = True
            self.stop()
            raise item
        pump.credits.release()
        result: FetchResult = item
        return result

    def stop(self) -> None:
        """Ask the run to stop, without waiting for it (safe from any thread)."""
        self._ended = True
        if self._pump is not None:
            self._pump.stop()
        else:
            self.run.close()  # never started: nothing is running

    async def aclose(self) -> None:
        """Stop the run and wait (without blocking the loop) until it is closed."""
        self.stop()
        if self._pump is not None:
            await asyncio.shield(self._pump.closed)

    async def __aenter__(self) -> AsyncFetchRun:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            if self._pump is not None:
                self._pump.stop()

    def _start(self) -> _Pump:
        if self._pump is None:
            self._pump = _Pump(self.run, asyncio.get_running_loop())
            self._pump.thread.start()
        return self._pump
