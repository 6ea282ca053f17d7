"""`fetcher [OPTIONS] URLS`: parse arguments, open the list and the output, run a session.

The fetch options come from `FetchOptions` (see `params`); the rest is this command's:
where the URLs come from, where the records go and in which format, `--resume`,
`--first-only`, the progress bar and the summary. Everything that can be refused is
checked before the output file is touched.
"""

from __future__ import annotations

import importlib.util
import inspect
from enum import StrEnum
from typing import Annotated, Any

import typer

from .._compat import click_exceptions
from .._core.executors import EXECUTORS
from .._core.options import FetchOptions
from .._output.formats import FORMATS
from .env import Environment
from .params import fetch_option_parameters, options_from

__all__ = ["fetch_command"]

_FORMAT_HELP = "Output format: " + "; ".join(f"{n}: {s.summary}" for n, s in FORMATS.items())
#: The formats of the registry, as typer's choices.
OutputFormat: Any = StrEnum("OutputFormat", [(name, name) for name in FORMATS])  # type: ignore[misc]


def _cli_parameters() -> list[inspect.Parameter]:
    """The parameters of this command that are not fetch options."""
    keyword = inspect.Parameter.KEYWORD_ONLY

    def option(name: str, default: Any, kind: Any, *decls: str, **more: Any) -> Any:
        return inspect.Parameter(
            name, keyword, default=default, annotation=Annotated[kind, typer.Option(*decls, **more)]
        )

    return [
        option("output", None, str | None, "--output", "-o", metavar="FILE",
               help="Write records to FILE instead of stdout.", show_default=False),
        option("resume", False, bool, "--resume",
               help="Continue into the --output FILE (jsonl): skip URLs it already has "
               "records for."),
        option("output_format", OutputFormat("text"), OutputFormat, "--format", "-f",
               help=_FORMAT_HELP),
        option("first_only", False, bool, "--first-only",
               help="Print only the first page that succeeds, then stop."),
        option("progress", None, bool | None, "--progress/--no-progress",
               help="Progress bar on stderr.  [default: when stderr is a terminal]",
               show_default=False),
        option("quiet", False, bool, "--quiet", "-q", help="No progress bar and no summary."),
    ]  # fmt: skip


def _urls_argument() -> inspect.Parameter:
    argument = typer.Argument(
        metavar="URLS",
        help="File with one URL a line, or - for stdin. Blank lines and # comments are "
        "skipped; a line without a scheme is fetched as https://LINE.",
        show_default=False,
    )
    return inspect.Parameter(
        "urls", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Annotated[str, argument]
    )


def fetch_command(**values: Any) -> int:
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
    return run_fetch(values, Environment.from_process())


fetch_command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [_urls_argument(), *fetch_option_parameters(), *_cli_parameters()]
)


def run_fetch(values: dict[str, Any], env: Environment) -> int:
    """The fetch command with its parsed `values`, in `env`: the exit status."""
    urls, output, resume = values.pop("urls"), values.pop("output"), values.pop("resume")
    fmt, first_only = str(values.pop("output_format").value), values.pop("first_only")
    progress, quiet = values.pop("progress"), values.pop("quiet")
    _check_combination(first_only=first_only, resume=resume, output=output, fmt=fmt)
    options = options_from(values)
    _check_executor(options)
    to_stdout = output in (None, "-")
    if to_stdout and env.stdout is None:
        raise click_exceptions().UsageError("standard output is closed")
    show_progress = (not quiet and env.stderr.isatty()) if progress is None else progress
    from .run import run

    return run(
        env, options, urls=urls, output=None if to_stdout else output, resume=resume,
        fmt=fmt, first_only=first_only, show_progress=show_progress, show_summary=not quiet,
    )  # fmt: skip


def _check_combination(*, first_only: bool, resume: bool, output: str | None, fmt: str) -> None:
    """Reject flags that mean nothing together, before any work is done."""
    usage = click_exceptions().UsageError
    if resume and first_only:
        raise usage("--resume does not combine with --first-only: a race has no list to continue")
    if resume and output in (None, "-"):
        raise usage("--resume needs --output FILE (the file to continue)")
    if resume and not FORMATS[fmt].resumable:
        raise usage("--resume needs --format jsonl (records it can read)")


def _check_executor(options: FetchOptions) -> None:
    spec = EXECUTORS[options.executor]
    if spec.needs is not None and importlib.util.find_spec(spec.needs) is None:
        raise click_exceptions().UsageError(
            f"-e {spec.name} needs {spec.needs}: pip install 'fetcher[{spec.extra}]'"
        )
