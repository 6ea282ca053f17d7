"""Opening what a fetch run reads and writes, in the order that keeps files safe, then
running its session and writing its `--stats`.

The inputs are opened first (a list that cannot be read at all is refused now), then
the `--save` folder is proven writable, and only then is the output file opened
(locked, checked against the inputs, truncated or resumed): a run refused for any
reason leaves the output as it was. With filters and an output file, the records the
filters keep back are remembered in FILE.filtered (under FILE's lock), so `--resume`
does not fetch them again.
"""

from __future__ import annotations

import io
import os
import shlex
import signal
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, BinaryIO

import typer

from .._compat import click_exceptions
from .._core.errors import InputError, OutputError
from .._core.options import FetchOptions
from .._output.filters import RecordFilter
from .._output.formats import FORMATS, make_writer
from .._output.lines import LineMaker
from .._output.outfile import close_quietly, identity_of, open_output
from .._output.parts import DiscardWriter, PartsFolder, open_parts
from .._output.resume import Finished, FinishedURLs, finished_union
from .console import Console
from .env import Environment
from .exit import ExitCode, Outcome, exit_status
from .helptext import COMMANDS
from .inputs import Inputs, open_inputs
from .session import Plan, Session

__all__ = ["FILTERED_SUFFIX", "Request", "run"]

#: Beside `-o FILE`: the records filters kept back, so that `--resume` skips them too.
FILTERED_SUFFIX = ".filtered"


@dataclass(frozen=True)
class Request:
    """What the fetch command was asked, beyond the fetch options."""

    inputs: list[str]
    output: str | None  #: None: stdout (or the parts)
    parts: str | None  #: `--parts DIR`: the nodes write the records there
    resume: bool
    fmt: str
    first_only: bool
    record_filter: RecordFilter
    stats: str | None
    show_progress: bool
    show_summary: bool
    color: bool
    grace: float  #: seconds requests in flight get after Ctrl-C or SIGTERM


def run(env: Environment, options: FetchOptions, request: Request) -> int:
    """Open the inputs and the output, run the session: the exit status."""
    usage = click_exceptions().UsageError
    try:
        inputs = _open(env, request)
    except InputError as exc:
        raise usage(str(exc)) from None
    _make_save_folder(options.save_dir)
    out, plan, closing = _outputs(env, request, inputs)
    if request.parts is not None:
        options = replace(options, parts=_parts(env, request, inputs, plan, closing))
    if not options.verify:
        env.stderr.line(
            "fetcher: warning: --insecure: TLS certificates are not checked; "
            "anyone on the network path can read or change these pages"
        )
    if _credentials_in_clear(options):
        env.stderr.line(
            "fetcher: warning: credentials (-H Authorization, a proxy's user:pass) go to the "
            f"Dask workers through {options.scheduler}, unencrypted (tls:// encrypts it)"
        )
    if inputs.uses_stdin and env.stdin_isatty:
        env.stderr.line("fetcher: reading URLs from standard input (one a line; Ctrl-D ends)")
    console = _console(env, out, request)
    session = Session(console, options, plan)
    outcome = Outcome()
    try:
        if request.first_only:
            outcome = session.run_first(inputs.urls())
        else:
            plan.total = inputs.count() if request.show_progress else None
            plan.count_total = inputs.count  # else when a summary or --stats needs it
            outcome = session.run_all(inputs.urls())
    finally:
        for stream in closing:
            close_quietly(stream)
        if request.stats is not None:
            _write_stats(env, request.stats, session, exit_status(outcome))
    if outcome.broken_pipe and request.output is None:
        _silence_stdout()
    return exit_status(outcome)


def _credentials_in_clear(options: FetchOptions) -> bool:
    """True when the options carry credentials to a cluster over plain `tcp://`."""
    if options.scheduler is None or not options.scheduler.startswith("tcp://"):
        return False
    secret_headers = {"authorization", "proxy-authorization", "cookie"}
    if any(name.lower() in secret_headers for name, _ in options.headers):
        return True
    return options.proxy is not None and "@" in options.proxy


def _open(env: Environment, request: Request) -> Inputs:
    inputs = open_inputs(request.inputs, env, COMMANDS)
    inputs.prefetch()
    if request.output is None and request.parts is None and identity_of(1) in inputs.identities:
        raise InputError("standard output is the URL list itself: the records would feed the run")
    return inputs


def _outputs(
    env: Environment, request: Request, inputs: Inputs
) -> tuple[BinaryIO, Plan, list[BinaryIO]]:
    """The stream for records, the session's plan, and the files to close at the end."""
    plan = Plan(record_filter=request.record_filter, grace=request.grace)
    _resume_hint(env, request, inputs, plan)
    if request.parts is not None:  # the nodes write the records: nothing is written here
        return io.BytesIO(), plan, []
    if FORMATS[request.fmt].writer.standalone and not (
        request.output is None and env.stdout_isatty
    ):
        plan.lines = LineMaker(request.fmt)  # made where the records are (a cluster's nodes)
    if request.output is None:
        assert env.stdout is not None
        return env.stdout, plan, []
    usage = click_exceptions().UsageError
    warn = _warner(env)
    try:  # last: a new run truncates the file, once nothing else can fail
        out, plan.finished = open_output(
            request.output,
            resume=request.resume,
            inputs=inputs.identities,
            warn=warn,
            lines=inputs.reread(),
        )
    except OutputError as exc:
        inputs.close()
        raise usage(str(exc)) from None
    closing = [out]
    if FORMATS[request.fmt].resumable and (request.record_filter.active or request.resume):
        filtered, remembered = _filtered_file(request, inputs, warn)
        if filtered is not None:
            closing.append(filtered)
            plan.filtered = make_writer("jsonl", filtered)
            plan.finished = finished_union(plan.finished, remembered)
    return out, plan, closing


def _parts(
    env: Environment, request: Request, inputs: Inputs, plan: Plan, closing: list[BinaryIO]
) -> PartsFolder:
    """`--parts DIR`, its manifest locked, new or resumed (what it holds: `plan.finished`)."""
    assert request.parts is not None
    try:
        folder, plan.finished = open_parts(
            request.parts, request.fmt, resume=request.resume, warn=_warner(env),
            lines=inputs.reread(),
        )  # fmt: skip
    except OutputError as exc:
        inputs.close()
        raise click_exceptions().UsageError(str(exc)) from None
    if folder.manifest is not None:
        closing.append(folder.manifest)
    return folder


def _filtered_file(
    request: Request, inputs: Inputs, warn: Callable[[str], None]
) -> tuple[BinaryIO | None, Finished]:
    """FILE.filtered, opened like FILE (with its own lock) when filters are on, and the
    URLs it remembers from the runs before (for `--resume`)."""
    assert request.output is not None
    path = request.output + FILTERED_SUFFIX
    if not request.record_filter.active and not os.path.exists(path):
        return None, FinishedURLs()
    try:
        return open_output(
            path,
            resume=request.resume,
            inputs=inputs.identities,
            warn=warn,
            lines=inputs.reread(),
        )
    except OutputError as exc:
        raise click_exceptions().UsageError(str(exc)) from None


def _resume_hint(env: Environment, request: Request, inputs: Inputs, plan: Plan) -> None:
    """The command that continues this run after a stop (or why there is none)."""
    if request.output is None and request.parts is None:
        return
    if not FORMATS[request.fmt].resumable or request.first_only:
        return
    if inputs.uses_stdin:
        plan.resume_note = "to continue, give the URLs as a file (stdin cannot be read again)"
        return
    argv = ["fetcher", *env.argv[1:]]
    if "--resume" not in argv:
        argv.append("--resume")
    plan.resume_command = shlex.join(argv)


def _console(env: Environment, out: BinaryIO, request: Request) -> Console:
    to_stdout = out is env.stdout and request.parts is None
    if to_stdout:
        env.flush_stdout()
    encoding = env.stdout_encoding if to_stdout else "utf-8"
    writer = (
        make_writer(request.fmt, out, encoding, color=request.color)
        if request.parts is None
        else DiscardWriter(out)  # the nodes write the records
    )
    return Console(
        writer,
        env.stderr,
        to_terminal=to_stdout and env.same_terminal,
        show_progress=request.show_progress,
        show_summary=request.show_summary,
    )


def _write_stats(env: Environment, path: str, session: Session, status: int) -> None:
    """`--stats FILE`: the session's figures as JSON (keys in docs/cli.md)."""
    from .summary import write_stats

    stats: dict[str, Any] = {"exit_status": int(status), **session.stats()}
    stats["signal"] = {
        ExitCode.INTERRUPTED: signal.Signals.SIGINT.name,
        ExitCode.TERMINATED: signal.Signals.SIGTERM.name,
    }.get(ExitCode(status))
    try:
        write_stats(path, stats)
    except OSError as exc:
        env.stderr.line(f"fetcher: error: cannot write --stats {path!r}: {exc.strerror or exc}")


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
