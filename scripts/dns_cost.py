"""What name resolution costs fetcher's client, apart from the resolver's own wait.

    python scripts/dns_cost.py [--lookups 2000]

The scan benchmark (`fetcher bench --local --preset scan`) uses IP-literal URLs, which
skip name resolution; a real scan resolves every host. fetcher resolves a name in a
daemon thread of its own per lookup (`getaddrinfo` has no timeout, and the attempt's
deadline and an abort must be able to stop waiting for it). This measures, in this
process's CPU time (from /proc, via `time.process_time`), a lookup of `localhost`
(answered from /etc/hosts: no network, so only the client's own cost shows):

- inline: `socket.getaddrinfo` called directly, the least any client pays;
- fetcher: the same through fetcher's resolver (thread start, event, wait).

The difference is what the thread per lookup adds. The network's share (a resolver's
round trip, typically 1-50 ms of waiting, little CPU) is not measured here.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import time

from fetcher._http.network import Deadline, DeadlineBackend, LiveSockets


def _per_lookup(lookup: object, count: int) -> float:
    """Microseconds of this process's CPU per call of `lookup()` (median of 3 rounds)."""
    rounds = []
    for _ in range(3):
        started = time.process_time()
        for _ in range(count):
            lookup()  # type: ignore[operator]
        rounds.append((time.process_time() - started) / count * 1e6)
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lookups", type=int, default=2000)
    args = parser.parse_args()
    backend = DeadlineBackend(Deadline(), LiveSockets())
    inline = _per_lookup(lambda: socket.getaddrinfo("localhost", 443, type=1), args.lookups)
    threaded = _per_lookup(lambda: backend._resolve("localhost", 443), args.lookups)
    print(f"{args.lookups} lookups of localhost (from /etc/hosts), CPU per lookup, median of 3:")
    print(f"  inline getaddrinfo:        {inline:7.1f} us")
    print(f"  fetcher (thread a lookup): {threaded:7.1f} us  (+{threaded - inline:.1f} us)")


if __name__ == "__main__":
    main()
