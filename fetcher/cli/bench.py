"""`fetcher bench`: measure the executors against each other and baselines (the
measuring itself is `fetcher.tools.bench`)."""

from __future__ import annotations

import os
import signal
import sys
from enum import StrEnum
from typing import Annotated

import typer

from .._compat import click_exceptions
from .._core.executors import EXECUTORS
from .exit import ExitCode

__all__ = ["bench_command"]

_EXECUTORS_HELP = (
    "Comma-separated: "
    + ", ".join(
        name + (f" (needs fetcher[{spec.extra}])" if spec.extra else "")
        for name, spec in EXECUTORS.items()
    )
    + "; baselines httpx, curl."
)
_DEFAULT_EXECUTORS = ",".join(name for name, spec in EXECUTORS.items() if spec.benched)


class Preset(StrEnum):
    latency = "latency"
    cpu = "cpu"


class ReportFormat(StrEnum):
    text = "text"
    json = "json"
    csv = "csv"


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a comma-separated list of numbers") from None
    if not values or any(not 1 <= value <= 1024 for value in values):
        raise typer.BadParameter(f"{text!r}: each count must be from 1 to 1024")
    return values


def bench_command(
    urls: Annotated[
        str | None,
        typer.Argument(metavar="[URLS]", help="Measure these real sites instead of --local."),
    ] = None,
    local: Annotated[
        bool, typer.Option("--local", help="Start `fetcher serve` and measure against it.")
    ] = False,
    preset: Annotated[
        Preset | None,
        typer.Option(help="latency: 50 ms, 20 KB pages. cpu: no latency, 200 KB gzip pages."),
    ] = None,
    pages: Annotated[
        int | None,
        typer.Option(min=1, help="Pages per run.  [default: about 1 s of ideal time, ≤ 1000]"),
    ] = None,
    latency_ms: Annotated[float | None, typer.Option(min=0, help="Local server latency.")] = None,
    size_kb: Annotated[float | None, typer.Option(min=0, help="Local page size.")] = None,
    gzip: Annotated[
        bool | None, typer.Option("--gzip/--no-gzip", help="Local pages gzip-compressed.")
    ] = None,
    executors: Annotated[str, typer.Option(help=_EXECUTORS_HELP)] = _DEFAULT_EXECUTORS,
    workers: Annotated[str, typer.Option(help="Comma-separated worker counts.")] = (
        "1,2,4,8,16,32,64"
    ),
    repeat: Annotated[int, typer.Option(min=1, max=100, help="Runs per configuration.")] = 3,
    timeout: Annotated[float, typer.Option(min=0.001, help="Timeout per URL.")] = 30.0,
    output_format: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="Report format on stdout.")
    ] = ReportFormat.text,
    plot: Annotated[
        str | None, typer.Option(metavar="FILE.png", help="Plot pages/s against workers.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines.")] = False,
) -> int:
    """Measure the executors (and baselines) at each worker count.

    Every configuration runs the real pipeline in a child process of its own, --repeat
    times, in an interleaved order, with no per-host cap and no retries (pools are
    measured, not politeness). Reports median time, pages/s, min-max, efficiency
    against the ideal (pages x latency / workers), time to the first result, CPU and
    peak RSS of the client's processes, failures, and the local server's own CPU.

    \b
    Examples:
      fetcher bench --local
      fetcher bench --local --preset cpu --executors thread,process,httpx
      fetcher bench --local --workers 8 --pages 1000 --plot bench.png
      fetcher bench mirrors.txt --workers 4,16 --repeat 5
    """
    from ..tools.bench import (
        PRESETS,
        BenchError,
        BenchSettings,
        format_report,
        plot_report,
        run_bench,
    )

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop children as for Ctrl-C
    from ..tools.benchrun import BASELINES

    if (urls is None) == (not local):
        raise click_exceptions().UsageError("give a URL list or --local (one of them)")
    chosen = tuple(dict.fromkeys(e.strip() for e in executors.split(",") if e.strip()))
    unknown = [e for e in chosen if e not in (*EXECUTORS, *BASELINES)]
    if not chosen or unknown:
        raise typer.BadParameter(f"unknown executor in {executors!r}", param_hint="--executors")
    scenario = PRESETS[(preset or Preset.latency).value]
    settings = BenchSettings(
        executors=chosen,
        workers=_int_list(workers),
        repeat=repeat,
        pages=pages,
        latency_ms=scenario["latency_ms"] if latency_ms is None else latency_ms,
        size_kb=scenario["size_kb"] if size_kb is None else size_kb,
        gzip=scenario["gzip"] if gzip is None else gzip,
        timeout=timeout,
        url_file=None if local else urls,
    )
    if urls is not None and not os.path.isfile(urls):
        raise click_exceptions().UsageError(f"cannot read URL list {urls!r}")
    if plot is not None and not os.path.isdir(os.path.dirname(plot) or "."):
        raise typer.BadParameter(f"no folder for {plot!r}", param_hint="--plot")
    if local:
        from ..tools.serve import SiteOptions

        try:
            SiteOptions(
                pages=max(settings.pages_for(w) for w in settings.workers),
                latency_ms=settings.latency_ms,
                size_kb=settings.size_kb,
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    elif any(v is not None for v in (preset, pages, latency_ms, size_kb, gzip)):
        sys.stderr.write(
            "fetcher bench: --preset, --pages, --latency-ms, --size-kb and --gzip "
            "apply to --local only; measuring the list as it is\n"
        )

    def progress(line: str) -> None:
        if not quiet:
            sys.stderr.write(f"fetcher bench: {line}\n")
            sys.stderr.flush()

    try:
        results = run_bench(settings, progress)
        sys.stdout.write(format_report(results, output_format.value))
        sys.stdout.flush()
        if plot is not None:
            plot_report(results, settings, plot)
            progress(f"plot written to {plot}")
    except BenchError as exc:
        sys.stderr.write(f"fetcher: error: {exc}\n")
        return ExitCode.FAILED
    return ExitCode.OK
