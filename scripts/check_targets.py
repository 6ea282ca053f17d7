"""Check fetcher's speed targets against baselines measured in the same run.

    python scripts/check_targets.py [--repeat 3]

Runs `fetcher bench` scenarios on a local server (see docs/benchmarks.md):

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

from fetcher.tools.bench import BenchSettings, ConfigResult, run_bench
from fetcher.tools.benchreport import format_report

EXECUTORS = ("thread", "process", "hybrid", "httpx")


def scenario(title: str, workers: int, latency_ms: float, repeat: int) -> dict[str, ConfigResult]:
    """Run one scenario (1,000 pages of 20 KB), print its table, return results by executor."""
    print(title, flush=True)
    curl = ("curl",) if shutil.which("curl") else ()
    settings = BenchSettings(
        executors=EXECUTORS + curl, workers=(workers,), repeat=repeat,
        pages=1000, latency_ms=latency_ms, size_kb=20,
    )  # fmt: skip
    results = {r.executor: r for r in run_bench(settings)}
    print(format_report(list(results.values()), "text"), flush=True)
    return results


def check(what: str, value: float, target: float) -> bool:
    """Print PASS or FAIL for one target; True when it is met."""
    ok = value >= target
    print(f"{'PASS' if ok else 'FAIL'}: {what} at {value:.1%}", end="", flush=True)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    repeat = parser.parse_args().repeat
    met = True

    results = scenario("== 1. latency-bound: 50 ms, 1000 x 20 KB pages, 8 workers", 8, 50, repeat)
    for executor, target in (("thread", 0.90), ("process", 0.80)):
        met &= check(f"{executor} pool", results[executor].efficiency or 0.0, target)
        print(f" of ideal (target {target:.0%})")

    results = scenario(
        "\n== 2. no latency: 1000 x 20 KB pages, 8 workers, against plain httpx", 8, 0, repeat
    )
    ratio = results["thread"].pages_per_second / results["httpx"].pages_per_second
    met &= check("thread pool", ratio, 0.85)
    print(" of plain httpx's pages/s (target 85%)")

    results = scenario(
        "\n== 3. stretch: 50 ms latency, 1000 x 20 KB pages, 64 concurrent requests", 64, 50, repeat
    )
    best = max((r for r in results.values() if r.executor in ("thread", "process", "hybrid")),
               key=lambda r: r.efficiency or 0.0)  # fmt: skip
    reference = f", curl {results['curl'].efficiency:.0%}" if "curl" in results else ""
    print(f"INFO: best fetcher configuration at 64: {best.executor} at "
          f"{best.efficiency or 0:.0%} of ideal{reference}")  # fmt: skip
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
