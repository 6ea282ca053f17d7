"""Help, messages, units and shell completion: what a newcomer reads first."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from fetcher import EXECUTORS
from fetcher._core.options import SECTIONS
from fetcher._output.formats import format_size
from fetcher.cli.app import app
from tests.support.local import LocalServer

runner = CliRunner()
FETCHER = str(Path(sys.executable).with_name("fetcher"))
#: An option's names and metavar as --help shows them: flags, then one upper-case word.
OPTION = re.compile(r"(-\w, )?--[\w-]+( / --[\w-]+)?( [A-Z][A-Z_]*| 'NAME: VALUE')?")


def help_of(*command: str) -> str:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "100"}, prog_name="fetcher")
    assert result.exit_code == 0
    return result.stdout


def test_options_come_in_sections_in_order() -> None:
    text = help_of()
    titles = [line.rstrip(":") for line in text.splitlines() if line and not line[0].isspace()]
    assert titles[:2] == ["Usage: fetcher [OPTIONS] INPUT...", "Arguments"]
    assert titles[2:8] == [*SECTIONS, "Other options"]
    assert "Commands (fetcher COMMAND --help for each)" in titles[8:]


@pytest.mark.parametrize("command", [(), ("serve",), ("bench",)])
def test_one_metavar_style_and_defaults_as_typed(command: tuple[str, ...]) -> None:
    group: Any = typer.main.get_command(app)
    ctx = group.context_class(group, info_name="fetcher")
    cmd = group.get_command(ctx, command[0] if command else "fetch")
    cmd_ctx = cmd.context_class(cmd, info_name=cmd.name, parent=ctx)
    from fetcher.cli.helptext import help_record

    for param in cmd.get_params(cmd_ctx):
        record = help_record(param, cmd_ctx)
        if record is None or param.param_type_name == "argument":
            continue
        names, text = record
        assert OPTION.fullmatch(names), names
        assert "<" not in text and "RANGE" not in text and "[default: (" not in text
        assert not re.search(r"\bx[<>]=|[<>]=x\b", text), text
    options = help_of(*command).split("Options:" if command else "What to fetch:")[1]
    assert "INTEGER" not in options and "FLOAT" not in options and "<" not in options


def test_max_bytes_default_reads_10m() -> None:
    assert "[default: 10M]" in help_of().replace("\n", " ")
    assert "10485760" not in help_of()


def test_bench_usage_has_one_pair_of_brackets() -> None:
    assert help_of("bench").splitlines()[0] == "Usage: fetcher bench [OPTIONS] [LIST]"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["u.txt", "-f", "json"], "(did you mean 'jsonl'?)"),
        (["u.txt", "-e", "proces"], "(did you mean 'process'?)"),
        (["u.txt", "--color", "alway"], "(did you mean 'always'?)"),
        (["u.txt", "--wokers", "3"], "No such option: --wokers"),
        (["serv"], "(did you mean 'serve'?)"),
    ],
)
def test_did_you_mean(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["serve", "--port", "x"], "fetcher serve"),
        (["bench", "--workers", "0"], "fetcher bench"),
        (["bench", "--bogus"], "fetcher bench"),
        (["u.txt", "--workers", "0"], "fetcher"),
    ],
)
def test_errors_point_to_the_help_of_their_command(args: list[str], command: str) -> None:
    result = runner.invoke(app, [*args, "--local"] if args[0] == "bench" else args)
    assert result.exit_code == 2
    assert result.stderr.endswith(f"(see '{command} --help')\n")


@pytest.mark.parametrize("value", ["2K", "2KiB", "2KB", "2k", "2048"])
def test_max_bytes_units_are_1024_based(server: LocalServer, value: str) -> None:
    url = server.add("/help/big", stream_bytes=3000, headers={"Content-Type": "text/plain"})
    result = runner.invoke(app, [url, "--max-bytes", value, "-q", "-f", "jsonl"])
    assert json.loads(result.stdout)["bytes"] == 2048


def test_text_output_sizes_are_in_kib(server: LocalServer) -> None:
    url = server.add("/help/kib", body=b"x" * 20_480, headers={"Content-Type": "text/plain"})
    result = runner.invoke(app, [url, "-q"])
    assert "  20.0 KiB  " in result.stdout
    assert format_size(20_480) == "20.0 KiB"


def completions(*words: str) -> list[str]:
    env = {**os.environ, "_FETCHER_COMPLETE": "complete_bash"}
    env |= {"COMP_WORDS": " ".join(["fetcher", *words]), "COMP_CWORD": str(len(words))}
    done = subprocess.run([FETCHER], env=env, capture_output=True, text=True, timeout=30)
    return done.stdout.split()


def test_shell_completion_of_options_and_choices() -> None:
    assert "--workers" in completions("--wor")
    assert completions("-e", "") == list(EXECUTORS)
    assert completions("bench", "--pre") == ["--preset"]


def test_completion_scripts_are_shown() -> None:
    env = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    done = subprocess.run(
        [FETCHER, "--show-completion", "bash"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0
    assert "complete -o default -F _fetcher_completion fetcher" in done.stdout


def test_completion_options_are_in_the_help() -> None:
    text = help_of()
    assert "--install-completion" in text and "--show-completion" in text


def test_the_first_input_completes_to_a_command() -> None:
    assert completions("se") == ["serve"]
    assert completions("x") == []  # the shell's own file completion then
