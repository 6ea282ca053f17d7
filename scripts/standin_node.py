"""A Dask worker preload that makes its fetch node a stand-in: no network, instant pages.

    dask worker ADDRESS --preload scripts/standin_node.py

Every URL the node gets "succeeds" at once with a 200 record, a 20,000-byte size and a
title, so a run measures fetcher's coordinator (the client process) and the nodes'
framing alone: how many URLs per second one client can drive (scripts/cluster_ceiling.py).
"""

from __future__ import annotations

from typing import Any

import fetcher._http.client as client
from fetcher._core.result import Attempt, FetchResult


class StandInFetcher:
    """Stands in for `PageFetcher` on a node: the same two methods, no requests."""

    def __init__(self, options: Any) -> None:
        self.options = options

    def attempt(self, url: str, deadline: float | None = None) -> Attempt:
        return Attempt(FetchResult(url, url, 200, "A stand-in page", 20_000, 0.0001, None))

    def abort(self) -> None:
        pass


client.PageFetcher = StandInFetcher  # type: ignore[misc,assignment]
