"""The `fetcher` command line: one typer app, its commands, and one-line errors.

`fetcher URLS` is the main form (the `fetch` command); `serve` and `bench` sit beside
it. Only typer is imported at start-up: the HTTP client, the pools and tqdm are imported
when a command runs, so `fetcher --help` stays fast. Every error is one line on stderr
(`fetcher: error: ...`) with a meaningful exit status, never a traceback.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from .._compat import click_exceptions
from .._version import __version__
from .bench import bench_command
from .env import Environment, Stderr
from .exit import ExitCode
from .fetch import fetch_command
from .serve import serve_command

__all__ = ["COMMANDS", "app"]

#: The commands beside the main form, with their one-line summaries.
COMMANDS = {
    "fetch": "Fetch a URL list (the default: this page).",
    "serve": "Serve a local test site on 127.0.0.1.",
    "bench": "Measure the executors against each other and baselines.",
}


class DefaultCommandGroup(TyperGroup):
    """A group whose default command runs when the first argument names no command.

    A URL list whose file name is also a command's name is reached with a path:
    `fetcher ./bench`.
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
        errors = click_exceptions()
        try:
            code = super().main(*args, **kwargs)
        except errors.UsageError as exc:
            _fail(f"{exc.format_message()} (see 'fetcher --help')", ExitCode.USAGE)
        except errors.ClickException as exc:
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
            formatter.write_dl(list(COMMANDS.items()))


def _fail(message: str, code: int) -> None:
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
app.command("serve")(serve_command)
app.command("bench")(bench_command)
