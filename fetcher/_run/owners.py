"""Hosts have owners: which fetch node of a cluster run fetches each origin.

An origin (`scheme://host:port`) hashes to one of `PARTITIONS` partitions, and each
partition belongs to the live node of highest rendezvous weight, so all URLs of a host
go to one node (its `--per-host` cap and its kept-alive connections are local), and a
node leaving moves only the partitions it had.
"""

from __future__ import annotations

import hashlib
import zlib

from .._core.urls import origin_of

__all__ = ["PARTITIONS", "owners", "partition_of"]

#: Origins hash to this many partitions; partitions, not origins, move between nodes.
PARTITIONS = 1024


def partition_of(url: str) -> int:
    """The partition of `url`'s origin (`scheme://host:port`; the line itself if none)."""
    origin = origin_of(url) or url
    return zlib.crc32(origin.encode("utf-8", "surrogatepass")) % PARTITIONS


def owners(nodes: list[str]) -> list[str]:
    """The node owning each partition: the one of highest rendezvous weight, so that a
    node leaving moves only the partitions it had."""
    if not nodes:
        return []
    return [max(nodes, key=lambda node: _weight(node, p)) for p in range(PARTITIONS)]


def _weight(node: str, partition: int) -> int:
    """Rendezvous weight of `node` for `partition`: the highest weight owns it."""
    digest = hashlib.blake2b(f"{node}\0{partition}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")
