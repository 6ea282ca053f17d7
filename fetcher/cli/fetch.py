"""`fetcher [OPTIONS] INPUT...`: parse arguments, then hand them to `run`.

The fetch options come from `FetchOptions` (see `params`); the rest is this command's:
what to fetch (INPUTs: URLs, list files, `-`), where the records go and in which format,
which records are written (`--match-*`, `--filter-*`), `--resume`, `--first-only`,
`--stats`, the progress bar, colour and the summary. Everything that can be refused is
checked before any file is touched.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
from enum import StrEnum
from pathlib import PurePath
from typing import Annotated, Any

import typer

from .._compat import click_exceptions
from .._core.checks import check_number
from .._core.errors import OptionError
from .._core.executors import EXECUTORS
from .._core.options import LIMITS, OUTPUT, WHAT, FetchOptions
from .._core.signals import GRACE_SECONDS
from .._output.filters import RecordFilter, parse_statuses, parse_title_pattern
from .._output.formats import FORMATS
from .env import Environment
from .params import fetch_option_parameters, options_from

__all__ = ["PARAMETER_SECTIONS", "fetch_command"]

_FORMAT_HELP = "; ".join(f"{n}: {s.summary}" for n, s in FORMATS.items())
_EXTENSIONS = ", ".join(e for s in FORMATS.values() for e in s.extensions)
#: The formats of the registry, as typer's choices.
OutputFormat: Any = StrEnum("OutputFormat", [(name, name) for name in FORMATS])  # type: ignore[misc]
Color = StrEnum("Color", [("auto", "auto"), ("always", "always"), ("never", "never")])
#: Longest --grace accepted (an hour): a stop is not meant to wait longer.
MAX_GRACE_SECONDS = 3600.0
#: The help section of each parameter that is not a fetch option.
PARAMETER_SECTIONS: dict[str, str] = {}


def _option(name: str, default: Any, kind: Any, *decls: str, section: str, **more: Any) -> Any:
    PARAMETER_SECTIONS[name] = section
    annotation = Annotated[kind, typer.Option(*decls, **more)]
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


def _cli_parameters() -> list[inspect.Parameter]:
    """The parameters of this command that are not fetch options."""
    statuses = "codes, ranges and classes: 200,301-308,4xx,err (no status)"
    return [
        _option("first_only", False, bool, "--first-only", section=WHAT,
                help="Print only the first page that succeeds (and passes the filters), "
                "then stop."),
        _option("resume", False, bool, "--resume", section=WHAT,
                help="Continue into the --output FILE (jsonl): skip the URLs it already "
                "has records for."),
        _option("grace", None, float | None, "--grace", metavar="SECONDS", section=LIMITS,
                help="After Ctrl-C or SIGTERM, how long requests in flight may take to "
                "finish (their records are kept); a second signal ends it at once.",
                show_default=f"{GRACE_SECONDS:g}"),
        _option("output", None, str | None, "--output", "-o", metavar="FILE", section=OUTPUT,
                help="Write records to FILE instead of stdout.", show_default=False),
        _option("parts", None, str | None, "--parts", metavar="DIR", section=OUTPUT,
                help="With -e dask: the nodes write the records to part files in DIR "
                "(on their machines; listed in DIR/manifest.jsonl), not this process.",
                show_default=False),
        _option("output_format", None, OutputFormat | None, "--format", "-f", section=OUTPUT,
                metavar="FORMAT",
                help=f"Output format ({_FORMAT_HELP}).",
                show_default=f"from the name of -o FILE ({_EXTENSIONS}), else text"),
        _option("match_status", None, str | None, "--match-status", metavar="LIST",
                section=OUTPUT, help=f"Write only records with these statuses ({statuses}).",
                show_default=False),
        _option("filter_status", None, str | None, "--filter-status", metavar="LIST",
                section=OUTPUT, help="Do not write records with these statuses.",
                show_default=False),
        _option("match_title", None, str | None, "--match-title", metavar="REGEX",
                section=OUTPUT, help="Write only records whose title matches REGEX.",
                show_default=False),
        _option("filter_title", None, str | None, "--filter-title", metavar="REGEX",
                section=OUTPUT, help="Do not write records whose title matches REGEX.",
                show_default=False),
        _option("stats", None, str | None, "--stats", metavar="FILE", section=OUTPUT,
                help="Write the run's summary to FILE as JSON, whatever its end.",
                show_default=False),
        _option("progress", None, bool | None, "--progress/--no-progress", section=OUTPUT,
                help="Progress bar on stderr (--progress even with -q).",
                show_default="when stderr is a terminal and the records go to it or to "
                "-o FILE"),
        _option("color", Color("auto"), Color, "--color", metavar="WHEN", section=OUTPUT,
                help="Colour text records: auto (stdout is a terminal, NO_COLOR unset), "
                "always, never."),
        _option("quiet", False, bool, "--quiet", "-q", section=OUTPUT,
                help="No progress bar and no summary."),
    ]  # fmt: skip


def _complete_input(ctx: Any, incomplete: str) -> list[str]:
    """Shell completion of the first INPUT: the other commands (else, files: the shell's)."""
    if ctx.params.get("inputs"):
        return []
    return [name for name in ("serve", "bench") if name.startswith(incomplete)]


def _inputs_argument() -> inspect.Parameter:
    argument = typer.Argument(
        metavar="INPUT...",
        help="What to fetch: a URL (http://, https://), a file with one URL a line, or - "
        "for stdin, in any number and order. In a list, blank lines and # comments are "
        "skipped; a line without a scheme is fetched as https://LINE.",
        show_default=False,
        autocompletion=_complete_input,
    )
    return inspect.Parameter(
        "inputs", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Annotated[list[str], argument]
    )


def fetch_command(**values: Any) -> int:
    """Fetch every URL of the INPUTs and print one record per URL as it completes.

    \b
    Examples:
      fetcher https://example.com https://example.org
      fetcher urls.txt -w 32 --match-status 200 -o out.jsonl
      fetcher mirrors.txt --first-only
      cat urls.txt | fetcher - -f jsonl | jq .title
      fetcher big.txt -o out.jsonl --resume --save pages/

    Exit status: 0 all fetched with status < 400 (--no-follow: 3xx too); 1 some
    failed (first-only: none succeeded); 2 usage error; 69 executor unavailable;
    70 internal error; 74 records could not be written; 130 interrupted (Ctrl-C);
    141 stdout closed; 143 terminated (SIGTERM).
    """
    return run_fetch(values, Environment.from_process())


fetch_command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [_inputs_argument(), *fetch_option_parameters(), *_cli_parameters()]
)


def run_fetch(values: dict[str, Any], env: Environment) -> int:
    """The fetch command with its parsed `values`, in `env`: the exit status."""
    take = values.pop
    inputs, output, resume = take("inputs"), take("output"), take("resume")
    first_only, parts = take("first_only"), take("parts")
    if output == "-":
        output = None
    fmt = _format(take("output_format"), output, parts)
    grace = take("grace")
    _check_combination(
        first_only=first_only, resume=resume, output=output, fmt=fmt, grace=grace is not None,
        parts=parts,
    )  # fmt: skip
    record_filter = _record_filter(take)
    if parts is not None and record_filter.active:
        raise click_exceptions().UsageError("--parts takes no filters: nodes write every record")
    stats, progress, quiet, color = take("stats"), take("progress"), take("quiet"), take("color")
    grace = _grace(grace)
    options = options_from(values)
    _check_executor(options)
    if parts is not None and EXECUTORS[options.executor].engine is None:
        raise click_exceptions().UsageError("--parts needs -e dask: its nodes write the parts")
    if output is None and parts is None and env.stdout is None:
        raise click_exceptions().UsageError("standard output is closed")
    if stats is not None:
        _check_stats(stats, inputs, output, parts)
    from .run import Request, run

    request = Request(
        inputs=inputs, output=output, resume=resume, fmt=fmt, first_only=first_only, parts=parts,
        record_filter=record_filter, stats=stats,
        show_progress=_show_progress(env, progress, quiet, output or parts, typing="-" in inputs),
        show_summary=not quiet, color=_colour(env, color.value, output), grace=grace,
    )  # fmt: skip
    return run(env, options, request)


def _check_stats(path: str, inputs: list[str], output: str | None, parts: str | None) -> None:
    """Refuse a --stats FILE that would replace another file, before any work is done."""
    from .run import FILTERED_SUFFIX
    from .summary import stats_file_problem

    others = {f"the URL list {name!r}": name for name in inputs if os.path.isfile(name)}
    if output is not None:
        others |= {"the --output file": output, "the filtered records": output + FILTERED_SUFFIX}
    if parts is not None:
        others["the manifest of the parts"] = os.path.join(parts, "manifest.jsonl")
    problem = stats_file_problem(path, others)
    if problem is not None:
        raise typer.BadParameter(problem, param_hint="'--stats'")


def _grace(seconds: float | None) -> float:
    """The grace asked for (0 to an hour), else the default."""
    if seconds is None:
        return GRACE_SECONDS
    try:
        check_number("grace", seconds, at_least=0, at_most=MAX_GRACE_SECONDS)
    except OptionError as exc:
        raise typer.BadParameter(exc.reason, param_hint="'--grace'") from None
    return abs(seconds)  # -0 is 0


def _format(given: Any, output: str | None, parts: str | None) -> str:
    """The format asked for, else the one the output file's name says, else text (jsonl
    for parts: files of records for programs)."""
    if given is not None:
        return str(given.value)
    if parts is not None:
        return "jsonl"
    suffix = PurePath(output).suffix.lower() if output else ""
    for name, spec in FORMATS.items():
        if suffix and suffix in spec.extensions:
            return name
    return "text"


def _record_filter(take: Any) -> RecordFilter:
    try:
        return RecordFilter(
            match_status=_parsed(take("match_status"), parse_statuses, "match_status"),
            filter_status=_parsed(take("filter_status"), parse_statuses, "filter_status"),
            match_title=_parsed(take("match_title"), parse_title_pattern, "match_title"),
            filter_title=_parsed(take("filter_title"), parse_title_pattern, "filter_title"),
        )
    except OptionError as exc:
        flag = f"'--{exc.field.replace('_', '-')}'"
        raise typer.BadParameter(exc.reason, param_hint=flag) from None


def _parsed(text: str | None, parse: Any, name: str) -> Any:
    return None if text is None else parse(text, name)


def _show_progress(
    env: Environment, progress: bool | None, quiet: bool, output: str | None, *, typing: bool
) -> bool:
    """The bar: when stderr is a terminal and the records go to that same terminal or to a
    file; `--progress` forces it (even with -q), `--no-progress` and `-q` hide it. Not
    while URLs are typed on that terminal (`-` with stdin a terminal)."""
    if progress is not None:
        return progress
    if quiet or not env.stderr.isatty() or (typing and env.stdin_isatty):
        return False
    return output is not None or env.same_terminal


def _colour(env: Environment, choice: str, output: str | None) -> bool:
    """Colour for text records: `always`, or `auto` on a terminal unless NO_COLOR is set
    or TERM is dumb."""
    if choice == "never":
        return False
    if choice == "always":
        return True
    if output is not None or not env.stdout_isatty:
        return False
    return not env.environ.get("NO_COLOR") and env.environ.get("TERM") != "dumb"


def _check_combination(
    *, first_only: bool, resume: bool, output: str | None, fmt: str, grace: bool,
    parts: str | None,
) -> None:  # fmt: skip
    """Reject flags that mean nothing together, before any work is done (`grace`: the
    option was given)."""
    usage = click_exceptions().UsageError
    if resume and first_only:
        raise usage("--resume does not combine with --first-only: a race has no list to continue")
    if grace and first_only:
        raise usage("--grace does not combine with --first-only: a race stops at once")
    if parts is not None and output is not None:
        raise usage("--parts and --output do not combine: the records go to the parts")
    if parts is not None and first_only:
        raise usage("--parts does not combine with --first-only: a race writes one record")
    if resume and output is None and parts is None:
        raise usage("--resume needs --output FILE or --parts DIR (what to continue)")
    if resume and not FORMATS[fmt].resumable:
        raise usage("--resume needs --format jsonl (records it can read)")


def _check_executor(options: FetchOptions) -> None:
    spec = EXECUTORS[options.executor]
    if spec.needs is not None and importlib.util.find_spec(spec.needs) is None:
        raise click_exceptions().UsageError(
            f"-e {spec.name} needs {spec.needs}: pip install 'fetcher[{spec.extra}]'"
        )
