"""`afetch_all`: a run inside an event loop never blocks it, and every way of leaving
stops the run as `close()` does."""

from __future__ import annotations

import asyncio
import time

import pytest

from fetcher import FetchRun, afetch_all
from tests.support.local import LocalServer


def slow_list(server: LocalServer, name: str, count: int, delay: float) -> list[str]:
    return [
        server.html(f"/arun/{name}/{n}", f"<title>{n}</title>", delay=delay) for n in range(count)
    ]


def test_the_loop_keeps_running_while_pages_download(server: LocalServer) -> None:
    urls = slow_list(server, "ticks", 8, 0.2)

    async def main() -> tuple[int, int]:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        count = 0
        async with afetch_all(urls, workers=2, per_host=0) as run:
            async for result in run:
                assert result.ok
                count += 1
        stop.set()
        await task
        return count, ticks

    count, ticks = asyncio.run(main())
    assert count == 8
    assert ticks >= 40  # 0.8 s of downloads: the loop ran all along


@pytest.mark.parametrize("how", ["break", "aclose", "cancel"])
def test_leaving_stops_the_run(server: LocalServer, how: str) -> None:
    fast = server.html(f"/arun/leave/{how}/fast", "<title>fast</title>")
    hang = server.add(f"/arun/leave/{how}/hang", hang=True)
    urls = [fast, *([hang] * 4), *([fast] * 50)]

    async def main() -> FetchRun:
        if how == "break":
            iterator = afetch_all(urls, workers=4, per_host=0, timeout=60)
            inner = iterator.run
            async for _ in iterator:
                break
            del iterator  # as leaving `async for _ in afetch_all(...)` drops it
            return inner
        run = afetch_all(urls, workers=4, per_host=0, timeout=60)
        if how == "aclose":
            await run.__anext__()
            await run.aclose()
        else:
            started = asyncio.Event()

            async def consume() -> None:
                async for _ in run:
                    started.set()

            task = asyncio.create_task(consume())
            await started.wait()
            server.wait_for(lambda s: s.active >= 4)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        return run.run

    started = time.monotonic()
    run = asyncio.run(main())
    deadline = time.monotonic() + 10
    while not run.closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert run.closed
    assert time.monotonic() - started < 10  # not the hanging pages' 60 s


def test_errors_of_the_run_reach_the_caller() -> None:
    def broken() -> object:
        yield "http://127.0.0.1:9/"
        raise RuntimeError("list broke")

    async def main() -> None:
        async for _ in afetch_all(broken(), retries=0):  # type: ignore[arg-type]
            pass

    with pytest.raises(RuntimeError, match="list broke"):
        asyncio.run(main())


def test_a_single_string_is_refused() -> None:
    with pytest.raises(TypeError):
        afetch_all("http://127.0.0.1/")
