"""`fetcher bench`'s report: a table for people (with its conditions and the best
configuration), JSON or CSV for machines, and a plot."""

from __future__ import annotations

import csv
import io
import json
import os
import platform
from dataclasses import asdict

from fetcher import EXECUTORS

from .bench import SCAN_HOSTS_PER_WORKER, BenchError, BenchSettings, ConfigResult

__all__ = ["conditions", "format_report", "plot_report"]


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
    ("cpu_per_url_ms", "cpu/URL ms", "{:.2f}"),
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
    if settings.pages is not None:
        pages = f"{settings.pages} pages a run"
    elif settings.scan:
        pages = f"{SCAN_HOSTS_PER_WORKER:g} pages a worker (at least 2000)"
    else:
        pages = f"about 1 s of ideal time a run (at most {settings.max_pages} pages)"
    if settings.scan:
        failing = f", {settings.failures:.0%} of hosts failing" if settings.failures else ""
        pages += f", each on a TLS host of its own, certificates checked{failing}"
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
            curl = [r for r in results if r.executor == "curl" and r.workers == top.workers]
            if curl and top.executor != "curl":
                ideal += f", {top.pages_per_second / curl[0].pages_per_second:.2f} x curl's"
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
