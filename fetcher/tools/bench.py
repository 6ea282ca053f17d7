"""`fetcher bench`: threads or processes, and how many? Measured, not guessed.

Every executor x worker-count configuration runs the real pipeline in a child process of
its own (`benchrun`), `repeat` times, in an order shuffled anew for each repetition so
that drift on a noisy machine spreads over all configurations evenly. With `local`, the
pages come from `fetcher serve` started in a separate process (never sharing the
client's GIL), whose own CPU time is read before and after each run and reported apart.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import ssl
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fetcher import EXECUTORS

__all__ = [
    "PRESETS",
    "SCAN_HOSTS_PER_WORKER",
    "BenchError",
    "BenchSettings",
    "ConfigResult",
    "LocalServer",
    "local_server",
    "run_bench",
    "server_cpu",
]

#: Scenarios with a name: what they show is in the README's benchmark notes.
PRESETS: dict[str, dict[str, Any]] = {
    # Waiting on the network dominates: the ideal is pages x latency / workers.
    "latency": {"latency_ms": 50.0, "size_kb": 20.0, "gzip": False},
    # No latency, large compressed pages: the client's CPU (HTTP, gunzip, titles) is the limit.
    "cpu": {"latency_ms": 0.0, "size_kb": 200.0, "gzip": True},
    # The real job: every URL a new TLS host (TCP connect, handshake, certificate check),
    # 50 ms latency; 64 and 256 concurrent requests on 2,000 and 8,000 hosts.
    "scan": {
        "latency_ms": 50.0,
        "size_kb": 20.0,
        "gzip": False,
        "scan": True,
        "workers": (64, 256),
        "extra_executors": ("httpx", "curl"),
    },
}
#: With the scan preset, hosts (= URLs) per run for each concurrent request, and the
#: fewest: 2,000 at 64 workers, 8,000 at 256, so that start-up does not dominate.
SCAN_HOSTS_PER_WORKER = 2000 / 64
_SCAN_MIN_HOSTS = 2000
#: Executors not run at a scan's higher counts: 256 processes would measure start-up.
_SCAN_SKIP_ABOVE_64 = ("process",)
#: Seconds of ideal time each configuration aims at when the page count is automatic.
_SECONDS_PER_CONFIGURATION = 1.0
_MIN_PAGES = 20
_CHILD_TIMEOUT = 600.0


class BenchError(Exception):
    """The benchmark could not run (server did not start, a configuration crashed)."""


@dataclass(frozen=True, slots=True)
class BenchSettings:
    """What to measure. `pages=None` sizes each run to about 1 s of ideal time."""

    executors: tuple[str, ...] = tuple(name for name, spec in EXECUTORS.items() if spec.benched)
    workers: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    repeat: int = 3
    pages: int | None = None
    max_pages: int = 1000
    latency_ms: float = 50.0
    size_kb: float = 20.0
    gzip: bool = False
    timeout: float = 30.0
    url_file: str | None = None  # real sites instead of the local server
    seed: int = 0
    scan: bool = False  # every URL on a host of its own, over TLS (certificates checked)
    failures: float = 0.0  # with scan: the share of hosts that hang, refuse or are slow

    def pages_for(self, workers: int) -> int:
        if self.pages is not None:
            return self.pages
        if self.scan:
            return max(_SCAN_MIN_HOSTS, round(SCAN_HOSTS_PER_WORKER * workers))
        if self.latency_ms <= 0:
            return self.max_pages
        ideal_rate = workers / (self.latency_ms / 1000)
        return max(_MIN_PAGES, min(self.max_pages, round(ideal_rate * _SECONDS_PER_CONFIGURATION)))


@dataclass(slots=True)
class ConfigResult:
    """The measurements of one configuration, over its repetitions."""

    executor: str
    workers: int
    pages: int
    runs: int
    wall_median: float
    wall_min: float
    wall_max: float
    pages_per_second: float
    efficiency: float | None  # ideal time / median time, when the latency is known
    first_median: float
    cpu_median: float
    cpu_per_url_ms: float  # the client's CPU (its processes, from /proc) per URL
    peak_rss_mib: float
    failures: int
    server_cpu_median: float | None
    walls: list[float] = field(default_factory=list)


def run_bench(
    settings: BenchSettings, progress: Callable[[str], None] = lambda line: None
) -> list[ConfigResult]:
    """Run every configuration `settings.repeat` times; return one result per configuration."""
    configurations = [
        (e, w)
        for e in settings.executors
        for w in settings.workers
        if not (settings.scan and w > 64 and e in _SCAN_SKIP_ABOVE_64)
    ]
    samples: dict[tuple[str, int], list[dict[str, Any]]] = {c: [] for c in configurations}
    rng = random.Random(settings.seed)
    with (
        tempfile.TemporaryDirectory(prefix="fetcher-bench-") as folder,
        _site(settings, folder) as (lists, server, cacert),
    ):
        total = len(configurations) * settings.repeat
        done = 0
        for _ in range(settings.repeat):
            order = configurations[:]
            rng.shuffle(order)
            for executor, workers in order:
                pages = settings.pages_for(workers)
                server_before = server() if server else None
                sample = _run_child(lists(pages), executor, workers, settings.timeout, cacert)
                if server_before is not None and server is not None:
                    sample["server_cpu"] = server() - server_before
                samples[(executor, workers)].append(sample)
                done += 1
                progress(
                    f"[{done}/{total}] {executor:>7} x{workers:<3} {pages} pages "
                    f"in {sample['wall']:.2f}s ({sample['failures']} failed)"
                )
    return [_summarise(settings, key, runs) for key, runs in samples.items()]


@dataclass(frozen=True, slots=True)
class LocalServer:
    """A running `fetcher serve`: its base URL, URL list and CA file (with TLS)."""

    base: str
    url_file: str
    cacert: str | None


@contextmanager
def local_server(
    pages: int,
    latency_ms: float = 0.0,
    size_kb: float = 20.0,
    gzip: bool = False,
    seed: int = 0,
    *,
    scan: bool = False,
    failures: float = 0.0,
    folder: str | None = None,
) -> Iterator[LocalServer]:
    """Run `fetcher serve` in a child process (never sharing our GIL), its URL list and
    CA file in `folder`; with `scan`, one TLS host per page, `failures` of them failing
    (a third each hang, refuse and answer after 1 s). Without `folder`, a temporary one."""
    if folder is None:
        with (
            tempfile.TemporaryDirectory(prefix="fetcher-serve-") as temporary,
            local_server(
                pages, latency_ms, size_kb, gzip, seed, scan=scan, failures=failures,
                folder=temporary,
            ) as served,
        ):  # fmt: skip
            yield served
        return
    command = [sys.executable, "-m", "fetcher", "serve", "--port", "0", "--pages", str(pages)]
    command += ["--latency-ms", str(latency_ms), "--size-kb", str(size_kb), "--seed", str(seed)]
    command += ["--gzip"] if gzip else []
    url_file = os.path.join(folder, "served.txt")
    command += ["--write-urls", url_file]
    cacert = os.path.join(folder, "ca.pem") if scan else None
    if cacert is not None:
        command += ["--tls", "--hosts", str(pages), "--write-ca", cacert, "--slow-ms", "1000"]
        for kind in ("--hang-rate", "--refuse-rate", "--slow-rate"):
            command += [kind, str(failures / 3)]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as server:
        try:
            assert server.stdout is not None and server.stderr is not None
            base = server.stdout.readline().strip()
            if not base.startswith(("http://127.", "https://127.")):
                server.wait(10)
                reason = (server.stderr.read().strip().splitlines() or ["no message"])[-1]
                raise BenchError(f"the local server did not start: {reason}")
            yield LocalServer(base, url_file, cacert)
        finally:
            server.terminate()
            server.wait(10)


def server_cpu(base: str, cacert: str | None = None) -> float:
    """The CPU seconds the local server at `base` has used so far (`cacert`: its CA,
    for https)."""
    host, _, port = base.split("/")[2].rpartition(":")
    connection: http.client.HTTPConnection
    if base.startswith("https:"):
        context = ssl.create_default_context(cafile=cacert)
        connection = http.client.HTTPSConnection(host, int(port), timeout=10, context=context)
    else:
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", "/_fetcher/stats")
        return float(json.loads(connection.getresponse().read())["cpu"])
    finally:
        connection.close()


@contextmanager
def _site(
    settings: BenchSettings, folder: str
) -> Iterator[tuple[Callable[[int], str], Callable[[], float] | None, str | None]]:
    """URL lists by page count, a reader of the local server's CPU (None for real sites),
    and the CA file to trust (scan)."""
    if settings.url_file is not None:
        yield (lambda pages: settings.url_file or ""), None, None
        return
    most = max([settings.pages_for(w) for w in settings.workers])
    with local_server(
        most, settings.latency_ms, settings.size_kb, settings.gzip, settings.seed,
        scan=settings.scan, failures=settings.failures, folder=folder,
    ) as served:  # fmt: skip
        with open(served.url_file, encoding="utf-8") as stream:
            urls = stream.read().splitlines()
        files: dict[int, str] = {}

        def url_list(pages: int) -> str:
            if pages not in files:
                path = os.path.join(folder, f"urls-{pages}.txt")
                with open(path, "w") as stream:
                    stream.writelines(url + "\n" for url in urls[:pages])
                files[pages] = path
            return files[pages]

        yield url_list, lambda: server_cpu(served.base, served.cacert), served.cacert


def _run_child(
    url_file: str, executor: str, workers: int, timeout: float, cacert: str | None
) -> dict[str, Any]:
    command = [sys.executable, "-m", "fetcher.tools.benchrun", url_file, executor, str(workers)]
    command += [str(timeout), *([cacert] if cacert else [])]
    try:
        finished = subprocess.run(
            command, capture_output=True, text=True, timeout=_CHILD_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"{executor} x{workers} took more than {_CHILD_TIMEOUT:g}s") from None
    if finished.returncode != 0:
        last = (finished.stderr.strip().splitlines() or ["no message"])[-1]
        raise BenchError(f"{executor} x{workers} failed: {last}")
    result: dict[str, Any] = json.loads(finished.stdout)
    return result


def _summarise(
    settings: BenchSettings, key: tuple[str, int], runs: list[dict[str, Any]]
) -> ConfigResult:
    executor, workers = key
    walls = [run["wall"] for run in runs]
    wall = statistics.median(walls)
    pages = runs[0]["pages"]
    efficiency = None
    if settings.url_file is None and settings.latency_ms > 0:
        efficiency = (pages * settings.latency_ms / 1000 / workers) / wall
    server = [run["server_cpu"] for run in runs if "server_cpu" in run]
    return ConfigResult(
        executor=executor,
        workers=workers,
        pages=pages,
        runs=len(runs),
        wall_median=wall,
        wall_min=min(walls),
        wall_max=max(walls),
        pages_per_second=pages / wall,
        efficiency=efficiency,
        first_median=statistics.median(run["first"] for run in runs),
        cpu_median=statistics.median(run["cpu"] for run in runs),
        cpu_per_url_ms=statistics.median(run["cpu"] for run in runs) / pages * 1000,
        peak_rss_mib=max(run["rss"] for run in runs) / 2**20,
        failures=sum(run["failures"] for run in runs),
        server_cpu_median=statistics.median(server) if server else None,
        walls=walls,
    )
