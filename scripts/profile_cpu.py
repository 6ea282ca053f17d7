"""Where the client's CPU goes: py-spy samples of a real run, grouped by package.

    pip install py-spy && python scripts/profile_cpu.py [--workers 64] [--pages 6000]

Starts `fetcher serve` (50 ms latency, 20 KB pages), records the thread pool fetching the
list with `py-spy record --gil` (only samples that hold the GIL: the CPU that threads
contend for), and prints the share of samples by the innermost frame's package.
"""

from __future__ import annotations

import argparse
import collections
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
    args = parser.parse_args()
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None:
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    counts: collections.Counter[str] = collections.Counter()
    with (
        local_server(pages=args.pages, latency_ms=50, size_kb=20) as served,
        tempfile.TemporaryDirectory() as folder,
    ):
        urls = Path(folder, "urls.txt")
        urls.write_text("".join(f"{served.base}page/{i}\n" for i in range(args.pages)))
        raw = Path(folder, "samples.txt")
        command = [spy, "record", "--gil", "--subprocesses", "-r", "500", "--format", "raw"]
        command += ["-o", str(raw), "--", sys.executable, "-m", "fetcher.tools.benchrun", str(urls)]
        command += [args.executor, str(args.workers), "30"]
        subprocess.run(command, check=True, capture_output=True)
        for line in raw.read_text().splitlines():
            stack, _, number = line.rpartition(" ")
            frames = [f for f in stack.split(";") if _FRAME.search(f)]
            if frames:
                counts[group(_FRAME.search(frames[-1]).group(1))] += int(number)  # type: ignore[union-attr]
    total = sum(counts.values())
    print(f"{total} samples holding the GIL ({args.executor} pool, {args.workers} workers, "
          f"{args.pages} pages):")  # fmt: skip
    for name, count in counts.most_common():
        print(f"  {count / total:6.1%}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
