"""Check fetcher's speed targets against baselines measured in the same run.

    python scripts/check_targets.py [--repeat 3]

Runs `fetcher bench` scenarios on a local server (see README, "Benchmarks"):

1. 50 ms latency, 1000 pages of 20 KB, 8 workers: fetcher's thread pool must reach 90%
   of the ideal time (pages x latency / workers), its process pool 80%, start-up included.
2. No latency, 1000 pages of 20 KB, 8 workers: fetcher's thread pool must reach 85% of
   the pages/s of a plain httpx thread pool that parses nothing, measured in the same run.
3. (Stretch, reported only) 50 ms latency, 64 concurrent requests: every configuration
   against curl --parallel.

Exits 1 if a required target is missed.
"""

from __future__ import annotations

import argparse
import shutil
import sys

from fetcher._bench import BenchSettings, ConfigResult, format_report, run_bench

EXECUTORS = ("thread", "process", "hybrid", "httpx")


def by_executor(results: list[ConfigResult]) -> dict[str, ConfigResult]:
    return {r.executor: r for r in results}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    curl = ("curl",) if shutil.which("curl") else ()
    failed = False

    def say(line: str) -> None:
        print(line, flush=True)

    say("== 1. latency-bound: 50 ms, 1000 x 20 KB pages, 8 workers")
    latency = BenchSettings(
        executors=EXECUTORS + curl, workers=(8,), repeat=args.repeat,
        pages=1000, latency_ms=50, size_kb=20,
    )  # fmt: skip
    results = by_executor(run_bench(latency))
    say(format_report(list(results.values()), "text"))
    for executor, target in (("thread", 0.90), ("process", 0.80)):
        efficiency = results[executor].efficiency or 0.0
        ok = efficiency >= target
        failed |= not ok
        say(f"{'PASS' if ok else 'FAIL'}: {executor} pool at {efficiency:.1%} of ideal "
            f"(target {target:.0%})")  # fmt: skip

    say("\n== 2. no latency: 1000 x 20 KB pages, 8 workers, against plain httpx")
    cpu = BenchSettings(
        executors=EXECUTORS + curl, workers=(8,), repeat=args.repeat,
        pages=1000, latency_ms=0, size_kb=20,
    )  # fmt: skip
    results = by_executor(run_bench(cpu))
    say(format_report(list(results.values()), "text"))
    ratio = results["thread"].pages_per_second / results["httpx"].pages_per_second
    ok = ratio >= 0.85
    failed |= not ok
    say(f"{'PASS' if ok else 'FAIL'}: thread pool at {ratio:.1%} of plain httpx's pages/s "
        "(target 85%)")  # fmt: skip

    say("\n== 3. stretch: 50 ms latency, 1000 x 20 KB pages, 64 concurrent requests")
    wide = BenchSettings(
        executors=EXECUTORS + curl, workers=(64,), repeat=args.repeat,
        pages=1000, latency_ms=50, size_kb=20,
    )  # fmt: skip
    results = by_executor(run_bench(wide))
    say(format_report(list(results.values()), "text"))
    best = max((r for r in results.values() if r.executor in ("thread", "process", "hybrid")),
               key=lambda r: r.efficiency or 0.0)  # fmt: skip
    reference = f", curl {results['curl'].efficiency:.0%}" if "curl" in results else ""
    say(f"INFO: best fetcher configuration at 64: {best.executor} at "
        f"{best.efficiency or 0:.0%} of ideal{reference}")  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
