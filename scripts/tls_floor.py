"""The least CPU a URL on a new TLS host costs on this machine, against fetcher and curl.

    python scripts/tls_floor.py [--hosts 2000] [--workers 64] [--repeat 3]

Starts `fetcher serve --tls --hosts N` (50 ms, 20 KiB pages, one URL per host, a
throwaway CA) and fetches the list, interleaved, `--repeat` times each, with:

- sockets: a thread pool of plain `ssl` sockets (connect, handshake with the
  certificate checked, one GET, read to Content-Length, close): no HTTP library, no
  titles, no records; the floor for any Python client on threads;
- fetcher: `fetch_all` with the thread executor (`fetcher.tools.benchrun`);
- curl: `curl --parallel --cacert` (also through `benchrun`).

Each in a child process of its own; CPU is the child's (and its children's) from
/proc, so start-up counts for all three. Prints the medians, per URL.
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from fetcher.tools.bench import local_server
from fetcher.tools.proctree import tree_usage


def _get(url: str, context: ssl.SSLContext) -> bool:
    host, port = url.split("/")[2].split(":")
    path = "/" + url.split("/", 3)[3]
    with (
        socket.create_connection((host, int(port)), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            data += tls.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        while len(body) < length:
            chunk = tls.recv(65536)
            if not chunk:
                break
            body += chunk
        return head.startswith(b"HTTP/1.1 200") and len(body) == length


def sockets_child(url_file: str, workers: int, cacert: str) -> None:
    """The plain-sockets run, in this (child) process: prints the benchrun-style JSON."""
    with open(url_file) as stream:
        urls = stream.read().split()
    started = time.perf_counter()
    context = ssl.create_default_context(cafile=cacert)
    with ThreadPoolExecutor(workers) as pool:
        failures = sum(not ok for ok in pool.map(lambda u: _get(u, context), urls))
        usage = tree_usage()
    wall = time.perf_counter() - started
    result = {"pages": len(urls), "wall": wall, "cpu": usage.cpu_seconds, "failures": failures}
    print(json.dumps(result))


def _run(command: list[str]) -> dict[str, float]:
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sockets_child(args.child[0], int(args.child[1]), args.child[2])
        return
    benchrun = [sys.executable, "-m", "fetcher.tools.benchrun"]
    clients = {
        "sockets": lambda f, ca: [sys.executable, __file__, "--child", f, str(args.workers), ca],
        "fetcher": lambda f, ca: [*benchrun, f, "thread", str(args.workers), "10", ca],
        "curl": lambda f, ca: [*benchrun, f, "curl", str(args.workers), "10", ca],
    }
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in clients}
    with (
        tempfile.TemporaryDirectory() as folder,
        local_server(args.hosts, 50.0, 20.0, scan=True, folder=folder) as served,
    ):
        assert served.cacert is not None
        for _ in range(args.repeat):
            for name, command in clients.items():
                samples[name].append(_run(command(served.url_file, served.cacert)))
    print(f"{args.hosts} TLS hosts, one URL each, 50 ms, 20 KiB, {args.workers} concurrent, "
          f"certificates checked; medians of {args.repeat}:")  # fmt: skip
    for name, runs in samples.items():
        cpu = statistics.median(run["cpu"] / run["pages"] * 1000 for run in runs)
        rate = statistics.median(run["pages"] / run["wall"] for run in runs)
        failed = sum(int(run["failures"]) for run in runs)
        print(f"  {name:8} {rate:6.0f} pages/s  {cpu:5.2f} ms CPU per URL  ({failed} failed)")


if __name__ == "__main__":
    main()
