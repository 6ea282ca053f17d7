"""An A/B of two source trees on a real Dask cluster, the nodes' side included.

`cluster_ceiling.py --tree` swaps the client only; a change to the fetch nodes needs
their workers to run the tree too. For each round this starts, for each tree in turn, a
`dask scheduler` and `dask worker --nworkers N --nthreads T` with `PYTHONPATH=DIR` (the
worker processes, and then the client, import fetcher from DIR), runs `fetcher LIST -e
dask -f jsonl -o /dev/null` on a large and a small list against one `fetcher serve`, and
stops the cluster: the trees alternate within minutes, since this machine's figures
drift between hours. It reports, from medians, the marginal pages/s and the CPU per URL
of the workers (from /proc) and of the client (fetcher's process).

    git worktree add /tmp/before HEAD~1
    python scripts/cluster_ab.py --tree before=/tmp/before --tree after=. --repeat 3

Everything is on 127.0.0.0/8; the machine's cores are shared by all of it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cluster_scale import FETCHER, cpu_of, start_cluster, start_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tree", action="append", metavar="NAME=DIR", default=[])
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--urls", type=int, default=32000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    args.hosts, args.latency_ms, args.size_kb = 64, 0, 20
    if len(args.tree) < 2 or not all("=" in tree for tree in args.tree):
        parser.error("give two or more --tree NAME=DIR")
    trees = dict(tree.split("=", 1) for tree in args.tree)
    runs: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
    small = args.urls // 10
    with tempfile.TemporaryDirectory() as folder:
        server, urls = start_server(args, Path(folder))
        lists = {args.urls: urls, small: Path(folder) / "small.txt"}
        lines = urls.read_text().splitlines(keepends=True)
        lists[small].write_text("".join(lines[:small]))
        try:
            for _ in range(args.repeat):
                for name, tree in trees.items():
                    for count, run in one_round(args, tree, lists).items():
                        runs.setdefault((name, count), []).append(run)
                        print(f"  {name} {count}: {run[0]:.2f}s, workers {run[1]:.2f}s, "
                              f"client {run[2]:.2f}s", file=sys.stderr)  # fmt: skip
        finally:
            server.terminate()
    print(f"{args.urls} and {small} URLs over 64 hosts, 0 ms latency, {args.nodes} x "
          f"{args.threads} threads, -f jsonl -o /dev/null; medians of {args.repeat}; "
          "trees in turn")  # fmt: skip
    for name in trees:
        large, few = runs[name, args.urls], runs[name, small]
        wall, workers, client = (
            statistics.median(r[i] for r in large) - statistics.median(r[i] for r in few)
            for i in range(3)
        )
        extra = args.urls - small
        print(f"{name}: marginal {extra / wall:,.0f} pages/s; CPU per URL: workers "
              f"{workers / extra * 1e6:,.0f} us, client {client / extra * 1e6:.0f} us")  # fmt: skip


def one_round(args: argparse.Namespace, tree: str, lists: dict[int, Path]) -> dict[int, Any]:
    """A cluster running `tree`: a warm-up, then each list once; (wall, workers' CPU,
    the client's CPU) in seconds."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(Path(tree).resolve())
    try:
        address, cluster = start_cluster(args)
        results = {}
        try:
            command = [FETCHER, "-e", "dask", "--scheduler", address, "-w",
                       str(args.nodes * args.threads), "--per-host", "0", "-q", "--retries",
                       "0", "--timeout", "30", "-f", "jsonl", "-o", os.devnull]  # fmt: skip
            warm = min(lists)
            subprocess.run([*command, str(lists[warm])], stderr=subprocess.DEVNULL)
            for count in sorted(lists, reverse=True):
                before, started = cpu_of(cluster[1].pid), time.perf_counter()
                client = subprocess.Popen([*command, str(lists[count])], stderr=subprocess.DEVNULL)
                usage = os.wait4(client.pid, 0)[2]
                wall = time.perf_counter() - started
                own = usage.ru_utime + usage.ru_stime
                results[count] = (wall, cpu_of(cluster[1].pid) - before, own)
        finally:
            for process in cluster:
                process.terminate()
            os.killpg(cluster[1].pid, 9)
        return results
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


if __name__ == "__main__":
    main()
