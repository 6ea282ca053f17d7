"""The hosts `fetcher serve` answers as: loopback addresses, TLS, and hosts that fail.

A real scan meets a new host at nearly every URL, and some of them are dead, refusing or
slow. All of 127.0.0.0/8 is the loopback interface on Linux, so one server process can
be thousands of hosts: one listening socket per address, all on one port. With
`failures`, a seeded share of the hosts misbehave, as a scan's hosts do:

- **hang**: accepts the connection and never says a byte (not even the TLS handshake);
- **refuse**: nothing listens there, so a connection is refused at once;
- **slow**: answers every request, but only after `slow_ms`.

The first host always answers: the server's stats (`/_fetcher/stats`) are read there.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass

__all__ = ["FAILURE_KINDS", "MAX_HOSTS", "Hosts", "host_addresses"]

#: The most loopback addresses `--hosts` takes (127.0.1.1 to 127.0.250.250).
MAX_HOSTS = 250 * 250

#: How a failing host misbehaves, in the order they are drawn.
FAILURE_KINDS = ("hang", "refuse", "slow")


def host_addresses(hosts: int) -> list[str]:
    """The loopback addresses `serve` listens on for `hosts` origins (1: 127.0.0.1)."""
    if hosts <= 1:
        return ["127.0.0.1"]
    if hosts > MAX_HOSTS:
        raise ValueError(f"hosts must be from 1 to {MAX_HOSTS}, not {hosts}")
    return [f"127.0.{1 + i // 250}.{1 + i % 250}" for i in range(hosts)]


@dataclass(frozen=True, slots=True)
class Hosts:
    """How many hosts, whether they speak TLS, and which of them fail, and how.

    `hang_rate`, `refuse_rate` and `slow_rate` are shares of all hosts (rounded; the
    first host never fails), drawn with `seed`.
    """

    count: int = 1
    tls: bool = False
    hang_rate: float = 0.0
    refuse_rate: float = 0.0
    slow_rate: float = 0.0
    slow_ms: float = 5000.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_HOSTS:
            raise ValueError(f"hosts must be from 1 to {MAX_HOSTS}, not {self.count}")
        rates = (self.hang_rate, self.refuse_rate, self.slow_rate)
        if not all(math.isfinite(rate) and 0 <= rate <= 1 for rate in rates):
            raise ValueError("failure rates must be from 0 to 1")
        if sum(rates) > 1:
            raise ValueError("failure rates add up to more than 1")
        if any(rates) and self.count < 2:
            raise ValueError("failing hosts need --hosts 2 or more (the first always answers)")
        if not (math.isfinite(self.slow_ms) and 0 <= self.slow_ms <= 3_600_000):
            raise ValueError(f"slow delay must be from 0 to 3600000 ms, not {self.slow_ms}")

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    def addresses(self) -> list[str]:
        """Every host's address, failing ones included, in URL-list order."""
        return host_addresses(self.count)

    def kinds(self) -> list[str]:
        """Each host's behaviour, by position: "ok" or one of `FAILURE_KINDS`."""
        kinds = ["ok"] * self.count
        rng = random.Random(self.seed)
        candidates = list(range(1, self.count))
        rng.shuffle(candidates)
        start = 0
        for kind, rate in zip(
            FAILURE_KINDS, (self.hang_rate, self.refuse_rate, self.slow_rate), strict=True
        ):
            number = min(round(rate * self.count), len(candidates) - start)
            for position in candidates[start : start + number]:
                kinds[position] = kind
            start += number
        return kinds

    def describe(self, first: str = "") -> str:
        """What the hosts are, for people ("" for one plain host that never fails);
        `first`: the first host's address and port."""
        parts = []
        if self.count > 1:
            parts.append(f"on {self.count} hosts" + (f" from {first}" if first else ""))
        if self.tls:
            parts.append("TLS")
        counts = Counter(self.kinds())
        failing = [f"{counts[kind]} {kind}" for kind in FAILURE_KINDS if counts[kind]]
        if failing:
            parts.append("failing: " + ", ".join(failing) + f" (slow: {self.slow_ms:g} ms)")
        return ", ".join(parts)
