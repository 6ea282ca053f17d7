"""What a cluster client's work on a record costs when it comes in bursts, as it does.

A fetch node sends its records every 40 ms (`fetcher._run.node.FLUSH_SECONDS`), so the
client handles them a frame at a time, 20 to 60 records every 40 ms at the 1,200 URLs/s
two nodes of 16 threads reach here with no latency, and waits in between. This times the
same work on the same records (a frame of B records decoded, the records built, each
formatted as a JSONL line, as `-e dask -f jsonl` does) done frame after frame, and then
with a pause of 40 ms after each frame, as this thread's CPU per record
(`time.thread_time`: a pause costs nothing).

    python scripts/burst_cost.py [--seconds 3]

On this 2-core virtual machine a record costs two to three times as much in frames of 40
every 40 ms as frame after frame: the same code runs slower in short bursts than in a
long stretch (cold caches and branch predictors at each burst, most likely). That, not
the code, is most of the gap between the client's CPU a URL in real no-latency runs
(26-28 µs) and on stand-in nodes at full speed (13-17 µs); see docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import io
import time

from fetcher._core.result import FetchResult
from fetcher._executors.wire import decode, decode_records, encode_records
from fetcher._output.formats import JsonlWriter

#: A typical record of the cluster benchmarks (a 20 KB page with a title).
RECORD = FetchResult(
    url="http://127.1.0.17:8080/page/4711",
    final_url="http://127.1.0.17:8080/page/4711",
    status=200,
    title="Page 4711 of a site on 127.1.0.17",
    bytes=20480,
    elapsed=0.0123,
    error=None,
    index=4711,
)
STATUS = {"retries": 0, "capped": False, "held": False}


def per_record(size: int, pause: float, seconds: float) -> float:
    """Seconds of this thread's CPU a record, frames of `size` records handled with a
    pause of `pause` seconds after each, for about `seconds` of wall time."""
    payload = encode_records([RECORD] * size, STATUS)
    writer = JsonlWriter(io.BytesIO())
    done = 0
    cpu = time.thread_time()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for record in decode_records(decode(payload)):
            writer.line(record)
        done += size
        if pause:
            time.sleep(pause)
    return (time.thread_time() - cpu) / done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="wall time of each case")
    args = parser.parse_args()
    for size in (10, 40, 160, 640):
        flat = per_record(size, 0.0, args.seconds)
        burst = per_record(size, 0.04, args.seconds)
        print(
            f"frames of {size:3d} records: {flat * 1e6:4.1f} us a record one after another, "
            f"{burst * 1e6:4.1f} with 40 ms after each ({burst / flat:.1f} x)"
        )


if __name__ == "__main__":
    main()
