"""The `fetcher` command line: one typer app, its commands, and one-line errors.

`fetcher INPUT...` is the main form (the `fetch` command); `serve` and `bench` sit
beside it. Only typer is imported at start-up: the HTTP client, the pools and tqdm are
imported when a command runs, so `fetcher --help` stays fast. Every error is one line on
stderr (`fetcher: error: ...`) with a meaningful exit status and a pointer to the
`--help` of the command it concerns, never a traceback; a mistyped choice gets a "did
you mean". Shell completion is typer's (`--install-completion`, `--show-completion`).
"""

from __future__ import annotations

import difflib
import re
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from .._compat import click_exceptions
from .._version import __version__
from .bench import bench_command
from .env import Environment, Stderr
from .exit import ExitCode
from .fetch import PARAMETER_SECTIONS, fetch_command
from .helptext import COMMANDS, HelpCommandMixin, option_sections
from .serve import serve_command

__all__ = ["app"]


class DefaultCommandGroup(TyperGroup):
    """A group whose default command runs when the first argument names no command.

    A URL list whose file name is also a command's name is reached with a path:
    `fetcher ./bench`.
    """

    default_command = "fetch"

    #: Options of the group itself (all eager: each ends the program).
    group_options = ("--version", "--install-completion", "--show-completion")

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        first = args[0] if args else None
        if first is None or first not in (*self.commands, *self.group_options):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run with one-line errors: `fetcher: error: ...` and a meaningful exit code."""
        kwargs["standalone_mode"] = False
        kwargs.setdefault("prog_name", "fetcher")
        errors = click_exceptions()
        try:
            code = super().main(*args, **kwargs)
        except errors.UsageError as exc:
            message = f"{_did_you_mean(exc).rstrip('.')} (see '{_help_of(exc.ctx)}')"
            if _help_of(exc.ctx) == "fetcher --help":  # the fetch command: --stats says it too
                from .summary import refusal_stats

                refusal_stats(_arguments(args, kwargs), message)
            _fail(message, ExitCode.USAGE)
        except errors.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except typer.Abort:
            _fail("aborted", ExitCode.INTERRUPTED)
        except Exception as exc:  # a bug: still one line, never a traceback
            _fail(f"internal error: {type(exc).__name__}: {exc}", ExitCode.INTERNAL)
        sys.exit(code if isinstance(code, int) else ExitCode.OK)


def _arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[str]:
    """The command-line arguments `main` was called with (click's `args`, else argv)."""
    given = kwargs.get("args", args[0] if args else None)
    return list(given) if given is not None else sys.argv[1:]


def _help_of(ctx: Any) -> str:
    """The help to point to: that of the command the error concerns."""
    name = getattr(ctx, "info_name", None) if ctx is not None else None
    return f"fetcher {name} --help" if name in ("serve", "bench") else "fetcher --help"


_NOT_ONE_OF = re.compile(r"'(?P<value>[^']*)' is not one of (?P<choices>'.*')")


def _did_you_mean(exc: Any) -> str:
    """A usage error's message, with the closest choice when a choice was mistyped."""
    message: str = exc.format_message().replace("Value error, ", "")  # typer with pydantic
    match = _NOT_ONE_OF.search(message)
    if match:
        choices = re.findall(r"'([^']*)'", match["choices"])
        close = difflib.get_close_matches(match["value"], choices, n=1, cutoff=0.6)
        if close:
            message = f"{message.rstrip('.')} (did you mean {close[0]!r}?)"
    return message


class MainCommand(TyperCommand):
    """The default command: its usage line shows the main form, its options come in
    sections (`helptext.option_sections`)."""

    def format_usage(self, ctx: Any, formatter: Any) -> None:
        formatter.write_usage("fetcher", "[OPTIONS] INPUT...\n       fetcher COMMAND ...")

    def format_options(self, ctx: Any, formatter: Any) -> None:
        for title, records in option_sections(self, ctx, PARAMETER_SECTIONS):
            with formatter.section(title):
                formatter.write_dl(records)

    def format_epilog(self, ctx: Any, formatter: Any) -> None:
        formatter.write_paragraph()
        formatter.write_text("Commands (fetcher COMMAND --help for each):")
        with formatter.indentation():
            formatter.write_dl(list(COMMANDS.items()))
        formatter.write_paragraph()
        formatter.write_text(
            "Shell completion: fetcher --install-completion (or --show-completion to see "
            "the script). Manual page: man ./docs/fetcher.1 in a clone. Version: fetcher "
            "--version."
        )


def _fail(message: str, code: int) -> None:
    Stderr().line(f"fetcher: error: {message}")
    sys.exit(code)


class ToolCommand(HelpCommandMixin, TyperCommand):
    """`serve` and `bench`: options in the same style as the main command's."""


app = typer.Typer(
    cls=DefaultCommandGroup,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        stdout = Environment.from_process().stdout
        if stdout is None:
            raise click_exceptions().UsageError("standard output is closed")
        stdout.write(f"fetcher {__version__}\n".encode())
        raise typer.Exit()


@app.callback()
def _group(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Download web pages concurrently and print their titles."""


app.command("fetch", cls=MainCommand)(fetch_command)
app.command("serve", cls=ToolCommand)(serve_command)
app.command("bench", cls=ToolCommand)(bench_command)
