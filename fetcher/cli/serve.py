"""`fetcher serve`: a local test site on 127.0.0.1 (the site itself is `fetcher.tools.serve`)."""

from __future__ import annotations

import os
import signal
import sys
from typing import Annotated

import typer

from .._compat import click_exceptions
from .._core.limits import allow_many_connections
from .exit import ExitCode

__all__ = ["MAX_HOSTS", "serve_command"]

#: `--hosts` at most: 127.0.1.1 to 127.0.250.250 (`fetcher.tools.serve.MAX_HOSTS`, not
#: imported: `fetcher --help` does not load the server).
MAX_HOSTS = 250 * 250


def serve_command(
    port: Annotated[
        int, typer.Option(min=0, max=65535, metavar="N", help="Port; 0 picks a free one.")
    ] = 0,
    pages: Annotated[
        int, typer.Option(min=1, metavar="N", help="Pages, each with a distinct title.")
    ] = 1000,
    latency_ms: Annotated[
        float, typer.Option(min=0, metavar="MS", help="Delay before each answer.")
    ] = 0.0,
    jitter_ms: Annotated[
        float, typer.Option(min=0, metavar="MS", help="Delay varies by up to this.")
    ] = 0.0,
    size_kb: Annotated[
        float, typer.Option(min=0, metavar="KIB", help="Size of each page (KiB: 1024 bytes).")
    ] = 20.0,
    error_rate: Annotated[
        float, typer.Option(min=0, max=1, metavar="FRACTION", help="Share of pages answering 500.")
    ] = 0.0,
    seed: Annotated[int, typer.Option(metavar="N", help="Seed for jitter and failing pages.")] = 0,
    gzip: Annotated[bool, typer.Option("--gzip", help="Send pages gzip-compressed.")] = False,
    folder: Annotated[
        str | None,
        typer.Option("--dir", metavar="DIR", help="Serve the files of DIR instead."),
    ] = None,
    write_urls: Annotated[
        str | None, typer.Option(metavar="FILE", help="Write the URL list to FILE.")
    ] = None,
    hosts: Annotated[
        int,
        typer.Option(
            min=1,
            max=MAX_HOSTS,
            metavar="N",
            help="Listen on N loopback addresses (127.0.1.1, 127.0.1.2, ...) on one port; "
            "the URL list spreads the pages over them.",
        ),
    ] = 1,
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

    from .env import closed_at_start

    if closed_at_start(1) or sys.stdout is None:  # the base URL is the command's output
        raise click_exceptions().UsageError("standard output is closed")
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C stops the server
    from ..tools.serve import SiteOptions, build_site, describe, serve, write_urls_file

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
    allow_many_connections()

    def ready(base: str) -> None:
        if write_urls is not None:
            write_urls_file(site, base, write_urls, hosts)
        sys.stdout.write(base + "\n")
        sys.stdout.flush()
        on = f" on {hosts} hosts from {base.split('/')[2]}" if hosts > 1 else ""
        sys.stderr.write(f"fetcher serve: {describe(site)}{on}; Ctrl-C stops\n")

    try:
        asyncio.run(serve(site, port, ready, hosts=hosts))
    except KeyboardInterrupt:
        return ExitCode.OK
    except OSError as exc:
        message = f"cannot serve on port {port}: {exc.strerror or exc}"
        raise click_exceptions().UsageError(message) from None
    return ExitCode.OK
