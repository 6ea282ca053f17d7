"""`--per-host` holds across a Dask cluster: one origin, several nodes, the server counts.

    python scripts/cluster_per_host.py [--nodes 3] [--per-host 8] [--urls 2000]

Starts `fetcher serve` (one origin, 50 ms latency, so requests overlap), a `dask
scheduler` and `dask worker --nworkers N --nthreads 16` (more threads than the cap, on the
one node that owns the origin), runs the installed `fetcher -e dask --per-host P -w N*16`
on the list, then reads the server's stats (`/_fetcher/stats`): `max_active`, the most
requests it ever had at once, must not exceed P. Exits 1 if it does.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import tempfile
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from cluster_scale import FETCHER, start_cluster, start_server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--per-host", type=int, default=8)
    parser.add_argument("--urls", type=int, default=2000)
    args = parser.parse_args()
    setup = argparse.Namespace(
        hosts=1, urls=args.urls, latency_ms=50, size_kb=20, nodes=args.nodes, threads=16
    )
    with tempfile.TemporaryDirectory(prefix="fetcher-per-host-") as temporary:
        server, urls = start_server(setup, Path(temporary))
        address, cluster = start_cluster(setup)
        try:
            command = [FETCHER, str(urls), "-e", "dask", "--scheduler", address, "-q"]
            command += ["-w", str(args.nodes * 16), "--per-host", str(args.per_host)]
            command += ["-f", "jsonl", "-o", os.devnull]
            status = subprocess.run(command, check=False).returncode
            first = urlsplit(urls.read_text().split("\n", 1)[0])
            stats_url = f"{first.scheme}://{first.netloc}/_fetcher/stats"
            with urllib.request.urlopen(stats_url, timeout=10) as answer:
                stats = json.load(answer)
        finally:
            for process in cluster:
                process.terminate()
            os.killpg(cluster[1].pid, signal.SIGKILL)
            server.terminate()
    passed = status == 0 and stats["requests"] >= args.urls and stats["max_active"] <= args.per_host
    print(
        f"{args.urls:,} URLs of one origin, {args.nodes} nodes x 16 threads, --per-host "
        f"{args.per_host}: exit {status}; the server saw {stats['requests']:,} requests, "
        f"at most {stats['max_active']} at once"
    )
    print(f"{'PASS' if passed else 'FAIL'}: never more than {args.per_host} at once")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
