"""Exactly once on a Dask cluster, at scale: every URL gets one record, whatever happens.

    python scripts/cluster_exactly_once.py [--urls 1000000]

A list of URLs with 10% duplicate lines runs with `-e dask --resume -o FILE` on a real
`dask scheduler` and `dask worker --nworkers 2` whose fetch nodes are stand-ins
(`scripts/standin_node.py`: the node, its framing and its connection to the client are
the real ones; each page is answered at once, so a million URLs take a minute or two,
not an hour). A quarter of the way in, one Dask worker process is killed with SIGKILL
(the nanny starts another; the client moves the dead node's URLs to their new owners);
half-way, fetcher gets SIGINT (exit 130). A second run with `--resume` finishes the list.
The check: the `index` values of all records are exactly 1..N, each once, and each
record's URL is the list's line at its index. Exits 1 if not.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from cluster_ceiling import start_cluster
from cluster_scale import FETCHER


def write_list(path: Path, count: int) -> list[str]:
    """`count` URLs over 4,096 hosts; every tenth line repeats an earlier one."""
    lines: list[str] = []
    for number in range(count):
        if number % 10 == 9:
            lines.append(lines[(number * 7919) % number])
        else:
            host = number % 4096
            lines.append(f"http://127.1.{host // 256}.{host % 256}:8080/page/{number}")
    path.write_text("".join(line + "\n" for line in lines))
    return lines


def worker_pids(address: str) -> list[int]:
    import distributed

    with distributed.Client(address, timeout=30) as client:
        return sorted(client.run(os.getpid).values())


def run(command: list[str], output: Path, events: dict[int, str], address: str) -> int:
    """Run `command`, doing each of `events` (records written -> "kill" or "sigint")."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    pending = sorted(events.items())
    while process.poll() is None:
        time.sleep(0.1)  # watching another process's file grow: no event to wait on
        if not pending or not output.exists():
            continue
        count = output.stat().st_size // 260  # a record is some 260 bytes here
        if count >= pending[0][0]:
            _, what = pending.pop(0)
            if what == "kill":
                victim = worker_pids(address)[0]
                os.kill(victim, signal.SIGKILL)
                print(f"  killed worker process {victim} (SIGKILL)", file=sys.stderr)
            else:
                process.send_signal(signal.SIGINT)
                print("  sent SIGINT to fetcher", file=sys.stderr)
    assert process.stderr is not None
    sys.stderr.write(process.stderr.read().decode(errors="replace")[-2000:])
    return process.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--urls", type=int, default=1_000_000)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fetcher-once-") as temporary:
        listing, output = Path(temporary, "urls.txt"), Path(temporary, "out.jsonl")
        lines = write_list(listing, args.urls)
        address, cluster = start_cluster(argparse.Namespace(nodes=args.nodes, threads=args.threads))
        command = [FETCHER, str(listing), "-e", "dask", "--scheduler", address, "-w", "1024"]
        command += ["--per-host", "0", "-q", "-o", str(output), "--resume"]
        try:
            started = time.perf_counter()
            events = {args.urls // 4: "kill", args.urls // 2: "sigint"}
            first = run(command, output, events, address)
            middle = sum(1 for _ in output.open("rb"))
            second = run(command, output, {}, address)
            wall = time.perf_counter() - started
        finally:
            for process in cluster:
                process.terminate()
            os.killpg(cluster[1].pid, signal.SIGKILL)
        indexes: Counter[int] = Counter()
        wrong = 0
        with output.open() as records:
            for line in records:
                record = json.loads(line)
                indexes[record["index"]] += 1
                wrong += record["url"] != lines[record["index"] - 1]
    exact = sorted(indexes) == list(range(1, args.urls + 1)) and set(indexes.values()) == {1}
    print(
        f"{args.urls:,} URLs (10% duplicate lines), {args.nodes} stand-in nodes: first run "
        f"exit {first} with {middle:,} records, --resume exit {second}; {wall:.0f} s in all"
    )
    print(
        f"records {sum(indexes.values()):,}, distinct index values {len(indexes):,}, "
        f"indexes seen twice {sum(1 for n in indexes.values() if n > 1)}, URL not the "
        f"line at its index {wrong}"
    )
    passed = exact and not wrong and first == 130 and second == 0
    print(f"{'PASS' if passed else 'FAIL'}: index values exactly 1..N, each once")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
