"""`fetcher bench`: threads or processes, and how many? Measured, not guessed.

Every executor x worker-count configuration runs the real pipeline in a child process of
its own (`benchrun`), `repeat` times, in an order shuffled anew for each repetition so
that drift on a noisy machine spreads over all configurations evenly. With `local`, the
pages come from `fetcher serve` started in a separate process (never sharing the
client's GIL), whose own CPU time is read before and after each run and reported apart.
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from fetcher import EXECUTORS

__all__ = [
    "PRESETS",
    "BenchError",
    "BenchSettings",
    "ConfigResult",
    "conditions",
    "format_report",
    "local_server",
    "plot_report",
    "run_bench",
    "server_cpu",
]

#: Scenarios with a name: what they show is in the README's benchmark notes.
PRESETS: dict[str, dict[str, Any]] = {
    # Waiting on the network dominates: the ideal is pages x latency / workers.
    "latency": {"latency_ms": 50.0, "size_kb": 20.0, "gzip": False},
    # No latency, large compressed pages: the client's CPU (HTTP, gunzip, titles) is the limit.
    "cpu": {"latency_ms": 0.0, "size_kb": 200.0, "gzip": True},
}
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

    def pages_for(self, workers: int) -> int:
        if self.pages is not None:
            return self.pages
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
    peak_rss_mib: float
    failures: int
    server_cpu_median: float | None
    walls: list[float] = field(default_factory=list)


def run_bench(
    settings: BenchSettings, progress: Callable[[str], None] = lambda line: None
) -> list[ConfigResult]:
    """Run every configuration `settings.repeat` times; return one result per configuration."""
    configurations = [(e, w) for e in settings.executors for w in settings.workers]
    samples: dict[tuple[str, int], list[dict[str, Any]]] = {c: [] for c in configurations}
    rng = random.Random(settings.seed)
    with (
        tempfile.TemporaryDirectory(prefix="fetcher-bench-") as folder,
        _site(settings, folder) as (lists, server),
    ):
        total = len(configurations) * settings.repeat
        done = 0
        for _ in range(settings.repeat):
            order = configurations[:]
            rng.shuffle(order)
            for executor, workers in order:
                pages = settings.pages_for(workers)
                server_before = server() if server else None
                sample = _run_child(lists(pages), executor, workers, settings.timeout)
                if server_before is not None and server is not None:
                    sample["server_cpu"] = server() - server_before
                samples[(executor, workers)].append(sample)
                done += 1
                progress(
                    f"[{done}/{total}] {executor:>7} x{workers:<3} {pages} pages "
                    f"in {sample['wall']:.2f}s ({sample['failures']} failed)"
                )
    return [_summarise(settings, key, runs) for key, runs in samples.items()]


@contextmanager
def local_server(
    pages: int, latency_ms: float = 0.0, size_kb: float = 20.0, gzip: bool = False, seed: int = 0
) -> Iterator[str]:
    """Run `fetcher serve` in a child process (never sharing our GIL); yield its base URL."""
    command = [sys.executable, "-m", "fetcher", "serve", "--port", "0", "--pages", str(pages)]
    command += ["--latency-ms", str(latency_ms), "--size-kb", str(size_kb), "--seed", str(seed)]
    command += ["--gzip"] if gzip else []
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as server:
        try:
            assert server.stdout is not None and server.stderr is not None
            base = server.stdout.readline().strip()
            if not base.startswith("http://127.0.0.1:"):
                server.wait(10)
                reason = (server.stderr.read().strip().splitlines() or ["no message"])[-1]
                raise BenchError(f"the local server did not start: {reason}")
            yield base
        finally:
            server.terminate()
            server.wait(10)


def server_cpu(base: str) -> float:
    """The CPU seconds the local server at `base` has used so far."""
    port = int(base.rsplit(":", 1)[1].strip("/"))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/_fetcher/stats")
        return float(json.loads(connection.getresponse().read())["cpu"])
    finally:
        connection.close()


@contextmanager
def _site(
    settings: BenchSettings, folder: str
) -> Iterator[tuple[Callable[[int], str], Callable[[], float] | None]]:
    """URL lists by page count, and a reader of the local server's CPU (None for real sites)."""
    if settings.url_file is not None:
        yield (lambda pages: settings.url_file or ""), None
        return
    most = max([settings.pages_for(w) for w in settings.workers])
    with local_server(
        most, settings.latency_ms, settings.size_kb, settings.gzip, settings.seed
    ) as base:
        files: dict[int, str] = {}

        def url_list(pages: int) -> str:
            if pages not in files:
                path = os.path.join(folder, f"urls-{pages}.txt")
                with open(path, "w") as stream:
                    stream.writelines(f"{base}page/{i}\n" for i in range(pages))
                files[pages] = path
            return files[pages]

        yield url_list, lambda: server_cpu(base)


def _run_child(url_file: str, executor: str, workers: int, timeout: float) -> dict[str, Any]:
    command = [sys.executable, "-m", "fetcher.tools.benchrun", url_file, executor, str(workers)]
    command.append(str(timeout))
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
        peak_rss_mib=max(run["rss"] for run in runs) / 2**20,
        failures=sum(run["failures"] for run in runs),
        server_cpu_median=statistics.median(server) if server else None,
        walls=walls,
    )


_COLUMNS = [
    ("executor", "executor", "{}"),
    ("workers", "workers", "{}"),
    ("pages", "pages", "{}"),
    ("wall_median", "median s", "{:.2f}"),
    ("spread", "min-max s", "{}"),
    ("pages_per_second", "pages/s", "{:.0f}"),
    ("efficiency", "of ideal", "{:.0%}"),
    ("first_median", "first s", "{:.3f}"),
    ("cpu_median", "cpu s", "{:.2f}"),
    ("peak_rss_mib", "peak MiB", "{:.0f}"),
    ("failures", "failed", "{}"),
    ("server_cpu_median", "server cpu s", "{:.2f}"),
]


def format_report(
    results: list[ConfigResult], fmt: str, settings: BenchSettings | None = None
) -> str:
    """The results, in the order asked (executor, then workers), as a text table for
    people (with the conditions above it and the best configuration below, when
    `settings` are given), or as JSON or CSV rows for machines."""
    if fmt == "json":
        return json.dumps([asdict(r) for r in results], indent=2) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        names = [name for name in asdict(results[0]) if name != "walls"] if results else []
        writer = csv.DictWriter(out, fieldnames=names, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(asdict(r) for r in results)
        return out.getvalue()
    lines = [f"conditions: {conditions(settings)}", ""] if settings is not None else []
    lines += _table(results)
    if settings is not None and results:
        lines += ["", *_best(results)]
    return "\n".join(lines) + "\n"


def _table(results: list[ConfigResult]) -> list[str]:
    rows = [[title for _, title, _ in _COLUMNS]]
    for result in results:
        values = asdict(result) | {"spread": f"{result.wall_min:.2f}-{result.wall_max:.2f}"}
        rows.append(
            [
                "-" if values[key] is None else style.format(values[key])
                for key, _, style in _COLUMNS
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    return [
        "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]


def conditions(settings: BenchSettings | None) -> str:
    """What the numbers were measured under: the pages, the machine and the Python."""
    machine = f"{os.cpu_count()} cores, Python {platform.python_version()}"
    machine += f" ({platform.python_implementation()})"
    if settings is None:
        return machine
    if settings.url_file is not None:
        return f"the URLs of {settings.url_file}; {machine}"
    pages = (
        f"{settings.pages} pages a run"
        if settings.pages is not None
        else f"about 1 s of ideal time a run (at most {settings.max_pages} pages)"
    )
    return (
        f"local server, {settings.latency_ms:g} ms latency, {settings.size_kb:g} KiB pages"
        + (" (gzip)" if settings.gzip else "")
        + f", {pages}, {settings.repeat} runs each; {machine}"
    )


def _best(results: list[ConfigResult]) -> list[str]:
    """The fastest fetcher configuration (and baseline), by median pages/s."""
    lines = []
    for label, rows in (
        ("best", [r for r in results if r.executor in EXECUTORS]),
        ("best baseline", [r for r in results if r.executor not in EXECUTORS]),
    ):
        if rows:
            top = max(rows, key=lambda r: r.pages_per_second)
            ideal = f", {top.efficiency:.0%} of ideal" if top.efficiency is not None else ""
            lines.append(
                f"{label}: {top.executor} with {top.workers} workers, "
                f"{top.pages_per_second:.0f} pages/s{ideal}"
            )
    return lines


def plot_report(results: list[ConfigResult], settings: BenchSettings, path: str) -> None:
    """Three panels against workers, a line per executor: pages/s (the ideal dashed),
    peak memory, and time to the first result."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        raise BenchError("--plot needs matplotlib: pip install 'fetcher[plot]'") from None
    figure, panels = plt.subplots(1, 3, figsize=(15, 4.5), dpi=110)
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    workers = list(dict.fromkeys(sorted(settings.workers)))
    for axes, field_name, label in (
        (panels[0], "pages_per_second", "pages per second"),
        (panels[1], "peak_rss_mib", "peak memory (MiB)"),
        (panels[2], "first_median", "time to first result (s)"),
    ):
        for executor in dict.fromkeys(r.executor for r in results):
            points = sorted(
                (r.workers, getattr(r, field_name)) for r in results if r.executor == executor
            )
            axes.plot(*zip(*points, strict=True), marker="o", label=executor)
        axes.set_xscale("log", base=2)
        axes.set_xticks(workers, [str(w) for w in workers])
        axes.set_xlabel("workers")
        axes.set_ylabel(label)
        axes.yaxis.set_major_formatter(plain)
        axes.grid(True, which="both", alpha=0.3)
    if settings.url_file is None and settings.latency_ms > 0:
        panels[0].plot(
            workers,
            [w / (settings.latency_ms / 1000) for w in workers],
            linestyle="--",
            color="grey",
            label=f"ideal (workers / {settings.latency_ms:g} ms)",
        )
    panels[0].set_yscale("log")
    panels[0].yaxis.set_major_formatter(plain)
    panels[0].legend()
    figure.suptitle(f"fetcher bench: {conditions(settings)}", fontsize=10)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
