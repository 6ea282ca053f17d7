"""`fetcher serve`: a local test site on 127.0.0.1 (the site itself is `fetcher.tools.serve`)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .._compat import click_exceptions
from .._core.limits import allow_many_connections
from ..tools.hosts import MAX_HOSTS, Hosts  # light: not the server, not asyncio
from .exit import ExitCode

if TYPE_CHECKING:
    from ..tools.certs import Authority

__all__ = ["serve_command"]


def serve_command(
    port: Annotated[
        int, typer.Option(min=0, max=65535, metavar="N", help="Port; 0 picks a free one.")
    ] = 0,
    pages: Annotated[
        int | None,
        typer.Option(
            min=1,
            metavar="N",
            help="Pages, each with a distinct title.",
            show_default="1000; with --hosts, one per host",
        ),
    ] = None,
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
    tls: Annotated[
        bool,
        typer.Option(
            "--tls",
            help="Serve https with certificates from a throwaway CA made at start "
            "(needs fetcher[tls]).",
        ),
    ] = False,
    write_ca: Annotated[
        str | None,
        typer.Option(
            metavar="FILE",
            help="With --tls: write the CA certificate (PEM) to FILE, for --cacert.",
            show_default="a temporary file, named on stderr",
        ),
    ] = None,
    hang_rate: Annotated[
        float,
        typer.Option(min=0, max=1, metavar="FRACTION", help="Share of hosts that never answer."),
    ] = 0.0,
    refuse_rate: Annotated[
        float,
        typer.Option(
            min=0, max=1, metavar="FRACTION", help="Share of hosts that refuse connections."
        ),
    ] = 0.0,
    slow_rate: Annotated[
        float,
        typer.Option(
            min=0, max=1, metavar="FRACTION", help="Share of hosts that answer after --slow-ms."
        ),
    ] = 0.0,
    slow_ms: Annotated[
        float, typer.Option(min=0, metavar="MS", help="How long slow hosts take to answer.")
    ] = 5000.0,
) -> int:
    """Serve a local test site on 127.0.0.1 until Ctrl-C: for benchmarks and demos.

    Prints the base URL on stdout; pages are at /page/0 ... /page/N-1 (with --dir, at
    /NAME for each file). The server's own CPU time is at /_fetcher/stats (on the first
    host, which never fails).

    \b
    Examples:
      fetcher serve --pages 500 --latency-ms 50 --write-urls local.txt &
      fetcher local.txt -w 16 --per-host 0   # one origin: lift the cap
      fetcher serve --tls --hosts 2000 --latency-ms 50 --write-ca ca.pem --write-urls scan.txt &
      fetcher scan.txt --cacert ca.pem -w 64   # 2,000 TLS hosts, certificates checked
    """

    from .env import closed_at_start

    if closed_at_start(1) or sys.stdout is None:  # the base URL is the command's output
        raise click_exceptions().UsageError("standard output is closed")
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C stops the server
    from ..tools.serve import SiteOptions, build_site, describe, serve, write_urls_file

    try:
        host_options = Hosts(
            count=hosts,
            tls=tls,
            hang_rate=hang_rate,
            refuse_rate=refuse_rate,
            slow_rate=slow_rate,
            slow_ms=slow_ms,
            seed=seed,
        )
        options = SiteOptions(
            pages=pages if pages is not None else (hosts if hosts > 1 else 1000),
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
    for flag, path in (("--write-urls", write_urls), ("--write-ca", write_ca)):
        if path is not None and not os.path.isdir(os.path.dirname(path) or "."):
            raise typer.BadParameter(f"no folder for {path!r}", param_hint=flag)
    if write_ca is not None and not tls:
        raise typer.BadParameter("applies with --tls only", param_hint="--write-ca")
    authority = _authority(host_options) if tls else None
    allow_many_connections()

    with contextlib.ExitStack() as cleanup:
        ca_file = write_ca
        if authority is not None and ca_file is None:
            folder_name = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="fetcher-"))
            ca_file = os.path.join(folder_name, "ca.pem")
        if authority is not None and ca_file is not None:
            _write_file(ca_file, authority.ca_pem)

        def ready(base: str) -> None:
            if write_urls is not None:
                write_urls_file(site, base, write_urls, hosts)
            sys.stdout.write(base + "\n")
            sys.stdout.flush()
            first = base.split("/")[2]
            what = ", ".join(filter(None, [describe(site), host_options.describe(first)]))
            ca = f"; CA certificate in {ca_file}" if ca_file else ""
            sys.stderr.write(f"fetcher serve: {what}{ca}; Ctrl-C stops\n")

        return _run(serve(site, port, ready, hosts=host_options, authority=authority), port)


def _authority(hosts: Hosts) -> Authority:
    """The throwaway CA, or exit 2 naming the extra to install."""
    from ..tools.certs import MissingTLSExtra, make_authority

    try:
        return make_authority(hosts.addresses())
    except MissingTLSExtra as exc:
        raise click_exceptions().UsageError(str(exc)) from None


def _write_file(path: str, content: bytes) -> None:
    """`write_atomically`, or exit 2 naming the file that cannot be written."""
    from ..tools.serve import write_atomically

    try:
        write_atomically(path, content)
    except OSError as exc:
        message = f"cannot write {path!r}: {exc.strerror or exc}"
        raise click_exceptions().UsageError(message) from None


def _run(server: Coroutine[Any, Any, None], port: int) -> int:
    """Run the server until Ctrl-C or SIGTERM."""
    import asyncio

    try:
        asyncio.run(server)
    except KeyboardInterrupt:
        return ExitCode.OK
    except OSError as exc:
        message = f"cannot serve on port {port}: {exc.strerror or exc}"
        raise click_exceptions().UsageError(message) from None
    return ExitCode.OK
