"""`fetcher bench`: measure the executors against each other and baselines (the
measuring itself is `fetcher.tools.bench`)."""

from __future__ import annotations

import difflib
import importlib.util
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
    scan = "scan"


class ReportFormat(StrEnum):
    text = "text"
    json = "json"
    csv = "csv"


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a comma-separated list of numbers", param_hint="'--workers'"
        ) from None
    if not values or any(not 1 <= value <= 1024 for value in values):
        raise typer.BadParameter(
            f"{text!r}: each count must be from 1 to 1024", param_hint="'--workers'"
        )
    return values


def _check_plot(path: str) -> None:
    """Refuse --plot before anything runs if it cannot be drawn or saved."""
    if importlib.util.find_spec("matplotlib") is None:
        raise click_exceptions().UsageError("--plot needs matplotlib: pip install 'fetcher[plot]'")
    if not os.path.isdir(os.path.dirname(path) or "."):
        raise typer.BadParameter(f"no folder for {path!r}", param_hint="'--plot'")


def bench_command(
    urls: Annotated[
        str | None,
        typer.Argument(
            metavar="LIST", help="A URL list to measure instead of --local.", show_default=False
        ),
    ] = None,
    local: Annotated[
        bool, typer.Option("--local", help="Start `fetcher serve` and measure against it.")
    ] = False,
    preset: Annotated[
        Preset | None,
        typer.Option(
            metavar="PRESET",
            help="latency: 50 ms, 20 KiB pages. cpu: no latency, 200 KiB gzip pages. "
            "scan: each URL a new TLS host (certificates checked), 50 ms, 20 KiB; "
            "-w 64,256 on 2,000 and 8,000 hosts; baselines httpx and curl (needs "
            "fetcher[tls]).",
            show_default="latency",
        ),
    ] = None,
    pages: Annotated[
        int | None,
        typer.Option(
            min=1,
            metavar="N",
            help="Pages per run.",
            show_default="about 1 s of ideal time, at most 1000",
        ),
    ] = None,
    latency_ms: Annotated[
        float | None, typer.Option(min=0, metavar="MS", help="Local server latency.")
    ] = None,
    size_kb: Annotated[
        float | None, typer.Option(min=0, metavar="KIB", help="Local page size (KiB).")
    ] = None,
    gzip: Annotated[
        bool | None, typer.Option("--gzip/--no-gzip", help="Local pages gzip-compressed.")
    ] = None,
    executors: Annotated[
        str | None,
        typer.Option(metavar="LIST", help=_EXECUTORS_HELP, show_default=_DEFAULT_EXECUTORS),
    ] = None,
    workers: Annotated[
        str | None,
        typer.Option(
            metavar="LIST",
            help="Comma-separated worker counts.",
            show_default="1,2,4,8,16,32,64; scan: 64,256",
        ),
    ] = None,
    failures: Annotated[
        float,
        typer.Option(
            min=0,
            max=1,
            metavar="FRACTION",
            help="With --preset scan: this share of hosts fail (a third each hang, refuse, "
            "answer after 1 s).",
        ),
    ] = 0.0,
    repeat: Annotated[
        int, typer.Option(min=1, max=100, metavar="N", help="Runs per configuration (1-100).")
    ] = 3,
    timeout: Annotated[
        float, typer.Option(min=0.001, metavar="SECONDS", help="Timeout per URL.")
    ] = 30.0,
    output_format: Annotated[
        ReportFormat,
        typer.Option(
            "--format", "-f", metavar="FORMAT", help="Report format on stdout: text, json, csv."
        ),
    ] = ReportFormat.text,
    plot: Annotated[
        str | None,
        typer.Option(
            metavar="FILE",
            help="Plot pages/s, peak memory and time to first result against workers "
            "(PNG; needs matplotlib).",
        ),
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
      fetcher bench --local --preset scan --timeout 10
      fetcher bench mirrors.txt --workers 4,16 --repeat 5
    """
    from ..tools.bench import PRESETS, BenchError, BenchSettings, run_bench
    from ..tools.benchreport import format_report, plot_report

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop children as for Ctrl-C
    from ..tools.benchrun import BASELINES

    if (urls is None) == (not local):
        raise click_exceptions().UsageError("give a URL list or --local (one of them)")
    scenario = PRESETS[(preset or Preset.latency).value]
    if executors is None:
        executors = ",".join([_DEFAULT_EXECUTORS, *scenario.get("extra_executors", ())])
    chosen = tuple(dict.fromkeys(e.strip() for e in executors.split(",") if e.strip()))
    unknown = [e for e in chosen if e not in (*EXECUTORS, *BASELINES)]
    if not chosen or unknown:
        known = [*EXECUTORS, *BASELINES]
        close = difflib.get_close_matches(unknown[0], known, n=1) if unknown else []
        hint = f" (did you mean {close[0]!r}?)" if close else f" (one of {', '.join(known)})"
        raise typer.BadParameter(
            f"unknown executor in {executors!r}{hint}", param_hint="'--executors'"
        )
    if workers is None:
        workers = ",".join(str(w) for w in scenario.get("workers", (1, 2, 4, 8, 16, 32, 64)))
    if failures and not scenario.get("scan"):
        raise typer.BadParameter("applies with --preset scan only", param_hint="'--failures'")
    if scenario.get("scan"):
        _require_tls_extra()
    settings = BenchSettings(
        executors=chosen,
        workers=_int_list(workers),
        scan=bool(scenario.get("scan")),
        failures=failures,
        repeat=repeat,
        pages=pages,
        latency_ms=scenario["latency_ms"] if latency_ms is None else latency_ms,
        size_kb=scenario["size_kb"] if size_kb is None else size_kb,
        gzip=scenario["gzip"] if gzip is None else gzip,
        timeout=timeout,
        url_file=None if local else urls,
    )
    if urls is not None and not os.path.isfile(urls):
        reason = "Is a directory" if os.path.isdir(urls) else "No such file or directory"
        raise click_exceptions().UsageError(f"cannot read URL list {urls!r}: {reason}")
    if plot is not None:
        _check_plot(plot)
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
        sys.stdout.write(format_report(results, output_format.value, settings))
        sys.stdout.flush()
        if plot is not None:
            plot_report(results, settings, plot)
            progress(f"plot written to {plot}")
    except BenchError as exc:
        sys.stderr.write(f"fetcher: error: {exc}\n")
        return ExitCode.FAILED
    return ExitCode.OK


def _require_tls_extra() -> None:
    """The scan preset serves TLS hosts: exit 2 naming the extra if trustme is missing."""
    from ..tools.certs import MissingTLSExtra, require_tls_extra

    try:
        require_tls_extra("--preset scan (TLS hosts)")
    except MissingTLSExtra as exc:
        raise click_exceptions().UsageError(str(exc)) from None
