"""`fetcher serve`'s site run in a thread of the test process, on real sockets."""

from __future__ import annotations

import asyncio
import threading

from fetcher.tools.certs import make_authority
from fetcher.tools.hosts import Hosts
from fetcher.tools.serve import Site, serve

__all__ = ["RunningSite"]


class RunningSite:
    """`serve(site)` on an event loop in a daemon thread, from start until `close()`."""

    def __init__(self, site: Site, hosts: int | Hosts = 1) -> None:
        self.site = site
        self.hosts = hosts if isinstance(hosts, Hosts) else Hosts(count=hosts)
        self.authority = make_authority(self.hosts.addresses()) if self.hosts.tls else None
        self.base = ""
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._stop = asyncio.Event()
            await serve(self.site, 0, self._on_ready, self._stop, self.hosts, self.authority)

        self._loop.run_until_complete(main())
        self._loop.close()

    def _on_ready(self, base: str) -> None:
        self.base = base
        self._ready.set()

    def urls(self) -> list[str]:
        return self.site.urls(self.base, self.hosts.count)

    def close(self) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
