"""Where the client's CPU goes: py-spy samples of a real run, grouped by package.

    pip install py-spy && python scripts/profile_cpu.py [--workers 64] [--pages 6000] [--scan]
        [--latency-ms 50]

Starts `fetcher serve` (50 ms latency, 20 KB pages; with `--scan`, each page on a TLS
host of its own, certificates checked), records the thread pool fetching the list with
`py-spy record --gil` (only samples that hold the GIL: the CPU that threads contend
for), and prints the share of samples by the innermost frame's package, and how much of
the run the GIL was held at all (the rest of the client's CPU is outside Python: OpenSSL,
the C library, the kernel).
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from fetcher.tools.bench import local_server

_FRAME = re.compile(r"\(([^():]+):\d+\)$")
_GROUPS = [
    ("fetcher/_http/scanner.py", "fetcher: title extraction"),
    ("fetcher/_http/body.py", "fetcher: body cap and decompression"),
    ("fetcher/_http/network.py", "fetcher: socket layer"),
    ("fetcher/", "fetcher: runner, fetch, results"),
    ("h11/", "h11: HTTP/1.1 parsing"),
    ("httpcore/", "httpcore: connection pool"),
    ("httpx/", "httpx: client, requests, responses"),
    ("concurrent/", "concurrent.futures"),
    ("threading.py", "threading (locks, conditions)"),
    ("importlib", "imports (start-up)"),
    ("bs4/", "imports (start-up)"),
    ("ssl.py", "ssl: TLS sockets (Python side)"),
]


def group(path: str) -> str:
    for prefix, name in _GROUPS:
        if prefix in path:
            return name
    return "other: " + path.split("/")[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--pages", type=int, default=6000)
    parser.add_argument("--executor", default="thread")
    parser.add_argument("--scan", action="store_true", help="a TLS host per page")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None:
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    counts: collections.Counter[str] = collections.Counter()
    rate = 500
    with (
        tempfile.TemporaryDirectory() as folder,
        local_server(args.pages, args.latency_ms, 20, scan=args.scan, folder=folder) as served,
    ):
        raw = Path(folder, "samples.txt")
        command = [spy, "record", "--gil", "--subprocesses", "-r", str(rate), "--format", "raw"]
        command += ["-o", str(raw), "--", sys.executable, "-m", "fetcher.tools.benchrun"]
        command += [served.url_file, args.executor, str(args.workers), "30"]
        command += [served.cacert] if served.cacert else []
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        report = [line for line in done.stdout.splitlines() if line.startswith('{"')]
        wall = json.loads(report[-1])["wall"]  # benchrun's line, among py-spy's own
        for line in raw.read_text().splitlines():
            stack, _, number = line.rpartition(" ")
            frames = [f for f in stack.split(";") if _FRAME.search(f)]
            if frames:
                counts[group(_FRAME.search(frames[-1]).group(1))] += int(number)  # type: ignore[union-attr]
    total = sum(counts.values())
    what = "TLS hosts, one page each" if args.scan else "pages"
    what += f", {args.latency_ms:g} ms"
    print(f"{total} samples holding the GIL ({args.executor} pool, {args.workers} workers, "
          f"{args.pages} {what}; the GIL held {total / rate / wall:.0%} of the run):")  # fmt: skip
    for name, count in counts.most_common():
        print(f"  {count / total:6.1%}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
