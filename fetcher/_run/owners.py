"""Hosts have owners: which fetch node of a cluster run fetches each origin.

An origin (`scheme://host:port`) hashes to one of `PARTITIONS` partitions, and each
partition belongs to one live node, so all URLs of a host go to one node (its
`--per-host` cap and its kept-alive connections are local).

A partition gets its owner when the run first meets it: the node with the fewest URLs
given so far for each of its threads. A fixed hash of partitions to nodes splits a
list of few hosts unevenly (64 hosts over 2 nodes: 36 and 28 is common, and the node
with more then works on alone at the end), and ignores that nodes may have different
thread counts. A node leaving frees only the partitions it had; each gets a new owner
the same way when it is next met.
"""

from __future__ import annotations

import zlib
from collections.abc import Hashable
from typing import Generic, TypeVar

from .._core.urls import origin_key, origin_of, remember

__all__ = ["PARTITIONS", "Owners", "partition_of"]

#: Origins hash to this many partitions; partitions, not origins, move between nodes.
PARTITIONS = 1024

Node = TypeVar("Node", bound=Hashable)


def partition_of(url: str) -> int:
    """The partition of `url`'s origin (`scheme://host:port`; the line itself if none)."""
    key = origin_key(url)
    if key is not None:
        try:
            return _PARTITION_OF[key]
        except KeyError:
            pass
    origin = origin_of(url)
    partition = zlib.crc32((origin or url).encode("utf-8", "surrogatepass")) % PARTITIONS
    if key is not None and origin is not None:  # (no origin: the line itself is hashed)
        remember(_PARTITION_OF, key, partition)
    return partition


#: The partitions of the origins met last, by `origin_key` (a list has many URLs a
#: host; finding the origin and hashing it cost a cluster client 1.1 us a URL).
_PARTITION_OF: dict[str, int] = {}


class Owners(Generic[Node]):
    """The owner of each partition among live nodes, each weighted by its threads.

    Not thread-safe: the cluster run calls it under its lock.
    """

    def __init__(self, threads: dict[Node, int]) -> None:
        self._table: list[Node | None] = [None] * PARTITIONS
        self._threads = {node: max(1, count) for node, count in threads.items()}
        self._given = dict.fromkeys(self._threads, 0)  # URLs given to each node so far

    def __bool__(self) -> bool:
        """Whether any node is left to own anything."""
        return bool(self._threads)

    def owner(self, partition: int) -> Node:
        """The node owning `partition` (given one now if it has none), counting one more
        URL given to it; `LookupError` if no node is left."""
        node = self._table[partition]
        if node is None:
            if not self._threads:
                raise LookupError("no node left")
            node = min(self._threads, key=lambda n: self._given[n] / self._threads[n])
            self._table[partition] = node
        self._given[node] += 1
        return node

    def remove(self, node: Node) -> None:
        """`node` is gone: its partitions get new owners when next met."""
        self._threads.pop(node, None)
        self._given.pop(node, None)
        self._table = [None if owner == node else owner for owner in self._table]
