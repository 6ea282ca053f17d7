"""The `fetcher` command line: parse arguments, call the API, format what comes back.

Only typer is imported at start-up; the HTTP client, the pools and tqdm are imported when
a command runs, so `fetcher --help` stays fast.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import sys
from dataclasses import replace
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO

import typer
from typer.core import TyperCommand, TyperGroup

from ._exit import ExitCode
from ._options import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_REDIRECTS,
    DEFAULT_MAX_RETRY_WAIT,
    DEFAULT_PER_HOST,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    DEFAULT_WORKERS,
    EXECUTORS,
    MAX_MAX_BYTES,
    MAX_RETRIES,
    MAX_TIMEOUT,
    FetchOptions,
    parse_header,
)
from ._version import __version__

if TYPE_CHECKING:
    from ._inputs import Input
    from ._resume import FinishedURLs
    from ._stdio import Stderr

try:  # typer >= 0.26 carries its own copy of click
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as click_exceptions  # type: ignore[no-redef,import-not-found,unused-ignore]

__all__ = ["ExitCode", "app", "main"]


class Executor(StrEnum):
    thread = "thread"
    process = "process"
    hybrid = "hybrid"
    async_ = "async"
    dask = "dask"


class OutputFormat(StrEnum):
    text = "text"
    jsonl = "jsonl"
    csv = "csv"


_SIZE_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "KIB": 1024, "M": 1024**2, "MB": 1024**2}
_SIZE_UNITS |= {"MIB": 1024**2, "G": 1024**3, "GB": 1024**3, "GIB": 1024**3}


def parse_size(text: str | int) -> int:
    """A byte count such as `1000000`, `512K` or `10M` (K, M, G are powers of 1024)."""
    if isinstance(text, int):
        return text
    stripped = text.strip().upper()
    number = stripped.rstrip("KMGIB")
    unit = stripped[len(number) :]
    try:
        value = float(number)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a size (examples: 1000000, 512K, 10M)") from None
    if unit not in _SIZE_UNITS or not 1 <= value * _SIZE_UNITS[unit] <= MAX_MAX_BYTES:
        raise typer.BadParameter(f"{text!r} is not a size (examples: 1000000, 512K, 10M)")
    return int(value * _SIZE_UNITS[unit])


class DefaultCommandGroup(TyperGroup):
    """A group whose default command runs when the first argument names no command.

    `fetcher URLS` is the main form; subcommands sit beside it. A URL list whose file name
    is also a command's name is reached with a path: `fetcher ./bench`.
    """

    default_command = "fetch"

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        first = args[0] if args else None
        if first is None or first in ("-h", "--help") or first not in (*self.commands, "--version"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run with one-line errors: `fetcher: error: ...` and a meaningful exit code."""
        kwargs["standalone_mode"] = False
        kwargs.setdefault("prog_name", "fetcher")
        try:
            code = super().main(*args, **kwargs)
        except click_exceptions.UsageError as exc:
            _fail(f"{exc.format_message()} (see 'fetcher --help')", ExitCode.USAGE)
        except click_exceptions.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except typer.Abort:
            _fail("aborted", ExitCode.INTERRUPTED)
        except Exception as exc:  # a bug: still one line, never a traceback
            _fail(f"internal error: {type(exc).__name__}: {exc}", ExitCode.INTERNAL)
        sys.exit(code if isinstance(code, int) else ExitCode.OK)


class MainCommand(TyperCommand):
    """The default command, whose usage line shows the main form."""

    def format_usage(self, ctx: Any, formatter: Any) -> None:
        formatter.write_usage("fetcher", "[OPTIONS] URLS\n       fetcher COMMAND ...")

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        formatter.write_paragraph()
        formatter.write_text("Commands (fetcher COMMAND --help for each):")
        with formatter.indentation():
            formatter.write_dl(
                [
                    ("fetch", "Fetch a URL list (the default: this page)."),
                    ("serve", "Serve a local test site on 127.0.0.1."),
                    ("bench", "Measure the executors against each other and baselines."),
                ]
            )


def _fail(message: str, code: int) -> None:
    from ._stdio import Stderr

    Stderr().line(f"fetcher: error: {message}")
    sys.exit(code)


app = typer.Typer(
    cls=DefaultCommandGroup,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"fetcher {__version__}\n")
        raise typer.Exit()


@app.callback()
def _group(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Download web pages concurrently and print their titles."""


@app.command("fetch", cls=MainCommand)
def fetch_command(
    urls: Annotated[
        str,
        typer.Argument(
            metavar="URLS",
            help="File with one URL a line, or - for stdin. Blank lines and # comments are "
            "skipped; a line without a scheme is fetched as https://LINE.",
            show_default=False,
        ),
    ],
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=1, max=1024, help="Concurrent requests.")
    ] = DEFAULT_WORKERS,
    executor: Annotated[
        Executor,
        typer.Option(
            "--executor",
            "-e",
            help="Pool that runs the requests (hybrid: a process per core, threads in each; "
            "async: one asyncio event loop; dask: a Dask cluster, needs fetcher[dask]).",
        ),
    ] = Executor.thread,
    scheduler: Annotated[
        str | None,
        typer.Option(
            metavar="tcp://HOST:PORT",
            help="With -e dask: a running Dask scheduler.  [default: a local cluster]",
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            min=0.001,
            max=MAX_TIMEOUT,
            metavar="SECONDS",
            help="Seconds each attempt may take in all: DNS, connect, TLS, headers, body, "
            "redirects.",
        ),
    ] = DEFAULT_TIMEOUT,
    total_timeout: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            help="Seconds one URL may take from its first attempt to its record, retry "
            "waits included.  [default: no limit]",
            show_default=False,
        ),
    ] = None,
    max_bytes: Annotated[
        int,
        typer.Option(
            parser=parse_size,
            metavar="SIZE",
            help="Largest body kept, after decompression (e.g. 500K, 10M); more is an error.",
        ),
    ] = DEFAULT_MAX_BYTES,
    max_redirects: Annotated[
        int, typer.Option(min=0, help="Redirects followed before giving up.")
    ] = DEFAULT_MAX_REDIRECTS,
    retries: Annotated[
        int,
        typer.Option(
            min=0,
            max=MAX_RETRIES,
            help="Retries of a URL after a failure a retry may cure: connect errors, "
            "timeouts, 429, 502, 503, 504 (with backoff; Retry-After honoured).",
        ),
    ] = DEFAULT_RETRIES,
    max_retry_wait: Annotated[
        float,
        typer.Option(
            min=0,
            max=MAX_TIMEOUT,
            metavar="SECONDS",
            help="Longest wait before a retry; a longer Retry-After ends the URL with an error.",
        ),
    ] = DEFAULT_MAX_RETRY_WAIT,
    per_host: Annotated[
        int,
        typer.Option(
            min=0, metavar="N", help="Concurrent requests to one scheme://host:port (0: no cap)."
        ),
    ] = DEFAULT_PER_HOST,
    rate: Annotated[
        float | None,
        typer.Option(min=0.001, metavar="R", help="At most R requests started per second."),
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option(
            "--header", "-H", metavar="'NAME: VALUE'", help="Extra request header (repeatable)."
        ),
    ] = None,
    user_agent: Annotated[
        str | None,
        typer.Option(metavar="TEXT", help="User-Agent header.  [default: fetcher/VERSION]"),
    ] = None,
    http2: Annotated[
        bool, typer.Option("--http2", help="Offer HTTP/2 to https servers (ALPN).")
    ] = False,
    proxy: Annotated[
        str | None, typer.Option(metavar="http://HOST:PORT", help="Send requests via this proxy.")
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option("--insecure", "-k", help="Do not check TLS certificates (warns on stderr)."),
    ] = False,
    save: Annotated[
        str | None,
        typer.Option(
            metavar="DIR", help="Save each successful body in DIR (created), named from its URL."
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output", "-o", metavar="FILE", help="Write records to FILE instead of stdout."
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue into the --output FILE (jsonl): skip URLs it already has records for.",
        ),
    ] = False,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format.")
    ] = OutputFormat.text,
    first_only: Annotated[
        bool,
        typer.Option("--first-only", help="Print only the first page that succeeds, then stop."),
    ] = False,
    progress: Annotated[
        bool | None,
        typer.Option(
            "--progress/--no-progress",
            help="Progress bar on stderr.  [default: when stderr is a terminal]",
            show_default=False,
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar and no summary.")
    ] = False,
) -> int:
    """Fetch every URL in URLS and print one record per URL as it completes.

    \b
    Examples:
      fetcher urls.txt --workers 8
      fetcher urls.txt -w 8 --executor process
      fetcher mirrors.txt --first-only
      cat urls.txt | fetcher - --format jsonl | jq .title
      fetcher big.txt -f jsonl -o out.jsonl --resume --save pages/

    Exit status: 0 all fetched with status < 400; 1 some failed (first-only: none
    succeeded); 2 usage error; 69 executor unavailable (Dask scheduler); 70 internal
    error; 74 records could not be written;
    130 interrupted (Ctrl-C); 141 stdout closed; 143 terminated (SIGTERM).
    """
    _check_combination(first_only=first_only, resume=resume, output=output, fmt=output_format)
    if executor is Executor.dask and importlib.util.find_spec("distributed") is None:
        raise click_exceptions.UsageError(
            "-e dask needs Dask distributed: pip install 'fetcher[dask]'"
        )
    try:
        headers = tuple(parse_header(line) for line in header or ())
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--header'") from None
    try:
        options = FetchOptions(
            workers=workers,
            executor=executor.value,
            timeout=timeout,
            total_timeout=total_timeout,
            max_bytes=max_bytes,
            max_redirects=max_redirects,
            retries=retries,
            max_retry_wait=max_retry_wait,
            per_host=per_host,
            rate=rate,
            headers=headers,
            http2=http2,
            proxy=proxy,
            verify=not insecure,
            save_dir=save,
            scheduler=scheduler,
        )
        if user_agent is not None:
            options = replace(options, user_agent=user_agent)
    except ValueError as exc:
        raise _option_error(exc) from None
    from ._stdio import Stderr, closed_at_start

    err = Stderr()
    to_stdout = output in (None, "-")
    if to_stdout and closed_at_start(1):
        raise click_exceptions.UsageError("standard output is closed")
    show_progress = (not quiet and err.isatty()) if progress is None else progress
    from ._inputs import InputError, open_input

    try:
        source = open_input(urls)
    except InputError as exc:
        raise click_exceptions.UsageError(str(exc)) from None
    _make_save_folder(save)  # once every other argument has been checked
    from ._outfile import OutputError, open_output

    out, finished = sys.stdout.buffer, None
    if not to_stdout:
        try:  # last: a new run truncates the file, once nothing else can fail
            out, finished = open_output(
                output or "",
                resume=resume,
                inputs=[source.identity] if source.identity else [],
                warn=lambda text: err.line(f"fetcher: warning: {text}"),
            )
        except OutputError as exc:
            source.close()
            raise click_exceptions.UsageError(str(exc)) from None
    if insecure:
        err.line(
            "fetcher: warning: --insecure: TLS certificates are not checked; "
            "anyone on the network path can read or change these pages"
        )
    return _run(
        source,
        out,
        err,
        options,
        fmt=output_format.value,
        first_only=first_only,
        show_progress=show_progress,
        show_summary=not quiet,
        finished=finished,
    )


def _run(
    source: Input,
    out: BinaryIO,
    err: Stderr,
    options: FetchOptions,
    *,
    fmt: str,
    first_only: bool,
    show_progress: bool,
    show_summary: bool,
    finished: FinishedURLs | None,
) -> int:
    """Run the fetch and close the output file; the exit status.

    The URL list's descriptor stays open until exit: the feeder thread may still be
    blocked reading it (a pipe whose writer stays open), and a descriptor closed under a
    read could be reused by the next file opened.
    """
    from ._console import Console

    to_stdout = out is getattr(sys.stdout, "buffer", None)
    if to_stdout:
        sys.stdout.flush()
    encoding = (getattr(sys.stdout, "encoding", None) or "utf-8") if to_stdout else "utf-8"
    console = Console(
        fmt,
        out=out,
        err=err,
        text_encoding=encoding,
        to_terminal=to_stdout and show_progress and sys.stdout.isatty() and err.isatty(),
        show_progress=show_progress,
        show_summary=show_summary,
        finished=finished,
    )
    try:
        if first_only:
            return console.run_first(source.urls(), options)
        total = source.count() if show_progress else None
        return console.run_all(source.urls(), options, total)
    finally:
        if not to_stdout:
            _close_quietly(out)


def _check_combination(
    *, first_only: bool, resume: bool, output: str | None, fmt: OutputFormat
) -> None:
    """Reject flags that mean nothing together, before any work is done."""
    if resume and first_only:
        raise click_exceptions.UsageError(
            "--resume does not combine with --first-only: a race has no list to continue"
        )
    if resume and output in (None, "-"):
        raise click_exceptions.UsageError("--resume needs --output FILE (the file to continue)")
    if resume and fmt is not OutputFormat.jsonl:
        raise click_exceptions.UsageError("--resume needs --format jsonl (records it can read)")


#: The option behind each `FetchOptions` field, for error messages.
_FLAGS = {
    "workers": "--workers",
    "timeout": "--timeout",
    "total_timeout": "--total-timeout",
    "max_bytes": "--max-bytes",
    "max_redirects": "--max-redirects",
    "retries": "--retries",
    "max_retry_wait": "--max-retry-wait",
    "per_host": "--per-host",
    "rate": "--rate",
    "headers": "--header",
    "proxy": "--proxy",
    "user_agent": "--user-agent",
    "save_dir": "--save",
    "scheduler": "--scheduler",
}


def _option_error(exc: ValueError) -> typer.BadParameter:
    """A `FetchOptions` error, naming the command-line option rather than the field."""
    field, _, rest = str(exc).partition(" ")
    if field in _FLAGS:
        return typer.BadParameter(rest, param_hint=f"'{_FLAGS[field]}'")
    return typer.BadParameter(str(exc))


def _make_save_folder(path: str | None) -> None:
    """Create the --save folder if missing, and prove pages can be written in it."""
    if path is None:
        return
    from ._save import check_save_dir

    try:
        check_save_dir(path)
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot use folder {path!r}: {exc.strerror or exc}", param_hint="'--save'"
        ) from None


def _close_quietly(stream: Any) -> None:
    """Close an output file whose records were each flushed already (or failed loudly)."""
    with contextlib.suppress(OSError):
        stream.close()


@app.command("serve")
def serve_command(
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port; 0 picks a free one.")] = 0,
    pages: Annotated[int, typer.Option(min=1, help="Pages, each with a distinct title.")] = 1000,
    latency_ms: Annotated[float, typer.Option(min=0, help="Delay before each answer.")] = 0.0,
    jitter_ms: Annotated[float, typer.Option(min=0, help="Delay varies by up to this.")] = 0.0,
    size_kb: Annotated[float, typer.Option(min=0, help="Size of each page.")] = 20.0,
    error_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Share of pages answering 500.")
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed for jitter and failing pages.")] = 0,
    gzip: Annotated[bool, typer.Option("--gzip", help="Send pages gzip-compressed.")] = False,
    folder: Annotated[
        str | None,
        typer.Option("--dir", metavar="FOLDER", help="Serve the files of FOLDER instead."),
    ] = None,
    write_urls: Annotated[
        str | None, typer.Option(metavar="FILE", help="Write the URL list to FILE.")
    ] = None,
) -> int:
    """Serve a local test site on 127.0.0.1 until Ctrl-C: for benchmarks and demos.

    Prints the base URL on stdout; pages are at /page/0 ... /page/N-1 (with --dir, at
    /NAME for each file). The server's own CPU time is at /_fetcher/stats.

    \b
    Example:
      fetcher serve --pages 500 --latency-ms 50 --write-urls local.txt &
      fetcher local.txt -w 16 --per-host 0   # one origin: lift the cap
    """
    import asyncio

    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C stops the server
    from ._serve import SiteOptions, build_site, describe, serve, write_urls_file

    try:
        options = SiteOptions(
            pages=pages,
            latency_ms=latency_ms,
            jitter_ms=jitter_ms,
            size_kb=size_kb,
            error_rate=error_rate,
            seed=seed,
            gzip=gzip,
            folder=folder,
        )
        site = build_site(options)
    except (ValueError, OSError) as exc:
        raise typer.BadParameter(str(exc)) from None

    if write_urls is not None and not os.path.isdir(os.path.dirname(write_urls) or "."):
        raise typer.BadParameter(f"no folder for {write_urls!r}", param_hint="--write-urls")
    _allow_many_connections()

    def ready(base: str) -> None:
        if write_urls is not None:
            write_urls_file(site, base, write_urls)
        sys.stdout.write(base + "\n")
        sys.stdout.flush()
        sys.stderr.write(f"fetcher serve: {describe(site)}; Ctrl-C stops\n")

    try:
        asyncio.run(serve(site, port, ready))
    except KeyboardInterrupt:
        return ExitCode.OK
    except OSError as exc:
        message = f"cannot serve on port {port}: {exc.strerror or exc}"
        raise click_exceptions.UsageError(message) from None
    return ExitCode.OK


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


@app.command("bench")
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
    executors: Annotated[
        str,
        typer.Option(
            help="Comma-separated: thread, process, hybrid, async, dask (needs fetcher[dask]); "
            "baselines httpx, curl."
        ),
    ] = "thread,process,hybrid,async",
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
    from ._bench import PRESETS, BenchError, BenchSettings, format_report, plot_report, run_bench

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop children as for Ctrl-C
    from ._benchrun import BASELINES

    if (urls is None) == (not local):
        raise click_exceptions.UsageError("give a URL list or --local (one of them)")
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
        raise click_exceptions.UsageError(f"cannot read URL list {urls!r}")
    if plot is not None and not os.path.isdir(os.path.dirname(plot) or "."):
        raise typer.BadParameter(f"no folder for {plot!r}", param_hint="--plot")
    if local:
        from ._serve import SiteOptions

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


def _allow_many_connections() -> None:
    """Raise the open-file limit to what the system allows: a connection is a file."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65_536 if hard == resource.RLIM_INFINITY else min(hard, 65_536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def main() -> None:
    """Console-script entry point (see `_entry`, which sets up signals before importing)."""
    from ._entry import main as entry

    entry()
