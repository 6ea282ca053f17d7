"""What a busy thread pool pays for the GIL: system calls, futex calls and context
switches per URL, with 1 and with 16 threads in one process.

Starts `fetcher serve --hosts 64 --latency-ms 0` (20 KiB pages), then fetches its list
with fetcher's `PageFetcher` on a `ThreadPoolExecutor` of N threads, under `perf stat`
(task-clock, context switches, futex and poll calls). Every system call releases the
GIL; with many runnable threads each release hands it to another thread (a futex wake
and a context switch), so the calls per URL are what a pool's CPU per URL follows.

    python scripts/gil_handoffs.py --urls 4000 --threads 1,16

Needs `perf` with access to the syscall tracepoints (root, or perf_event_paranoid <= 1).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

EVENTS = "task-clock,context-switches,syscalls:sys_enter_futex,syscalls:sys_enter_poll"
CHILD = """
import sys
from concurrent.futures import ThreadPoolExecutor, wait
from fetcher import FetchOptions
from fetcher._http.client import PageFetcher
urls = open(sys.argv[1]).read().split()
fetcher = PageFetcher(FetchOptions(per_host=0, retries=0))
with ThreadPoolExecutor(int(sys.argv[2])) as pool:
    wait([pool.submit(fetcher.attempt, url, None) for url in urls])
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--urls", type=int, default=4000)
    parser.add_argument("--threads", default="1,16")
    args = parser.parse_args()
    fetcher = shutil.which("fetcher", path=str(Path(sys.executable).parent)) or "fetcher"
    with tempfile.TemporaryDirectory(prefix="fetcher-gil-") as folder:
        urls = Path(folder) / "urls.txt"
        server = subprocess.Popen(
            [fetcher, "serve", "--hosts", "64", "--pages", str(args.urls), "--latency-ms", "0",
             "--size-kb", "20", "--write-urls", str(urls)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert server.stdout is not None
        server.stdout.readline()  # the list is written and every socket listens
        try:
            print(f"{args.urls} URLs over 64 hosts, 20 KiB pages, no latency; per URL:")
            print("threads  cpu us  context switches  futex calls  poll calls")
            for threads in args.threads.split(","):
                out = Path(folder) / "perf.txt"
                subprocess.run(
                    ["perf", "stat", "-x,", "-e", EVENTS, "-o", str(out),
                     sys.executable, "-c", CHILD, str(urls), threads],
                    check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"},
                )  # fmt: skip
                counts = {}
                for line in out.read_text().splitlines():
                    parts = line.split(",")
                    if len(parts) > 2 and parts[0] and not line.startswith("#"):
                        counts[parts[2]] = float(parts[0])
                per = {name: value / args.urls for name, value in counts.items()}
                print(
                    f"{threads:>7} {per['task-clock'] * 1000:7.0f} "
                    f"{per['context-switches']:17.1f} {per['syscalls:sys_enter_futex']:12.1f} "
                    f"{per['syscalls:sys_enter_poll']:11.1f}"
                )
        finally:
            server.terminate()


if __name__ == "__main__":
    main()
