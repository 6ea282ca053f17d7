"""How long after a fetch node has a record does it reach the client? Measure it.

A record is to reach the client at most 50 ms after it finishes: it waits at most 20 ms
at its node (`FLUSH_SECONDS`, a frame a tick of the nodes' grid) and at most 8 ms at the
client (its pace; after a frame it waits up to 4 ms for the other nodes' of the tick),
leaving 22 ms for the network and for threads late for a core or the GIL. This checks
what a real run delivers.
It starts `fetcher serve`, a `dask scheduler` and `dask worker --nworkers N --nthreads T`
(as `cluster_scale.py` does) with this file as the workers' preload, which notes the
time each record reaches its node's outbox (the node's runner hands it over) and the
time its frame is encoded to be sent; the client (`fetcher -e dask`, run by this file
with `--client`) notes when it takes each record from a frame. All on one machine, so
one clock (`time.time()`). Reported per run: the percentiles of outbox-to-client (and
its two parts: at the node, outbox to frame; after it, frame to client) and the share of
records over 50 ms; then, over all runs, how many records came later than that and the
slowest, the full passes of the garbage collector during the runs at the nodes and at
the client (each stops every thread of its process; a worker's own `gc.collect()`
counts too) with the longest, how many of the late records waited across one at their
node or at the client, and how many turns of its loop a second the client took frames
in (each busy node sends a frame a tick of the grid: one turn a tick is the fewest).

    python scripts/cluster_delivery.py --nodes 2 --threads 16 --latency-ms 0
    python scripts/cluster_delivery.py --nodes 2 --threads 32 --latency-ms 50

With `--nice N` the server and the workers run at niceness N, the client and the
scheduler first in line for a core, as if the nodes were on machines of their own: what
is then still late comes mostly from the nodes.

The time a record spends in the node's runner before the outbox, and in the client after
it is taken, is not counted: the figures are a lower bound of the delay. Everything is on
127.0.0.0/8; on a machine whose cores the nodes keep busy, every thread (a node's own,
the client) runs late at times, and the tail says by how much.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOG_ENV = "FETCHER_DELIVERY_LOG"  # the folder the nodes and the client write their times to


def _log_to(kind: str) -> Callable[..., None]:
    """A function noting (index, now) lines in `kind-PID.txt` of the log folder."""
    folder = Path(os.environ[LOG_ENV])
    lines: list[str] = []

    def note(indexes: list[int | None], flush: bool = False) -> None:
        now = time.time()
        lines.extend(f"{index} {now:.6f}\n" for index in indexes)
        if flush or len(lines) >= 500:
            with (folder / f"{kind}-{os.getpid()}.txt").open("a") as out:
                out.writelines(lines)
            lines.clear()

    return note


def _patch_node() -> None:
    """In a Dask worker (the preload): note records reaching the outbox and their frames."""
    from fetcher._run import node

    if getattr(node.Node, "_delivery_noted", False):  # a preload may run twice
        return
    post, write = node.Node._post, node.Node._write
    encode = node.encode_records  # type: ignore[attr-defined]
    posted, framed = _log_to("posted"), _log_to("framed")

    def noted_post(self: Any, record: Any) -> None:
        posted([record.index])
        post(self, record)

    def noted_encode(records: list[Any], status: dict[str, Any], lines: Any = None) -> bytes:
        framed([record.index for record in records])
        return encode(records, status, lines)

    def noted_write(self: Any, conn: Any) -> None:
        try:
            write(self, conn)
        finally:
            posted([], flush=True)
            framed([], flush=True)

    node.Node._post = noted_post  # type: ignore[method-assign]
    node.Node._write = noted_write  # type: ignore[method-assign]
    node.encode_records = noted_encode  # type: ignore[attr-defined]
    node.Node._delivery_noted = True  # type: ignore[attr-defined]
    _note_full_collections()


def _note_full_collections(kind: str = "collections") -> None:
    """Note (start, end) of each full pass of this process's garbage collector."""
    import gc

    ended = _log_to(kind)
    started = [0.0]

    def note(phase: str, info: dict[str, int]) -> None:
        if info["generation"] == 2:
            if phase == "start":
                started[0] = time.time()
            else:
                ended([f"{started[0]:.6f}"], flush=True)

    gc.callbacks.append(note)


def _run_client(arguments: list[str]) -> None:
    """`fetcher ARGUMENTS` in this process, noting when each record is taken."""
    import atexit

    from fetcher._run import cluster, links
    from fetcher.cli import main

    accept, taken = cluster.ClusterRun._accept, _log_to("taken")
    turn, turned, turns = links.LinkLoop.turn, _log_to("turns"), itertools.count()

    def noted_turn(self: Any, timeout: float) -> int:
        took = turn(self, timeout)
        if took:
            turned([next(turns)])  # numbered, as records are by their index
        return took

    def noted_accept(self: Any, link: Any, records: list[Any], lines: Any, message: Any) -> None:
        taken([record.index for record in records])
        accept(self, link, records, lines, message)

    cluster.ClusterRun._accept = noted_accept  # type: ignore[method-assign]
    links.LinkLoop.turn = noted_turn  # type: ignore[method-assign]
    _note_full_collections("client-collections")
    atexit.register(taken, [], True)
    atexit.register(turned, [], True)
    sys.argv = ["fetcher", *arguments]
    main()


def _noted(folder: Path, kind: str) -> Iterator[tuple[int, str, str]]:
    """The (process ID, first, second) of each line that processes noted in `kind`."""
    for path in folder.glob(f"{kind}-*.txt"):
        pid = int(path.stem.rsplit("-", 1)[1])
        for line in path.read_text().splitlines():
            first, second = line.split()
            yield pid, first, second


def _times(folder: Path, kind: str) -> dict[int, float]:
    """When each record (by index) was noted in `kind`."""
    return {int(i): float(at) for _, i, at in _noted(folder, kind) if i != "None"}


def _summary(delays: list[float]) -> dict[str, float]:
    ordered = sorted(delays)
    count = len(ordered)

    def at(share: float) -> float:
        return ordered[min(count - 1, int(share * count))]

    late = sum(delay > 50 for delay in ordered)
    return {
        "p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": ordered[-1],
        "over": late / count, "late": late, "count": count,
    }  # fmt: skip


def _senders(folder: Path) -> dict[int, int]:
    """The node (its process ID) each record was posted at, by index."""
    return {int(i): pid for pid, i, _ in _noted(folder, "posted") if i != "None"}


def _collections(folder: Path, kind: str = "collections") -> dict[int, list[tuple[float, float]]]:
    """The full collections (start, end) of each process (its ID) that noted them."""
    spans: dict[int, list[tuple[float, float]]] = {}
    for pid, began, ended in _noted(folder, kind):
        spans.setdefault(pid, []).append((float(began), float(ended)))
    return spans


def _late_causes(
    posted: dict[int, float],
    taken: dict[int, float],
    senders: dict[int, int],
    nodes: dict[int, list[tuple[float, float]]],
    client: list[tuple[float, float]],
) -> Counter[str]:
    """The records over 50 ms by what their wait spanned: a full collection at their
    node (`senders` says which), one at the client, or neither."""
    causes: Counter[str] = Counter()
    for index, came in taken.items():
        left = posted.get(index)
        if left is None or came - left <= 0.05:
            continue
        if _overlaps(nodes.get(senders.get(index, 0), []), left, came):
            causes["node"] += 1
        elif _overlaps(client, left, came):
            causes["client"] += 1
        else:
            causes["neither"] += 1
    return causes


def _overlaps(spans: list[tuple[float, float]], start: float, end: float) -> bool:
    return any(began < end and ended > start for began, ended in spans)


def _pauses(spans: dict[int, list[tuple[float, float]]], start: float, end: float) -> list[float]:
    """How long (ms) each of the collections that began within the run took."""
    return [(e - b) * 1000 for each in spans.values() for b, e in each if start <= b <= end]


@dataclass
class Measured:
    """One run's delays (summaries by part), its full collections (ms) at the nodes and
    at the client, its late records by cause, and the client's turns a second."""

    summaries: dict[str, dict[str, float]]
    node_pauses: list[float]
    client_pauses: list[float]
    causes: Counter[str]
    turns: float


def measure_once(args: argparse.Namespace, address: str, urls: Path) -> Measured:
    """One run of the client over `urls`."""
    logs = Path(os.environ[LOG_ENV])
    for old in logs.glob("*.txt"):
        old.unlink()
    command = [sys.executable, __file__, "--client", str(urls), "-e", "dask"]
    command += ["--scheduler", address, "-w", str(args.nodes * args.threads)]
    command += ["-q", "-f", "jsonl", "-o", os.devnull]
    subprocess.run(command, check=True)
    time.sleep(0.5)  # the nodes write their last times as their links end
    posted, framed, taken, turned = (
        _times(logs, kind) for kind in ("posted", "framed", "taken", "turns")
    )
    seen = [index for index in taken if index in posted and index in framed]
    start, end = min(posted.values()), max(taken.values())
    turns = sum(start <= moment <= end for moment in turned.values()) / (end - start)
    nodes, client = _collections(logs), _collections(logs, "client-collections")
    client_spans = [span for spans in client.values() for span in spans]
    return Measured(
        {
            "outbox to client": _summary([(taken[i] - posted[i]) * 1000 for i in seen]),
            "  at the node": _summary([(framed[i] - posted[i]) * 1000 for i in seen]),
            "  frame to client": _summary([(taken[i] - framed[i]) * 1000 for i in seen]),
        },
        _pauses(nodes, start, end),
        _pauses(client, start, end),
        _late_causes(posted, taken, _senders(logs), nodes, client_spans),
        turns,
    )


def main() -> None:
    if sys.argv[1:2] == ["--client"]:
        _run_client(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=2, help="Dask worker processes")
    parser.add_argument("--threads", type=int, default=16, help="threads per worker")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--hosts", type=int, default=64, help="origins the pages spread over")
    parser.add_argument("--urls", type=int, default=32000)
    parser.add_argument("--size-kb", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--nice", type=int, default=0,
        help="run the server and the workers at this niceness (the client first for a core)",
    )  # fmt: skip
    args = parser.parse_args()
    from cluster_scale import start_cluster, start_server

    with tempfile.TemporaryDirectory() as work:
        logs = Path(work, "times")
        logs.mkdir()
        os.environ[LOG_ENV] = str(logs)  # inherited by the workers and the client
        server, urls = start_server(args, Path(work))
        os.setpriority(os.PRIO_PROCESS, server.pid, args.nice)  # (one thread: asyncio)
        preload = (str(Path(__file__).resolve()),)
        address, processes = start_cluster(args, preload=preload, nice=args.nice)
        try:
            measured = [measure_once(args, address, urls) for _ in range(args.repeat)]
        finally:
            ending: list[subprocess.Popen[Any]] = [*processes, server]
            for process in ending:
                process.terminate()
            for process in ending:
                process.wait(30)
    niced = f"; the server and the workers at nice {args.nice}" if args.nice else ""
    print(
        f"{args.urls} URLs over {args.hosts} hosts, {args.latency_ms:g} ms latency, "
        f"{args.nodes} x {args.threads} threads{niced}; ms, medians of {args.repeat} runs"
    )
    print(f"{'':18s} {'p50':>6s} {'p90':>6s} {'p99':>6s} {'max':>6s}  over 50 ms")
    runs = [run.summaries for run in measured]
    for part in runs[0]:
        row = {key: statistics.median(run[part][key] for run in runs) for key in runs[0][part]}
        print(
            f"{part:18s} {row['p50']:6.1f} {row['p90']:6.1f} {row['p99']:6.1f} "
            f"{row['max']:6.1f}  {row['over']:.2%}"
        )
    whole = [run["outbox to client"] for run in runs]
    late, count = sum(int(run["late"]) for run in whole), sum(int(run["count"]) for run in whole)
    print(
        f"all {len(runs)} runs: {late:,} of {count:,} records over 50 ms ({late / count:.3%}); "
        f"slowest {max(run['max'] for run in whole):.1f} ms"
    )
    for where, field in (("nodes", "node_pauses"), ("client", "client_pauses")):
        pauses = [pause for run in measured for pause in getattr(run, field)]
        print(
            f"full collections at the {where} during the runs: {len(pauses)}"
            f", the longest {max(pauses, default=0.0):.1f} ms"
        )
    causes = sum((run.causes for run in measured), Counter())
    print(
        f"records over 50 ms whose wait spanned a full collection: {causes['node']:,} at their"
        f" node, {causes['client']:,} at the client; neither: {causes['neither']:,}"
    )
    turns = statistics.median(run.turns for run in measured)
    print(f"the client's turns that took frames: {turns:.1f} a second (median)")


if __name__ == "__main__":
    main()
else:
    _patch_node()  # imported as a Dask worker's preload
