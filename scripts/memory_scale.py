"""Peak memory of a 100,000-URL run against a 1,000-URL run: the bounded window at work.

    python scripts/memory_scale.py [--small 1000] [--large 100000] [--workers 16]

Starts `fetcher serve` (no latency, 1 KB pages), then fetches a list of `small` and one
of `large` URLs on the thread pool, each in a fresh process, and compares their peak RSS.
Memory must follow the requests in flight, not the list: the target is a ratio of at
most 1.5. Exits 1 if it is missed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from fetcher.tools.bench import local_server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    rows = []
    with local_server(pages=1000, size_kb=1) as served, tempfile.TemporaryDirectory() as folder:
        for count in (args.small, args.large):
            path = Path(folder, f"urls-{count}.txt")
            with path.open("w") as stream:
                stream.writelines(f"{served.base}page/{i % 1000}\n" for i in range(count))
            child = [sys.executable, "-m", "fetcher.tools.benchrun", str(path), "thread"]
            child += [str(args.workers), "30"]
            done = subprocess.run(child, capture_output=True, text=True, check=True)
            result = json.loads(done.stdout)
            rows.append((count, result["rss"] / 2**20))
            rate = result["pages"] / result["wall"]
            print(f"{count:>9,} URLs: peak RSS {rows[-1][1]:6.1f} MiB, "
                  f"{result['failures']} failed, {rate:,.0f} pages/s", flush=True)  # fmt: skip
    ratio = rows[1][1] / rows[0][1]
    ok = ratio <= 1.5
    print(f"{'PASS' if ok else 'FAIL'}: peak RSS ratio {ratio:.2f} (target at most 1.5)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
