"""A million URLs in constant memory: peak RSS, per-URL cost across the run, and resume.

    python scripts/million.py [--urls 1000000] [--workers 16]

Against a local `fetcher serve` (1,000 distinct 1 KB pages, no latency), with the thread
pool and the installed `fetcher` command (`-f jsonl -o FILE -q --per-host 0`):

1. A whole run: wall time, the process's peak RSS, and the per-URL cost over the first
   and the last 10% of the list (from the growth of the output file, sampled every
   0.2 s), which would differ if any bookkeeping grew with the run.
2. The same list with `--resume`, interrupted by SIGINT half-way, then run again with
   `--resume`: the second run's peak RSS, and a check that the file ends with exactly one
   record per input line.

Targets (issue "a million URLs"): peak RSS under 150 MiB for the run, under 250 MiB for the
resumed run, and no slowdown between the first and the last 10%. Exits 1 if one is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from fetcher.tools.bench import local_server

PAGES = 1000


def run(
    command: list[str], output: Path, stop_at: int | None = None
) -> tuple[float, float, list[tuple[float, int]]]:
    """Run `command`; return wall seconds, peak RSS in MiB and (time, records) samples."""
    started = time.perf_counter()
    samples: list[tuple[float, int]] = []
    counted, offset = 0, 0
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)  # its own peak RSS, once ended
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            break
        time.sleep(0.2)  # sampling another process's progress: no event to wait on
        if output.exists():
            with output.open("rb") as stream:
                stream.seek(offset)
                chunk = stream.read()
            counted += chunk.count(b"\n")
            offset += len(chunk)
            samples.append((time.perf_counter() - started, counted))
            if stop_at is not None and counted >= stop_at:
                proc.send_signal(signal.SIGINT)
                stop_at = None
    wall = time.perf_counter() - started
    peak_kb = usage.ru_maxrss
    assert proc.stderr is not None
    sys.stderr.write(proc.stderr.read().decode(errors="replace"))
    return wall, peak_kb / 1024, samples


def cost_per_url(samples: list[tuple[float, int]], low: int, high: int) -> float:
    """Microseconds per URL between the samples where `low` and `high` records were out."""

    def time_at(count: int) -> float:
        previous = (0.0, 0)
        for when, done in samples:
            if done >= count:
                (t0, c0), (t1, c1) = previous, (when, done)
                return t0 + (t1 - t0) * (count - c0) / max(1, c1 - c0)
            previous = (when, done)
        return samples[-1][0]

    return (time_at(high) - time_at(low)) / (high - low) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--urls", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    fetcher = shutil.which("fetcher") or str(Path(sys.executable).with_name("fetcher"))
    tenth = args.urls // 10
    ok = True
    with local_server(pages=PAGES, size_kb=1) as served, tempfile.TemporaryDirectory() as tmp:
        urls = Path(tmp, "urls.txt")
        with urls.open("w") as stream:
            stream.writelines(f"{served.base}page/{i % PAGES}\n" for i in range(args.urls))
        out = Path(tmp, "out.jsonl")
        command = [fetcher, str(urls), "-w", str(args.workers), "--per-host", "0"]
        command += ["-f", "jsonl", "-o", str(out), "-q"]

        wall, peak, samples = run(command, out)
        first = cost_per_url(samples, 0, tenth)
        last = cost_per_url(samples, args.urls - tenth, args.urls)
        print(
            f"{args.urls:,} URLs, thread pool, {args.workers} workers: {wall:.0f} s "
            f"({args.urls / wall:,.0f} URLs/s), peak RSS {peak:.1f} MiB"
        )
        print(f"  per URL: first 10% {first:.0f} us, last 10% {last:.0f} us")
        ok &= _check("peak RSS under 150 MiB", peak < 150)
        ok &= _check("last 10% at most 1.2 x the first", last <= 1.2 * first)

        out.unlink()
        resumed = [*command, "--resume"]
        wall1, peak1, _ = run(resumed, out, stop_at=args.urls // 2)
        before = sum(1 for _ in out.open("rb"))
        wall2, peak2, _ = run(resumed, out)
        print(
            f"resume: interrupted after {before:,} records ({wall1:.0f} s, peak {peak1:.1f} MiB); "
            f"second run {wall2:.0f} s, peak RSS {peak2:.1f} MiB"
        )
        counts = Counter(json.loads(line)["url"] for line in out.open())
        base = served.base
        exact = sum(counts.values()) == args.urls and all(
            counts[f"{base}page/{i}"] == len(range(i, args.urls, PAGES)) for i in range(PAGES)
        )
        ok &= _check("resumed run peak RSS under 250 MiB", peak2 < 250)
        ok &= _check("exactly one record per input line across both runs", exact)
    return 0 if ok else 1


def _check(what: str, passed: bool) -> bool:
    print(f"{'PASS' if passed else 'FAIL'}: {what}")
    return passed


if __name__ == "__main__":
    raise SystemExit(main())
