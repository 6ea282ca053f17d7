"""Does a Dask cluster fetch faster than one machine? Measure it, baselines in the same run.

Starts, as separate processes: `fetcher serve --hosts H` (H origins on loopback
addresses), a `dask scheduler`, and `dask worker --nworkers N --nthreads T` (as shipped:
each worker process under a nanny). Then runs the installed `fetcher` on a large and a
small list, alternating, for each executor:

- `dask` with `--scheduler` (fetch nodes fed in batches), `-w N*T`;
- `dask-tasks` with `--scheduler` (one Dask task per URL), `-w N*T`, unless --no-tasks;
- `hybrid -w N*T` on this machine alone, the one-machine baseline;
- with `--parts`, `dask-parts` too: `-e dask --parts DIR`, the nodes writing the records.

For each it reports the median wall time of the large list and its pages/s; the
*marginal* pages/s (the extra URLs of the large run over its extra time: start-up
excluded) and its % of ideal (ideal: N*T requests at once, each taking the latency);
the client's CPU per URL, marginally too (fetcher's process and the children it reaps:
not hybrid's worker processes, which are its forkserver's children); the scheduler's CPU
as a share of one core during the large run; the workers' CPU per URL; and the whole
machine's busy CPU per page, marginally (from /proc/stat: every process, the server's
included, so the executors compare whole).

    python scripts/cluster_scale.py --nodes 2 --threads 32 --latency-ms 50
    python scripts/cluster_scale.py --nodes 2 --threads 16 --latency-ms 0

Everything is on 127.0.0.0/8. The machine's cores are shared by the server, the
scheduler, the workers and the client: on a 2-core machine the figures say what the
design costs, not what a real cluster of machines would reach.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fetcher.tools.proctree import tree_usage

BIN = Path(sys.executable).parent
FETCHER = shutil.which("fetcher", path=str(BIN)) or "fetcher"
DASK = shutil.which("dask", path=str(BIN)) or "dask"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def start_server(args: argparse.Namespace, folder: Path) -> tuple[subprocess.Popen[str], Path]:
    urls = folder / "urls.txt"
    command = [FETCHER, "serve", "--hosts", str(args.hosts), "--pages", str(args.urls)]
    command += ["--latency-ms", str(args.latency_ms), "--size-kb", str(args.size_kb)]
    command += ["--write-urls", str(urls)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert server.stdout is not None
    server.stdout.readline()  # the base URL: the list is written and every socket listens
    return server, urls


def start_cluster(
    args: argparse.Namespace, preload: tuple[str, ...] = (), nice: int = 0
) -> tuple[str, list[subprocess.Popen[bytes]]]:
    """A `dask scheduler` and `dask worker --nworkers N --nthreads T` (each worker running
    the `preload` modules, every process of it at niceness `nice`); its address, once
    every worker has joined."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    own_session = getattr(args, "own_session", False)
    scheduler = subprocess.Popen(
        [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], **quiet
    )
    # A process group of its own (to end it whole), in this session: Linux's autogroup
    # scheduler shares the CPU fairly between sessions, so workers in a session of their
    # own would get as much CPU as the server, scheduler and client together (see
    # docs/benchmarks.md, "One session").
    niced = ["nice", "-n", str(nice)] if nice else []
    worker = subprocess.Popen(
        [*niced, DASK, "worker", address, "--nworkers", str(args.nodes),
         "--nthreads", str(args.threads), "--host", "127.0.0.1", "--no-dashboard",
         *(f"--preload={p}" for p in preload)],
        **({"start_new_session": True} if own_session else {"process_group": 0}), **quiet,
    )  # fmt: skip
    import distributed

    with distributed.Client(address, timeout=60) as client:
        client.wait_for_workers(args.nodes, timeout=60)
    return address, [scheduler, worker]


def cpu_of(pid: int) -> float:
    return tree_usage(pid).cpu_seconds


def machine_busy() -> float:
    """Seconds of CPU this machine's cores have spent running its processes since boot,
    from /proc/stat: user, nice, system, irq and softirq (not idle or waiting for I/O,
    not time a hypervisor stole, and guest time is already in user and nice)."""
    with open("/proc/stat") as stat:
        ticks = [int(field) for field in stat.readline().split()[1:8]]
    user, nice, system, _idle, _iowait, irq, softirq = ticks
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def run_once(
    executor: str, urls: Path, count: int, args: argparse.Namespace, address: str,
    pids: dict[str, int],
) -> dict[str, float]:  # fmt: skip
    """One run of `count` URLs of the list: wall, and CPU of client, scheduler, workers."""
    listing = urls.with_name(f"urls-{count}.txt")
    if not listing.exists():
        lines = urls.read_text().splitlines()[:count]
        listing.write_text("".join(line + "\n" for line in lines))
    workers = args.nodes * args.threads
    parts = urls.with_name("parts")  # dask-parts: `-e dask --parts DIR`, a new DIR each run
    name = "dask" if executor == "dask-parts" else executor
    command = [FETCHER, str(listing), "-e", name, "-w", str(workers), "--per-host", "0"]
    command += ["-q", "--retries", "0", "--timeout", "30"]
    if executor == "dask-parts":
        shutil.rmtree(parts, ignore_errors=True)
        command += ["--parts", str(parts)]
    else:
        command += ["-f", "jsonl", "-o", os.devnull]
    if executor.startswith("dask"):
        command += ["--scheduler", address]
    before = {name: cpu_of(pid) for name, pid in pids.items()}
    busy = machine_busy()
    started = time.perf_counter()
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)  # its rusage: its reaped children too
    wall = time.perf_counter() - started
    busy = machine_busy() - busy
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)}: exit {process.returncode}")
    after = {name: cpu_of(pid) for name, pid in pids.items()}
    return {
        "wall": wall,
        "client": usage.ru_utime + usage.ru_stime,
        "machine": busy,
        **{name: after[name] - before[name] for name in pids},
    }


def measure(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="fetcher-cluster-") as temporary:
        folder = Path(temporary)
        server, urls = start_server(args, folder)
        address, cluster = start_cluster(args)
        pids = {"server": server.pid, "scheduler": cluster[0].pid, "workers": cluster[1].pid}
        executors = ["dask", *([] if args.no_tasks else ["dask-tasks"]), "hybrid"]
        if args.parts:
            executors.insert(1, "dask-parts")
        small = max(1, args.urls // 40)
        runs: dict[tuple[str, int], list[dict[str, float]]] = {}
        try:
            for _ in range(args.repeat):
                for executor in executors:
                    for count in (args.urls, small):
                        result = run_once(executor, urls, count, args, address, pids)
                        runs.setdefault((executor, count), []).append(result)
                        print(f"  {executor} {count}: {result['wall']:.2f}s", file=sys.stderr)
        finally:
            for process in cluster:
                process.terminate()
            os.killpg(cluster[1].pid, 9)
            server.terminate()
        report(args, executors, runs, small)


def report(
    args: argparse.Namespace, executors: list[str],
    runs: dict[tuple[str, int], list[dict[str, float]]], small: int,
) -> None:  # fmt: skip
    workers = args.nodes * args.threads
    latency = args.latency_ms / 1000
    print(
        f"{args.urls} URLs over {args.hosts} hosts, {args.size_kb:g} KiB pages, "
        f"{args.latency_ms:g} ms latency; {args.nodes} Dask workers x {args.threads} threads "
        f"(hybrid: -w {workers} on this machine); medians of {args.repeat}; "
        f"{os.cpu_count()} cores"
    )
    print(
        "executor    wall s  pages/s  marginal pages/s  of ideal  client us/URL  "
        "scheduler % of a core  workers us/URL  machine us/page"
    )
    for executor in executors:
        big, little = runs[(executor, args.urls)], runs[(executor, small)]
        wall = statistics.median(r["wall"] for r in big)
        rate = args.urls / wall
        # start-up excluded: the extra URLs of the large run over its extra time
        extra = wall - statistics.median(r["wall"] for r in little)
        marginal_rate = (args.urls - small) / extra
        ideal = f"{marginal_rate * latency / workers:.0%}" if latency else "-"
        marginal = _marginal_us(big, little, "client", args.urls - small)
        scheduler = statistics.median(r["scheduler"] / r["wall"] for r in big)
        on_workers = statistics.median(r["workers"] for r in big) / args.urls * 1e6
        scheduler_text = f"{scheduler:.1%}" if executor.startswith("dask") else "-"
        workers_text = f"{on_workers:.0f}" if executor.startswith("dask") else "-"
        on_machine = _marginal_us(big, little, "machine", args.urls - small)
        print(
            f"{executor:<10} {wall:7.2f} {rate:8.0f} {marginal_rate:17.0f} {ideal:>9}  "
            f"{marginal:13.0f}  {scheduler_text:>21}  {workers_text:>14}  {on_machine:15.0f}"
        )


def _marginal_us(
    big: list[dict[str, float]], little: list[dict[str, float]], key: str, extra: int
) -> float:
    """Microseconds of `key`'s CPU each of the `extra` URLs of the large run cost (the
    difference of the medians: start-up left out)."""
    large = statistics.median(r[key] for r in big)
    return (large - statistics.median(r[key] for r in little)) / extra * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=2, help="Dask worker processes")
    parser.add_argument("--threads", type=int, default=32, help="threads per worker")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--hosts", type=int, default=64, help="origins the pages spread over")
    parser.add_argument("--urls", type=int, default=8000, help="URLs in the large run")
    parser.add_argument("--size-kb", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-tasks", action="store_true", help="leave out dask-tasks")
    parser.add_argument("--parts", action="store_true", help="also dask-parts: -e dask --parts DIR")
    parser.add_argument(
        "--own-session", action="store_true",
        help="start the workers in a session of their own (to show what that costs them)",
    )  # fmt: skip
    measure(parser.parse_args())


if __name__ == "__main__":
    main()
