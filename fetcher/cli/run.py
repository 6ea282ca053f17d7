"""Opening what a fetch run reads and writes, in the order that keeps files safe, then
running its session.

The URL list is opened first, then the `--save` folder is proven writable, and only
then is the output file opened (locked, checked against the inputs, truncated or
resumed): a run refused for any reason leaves the output as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import BinaryIO

import typer

from .._compat import click_exceptions
from .._core.errors import InputError, OutputError
from .._core.options import FetchOptions
from .._output.formats import make_writer
from .._output.outfile import close_quietly, identity_of, open_output
from .._output.resume import FinishedURLs
from .console import Console
from .env import Environment
from .exit import exit_status
from .inputs import open_input
from .session import Session

__all__ = ["run"]


def run(
    env: Environment,
    options: FetchOptions,
    *,
    urls: str,
    output: str | None,
    resume: bool,
    fmt: str,
    first_only: bool,
    show_progress: bool,
    show_summary: bool,
) -> int:
    """Open the list and the output, run the session, close the output: the exit status."""
    usage = click_exceptions().UsageError
    try:
        source = open_input(urls, env)
        source.prefetch()
    except InputError as exc:
        raise usage(str(exc)) from None
    if output is None and source.identity is not None and source.identity == identity_of(1):
        raise usage("standard output is the URL list itself: the records would feed the run")
    _make_save_folder(options.save_dir)
    out, finished = env.stdout, FinishedURLs()
    if output is not None:
        try:  # last: a new run truncates the file, once nothing else can fail
            inputs = [source.identity] if source.identity else []
            out, finished = open_output(output, resume=resume, inputs=inputs, warn=_warner(env))
        except OutputError as exc:
            source.close()
            raise usage(str(exc)) from None
    assert out is not None
    if not options.verify:
        env.stderr.line(
            "fetcher: warning: --insecure: TLS certificates are not checked; "
            "anyone on the network path can read or change these pages"
        )
    console = _console(env, out, fmt, show_progress=show_progress, show_summary=show_summary)
    session = Session(console, options, finished)
    try:
        if first_only:
            outcome = session.run_first(source.urls())
        else:
            total = source.count() if show_progress else None
            outcome = session.run_all(source.urls(), total)
    finally:
        if output is not None:
            close_quietly(out)
    if outcome.broken_pipe and output is None:
        _silence_stdout()
    return exit_status(outcome)


def _console(
    env: Environment, out: BinaryIO, fmt: str, *, show_progress: bool, show_summary: bool
) -> Console:
    to_stdout = out is env.stdout
    if to_stdout:
        env.flush_stdout()
    encoding = env.stdout_encoding if to_stdout else "utf-8"
    return Console(
        make_writer(fmt, out, encoding),
        env.stderr,
        to_terminal=to_stdout and env.same_terminal,
        show_progress=show_progress,
        show_summary=show_summary,
    )


def _warner(env: Environment) -> Callable[[str], None]:
    def warn(text: str) -> None:
        env.stderr.line(f"fetcher: warning: {text}")

    return warn


def _make_save_folder(path: str | None) -> None:
    """Create the --save folder if missing, and prove pages can be written in it."""
    if path is None:
        return
    from .._http.save import check_save_dir

    try:
        check_save_dir(path)
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot use folder {path!r}: {exc.strerror or exc}", param_hint="'--save'"
        ) from None


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
    finally:
        os.close(devnull)
