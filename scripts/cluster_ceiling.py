"""How many URLs a second can one fetcher client drive on a Dask cluster? The coordinator
ceiling, measured with stand-in nodes: no network, every page "done" at once.

Starts a `dask scheduler` and `dask worker --nworkers N --nthreads T` whose fetch nodes
are stand-ins (`--preload scripts/standin_node.py`: the same node, framing and batching,
with a page fetcher that answers at once), then runs the installed `fetcher -e dask` on a
large and a small list of URLs over H hosts (never contacted), alternating, and reports:
the marginal URLs/s (the extra URLs of the large run over its extra time: start-up
excluded), the client's marginal CPU per URL (fetcher's process, from its rusage), and
the client's share of one core while the large run goes on. The client's CPU per URL
is the figure that says how many machines one client can keep busy.

    python scripts/cluster_ceiling.py --urls 200000 --nodes 2 --threads 8

With `--rate R` (fetcher's `--rate`) the client's cost is measured at that URL rate
instead: many nodes at a modest rate each send small frames every 40 ms, and comparing
`--nodes` at one rate gives what a node's frames cost the client.

With `--parts` the nodes write the records themselves (`--parts DIR`, a new folder each
run): the client then handles a record's outcome only, not its line.

With `--tree NAME=DIR` (repeatable) the runs alternate between the fetcher of each source
tree (`PYTHONPATH=DIR`; the installed one is not run): an A/B of two commits in the same
minutes, since this machine's figures drift by a third between hours. The nodes are the
installed fetcher's in every case.

    git worktree add /tmp/before HEAD~1
    python scripts/cluster_ceiling.py --rate 2000 --nodes 8 --tree before=/tmp/before --tree after=.

Everything is on 127.0.0.0/8; the 2 cores of this machine are shared by the client, the
scheduler and the stand-in nodes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cluster_scale import FETCHER
from cluster_scale import start_cluster as start_scale_cluster

STANDIN = Path(__file__).with_name("standin_node.py")


def start_cluster(args: argparse.Namespace) -> tuple[str, list[subprocess.Popen[bytes]]]:
    """`cluster_scale.start_cluster` with stand-in nodes."""
    return start_scale_cluster(args, preload=(str(STANDIN),))


def write_list(path: Path, count: int, hosts: int) -> None:
    with path.open("w") as out:
        for number in range(count):
            host = number % hosts
            out.write(f"http://127.1.{host // 256}.{host % 256}:8080/page/{number}\n")


def run_once(
    listing: Path, args: argparse.Namespace, address: str, tree: str | None = None
) -> tuple[float, float]:
    """One run (of the fetcher in source tree `tree`, if given): wall seconds and the
    client's CPU seconds."""
    command = [FETCHER, str(listing), "-e", "dask", "--scheduler", address]
    command += ["-w", str(args.workers), "--per-host", "0", "--retries", "0"]
    command += ["-q"]
    if args.parts:  # the nodes write the records (a new folder each run, removed after)
        folder = Path(tempfile.mkdtemp(prefix="fetcher-ceiling-parts-")) / "parts"
        command += ["--parts", str(folder)]
    else:
        command += ["-f", "jsonl", "-o", os.devnull]
    if args.rate is not None:
        command += ["--rate", f"{args.rate:g}"]
    started = time.perf_counter()
    env = None if tree is None else dict(os.environ, PYTHONPATH=str(Path(tree).resolve()))
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if args.parts:
        shutil.rmtree(folder.parent)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)}: exit {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--urls", type=int, default=200_000, help="URLs in the large run")
    parser.add_argument("--hosts", type=int, default=4096)
    parser.add_argument("--nodes", type=int, default=2, help="Dask worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker")
    parser.add_argument("-w", "--workers", type=int, default=1024, help="fetcher's -w")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rate", type=float, help="fetcher's --rate (default: none)")
    parser.add_argument(
        "--parts", action="store_true", help="the nodes write the records (--parts DIR)"
    )
    parser.add_argument(
        "--tree", action="append", metavar="NAME=DIR", default=[],
        help="run the fetcher of this source tree, alternating with the other trees",
    )  # fmt: skip
    args = parser.parse_args()
    trees: dict[str, str | None] = {"installed": None}
    if args.tree:
        if not all("=" in tree for tree in args.tree):
            parser.error("--tree takes NAME=DIR")
        trees = dict(tree.split("=", 1) for tree in args.tree)
    small = max(1, args.urls // 10)
    with tempfile.TemporaryDirectory(prefix="fetcher-ceiling-") as temporary:
        lists = {count: Path(temporary) / f"urls-{count}.txt" for count in (args.urls, small)}
        for count, path in lists.items():
            write_list(path, count, args.hosts)
        address, cluster = start_cluster(args)
        runs: dict[tuple[str, int], list[tuple[float, float]]] = {}
        try:
            for _ in range(args.repeat):
                for name, tree in trees.items():
                    for count, path in lists.items():
                        run = run_once(path, args, address, tree)
                        runs.setdefault((name, count), []).append(run)
                        print(f"  {name} {count}: {run[0]:.2f}s", file=sys.stderr)
        finally:
            for process in cluster:
                process.terminate()
            os.killpg(cluster[1].pid, 9)
    print(
        f"{args.urls:,} and {small:,} URLs over {args.hosts:,} hosts; {args.nodes} stand-in "
        f"nodes x {args.threads} threads; -w {args.workers}"
        f"{'' if args.rate is None else f'; --rate {args.rate:g}'}"
        f"{'; --parts' if args.parts else '; -f jsonl -o /dev/null'}; medians of {args.repeat}; "
        f"{os.cpu_count()} cores"
    )
    extra = args.urls - small
    for name in trees:
        report(name if args.tree else "", runs[name, args.urls], runs[name, small], extra)


def report(
    name: str, large: list[tuple[float, float]], small: list[tuple[float, float]], extra: int
) -> None:
    """One tree's line: marginal URLs/s and client CPU a URL, from medians."""
    wall, cpu = (statistics.median(run[i] for run in large) for i in (0, 1))
    wall_small, cpu_small = (statistics.median(run[i] for run in small) for i in (0, 1))
    per_url = (cpu - cpu_small) / extra
    print(
        f"{name + ': ' if name else ''}marginal {extra / (wall - wall_small):,.0f} URLs/s; "
        f"client {per_url * 1e6:.0f} us of CPU per URL (marginal), "
        f"{cpu / wall:.0%} of a core during the large run ({wall:.2f} s); "
        f"at 20,000 URLs/s: {20_000 * per_url:.0%} of a core"
    )


if __name__ == "__main__":
    main()
