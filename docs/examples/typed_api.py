"""The Python API as a type checker sees it: `.ci/run` checks this file with
`mypy --strict` against the installed package, which proves that fetcher ships its
types (py.typed) and that keyword options are typed (a misspelt one is an error)."""

from __future__ import annotations

import asyncio

from fetcher import FetchOptions, FetchResult, afetch_all, fetch_all, fetch_first


def titles(urls: list[str]) -> list[str | None]:
    with fetch_all(urls, workers=8, executor="thread", timeout=5.0, max_bytes=1 << 20) as run:
        return [result.title for result in run]


def first(urls: list[str]) -> FetchResult | None:
    return fetch_first(urls, FetchOptions(per_host=0), follow=False)


async def statuses(urls: list[str]) -> list[int | None]:
    async with afetch_all(urls, keep_body=True) as run:
        return [result.status async for result in run]


def misspelt(urls: list[str]) -> None:
    fetch_all(urls, wokers=8)  # type: ignore[call-arg]


if __name__ == "__main__":
    print(asyncio.run(statuses([])))
