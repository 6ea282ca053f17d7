"""What a person sees in a real terminal: the installed `fetcher` on a pseudo-terminal
with a real window size (the progress bar, its counts, colour, the last line left)."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

from tests.support.local import LocalServer
from tests.support.terminal import run_on_terminal

FETCHER = str(Path(sys.executable).with_name("fetcher"))
BAR = (b"%|", b"url/s", b"url]")  # what only a progress bar draws


def has_bar(output: bytes) -> bool:
    return any(part in output for part in BAR)


@pytest.fixture
def pages(server: LocalServer, tmp_path: Path) -> str:
    """A list of 12 pages, each answered after 50 ms."""
    urls = [server.html(f"/term/{n}", f"<title>Page {n}</title>", delay=0.05) for n in range(12)]
    path = tmp_path / "urls.txt"
    path.write_text("\n".join(urls) + "\n")
    return str(path)


def test_no_bar_when_records_go_to_a_pipe(pages: str) -> None:
    """`fetcher list -f jsonl | jq`: stderr is the terminal, stdout a pipe: no bar."""
    run = run_on_terminal([FETCHER, pages, "-f", "jsonl", "-w", "4"], stdout="pipe")
    assert run.returncode == 0
    assert not has_bar(run.terminal)
    assert len(run.stdout.splitlines()) == 12
    assert all(json.loads(line)["status"] == 200 for line in run.stdout.splitlines())
    assert run.screen.last_line.startswith("fetcher: 12 URLs, 12 ok, 0 failed in")


@pytest.mark.parametrize("columns", [120, 60])
def test_bar_on_the_terminal_the_records_go_to_is_cleared_at_the_end(
    pages: str, columns: int
) -> None:
    run = run_on_terminal([FETCHER, pages, "-w", "2"], columns=columns)
    assert run.returncode == 0
    assert has_bar(run.terminal)
    screen = run.screen
    records = [line for line in screen.visible if line.startswith("200 ")]
    assert len(records) == 12  # the bar never tore a record
    assert all(line.endswith(f"Page {line.split('/term/')[1].split()[0]}") for line in records)
    assert screen.last_line.startswith("fetcher: 12 URLs, 12 ok, 0 failed in")
    assert not any(has_bar(line.encode()) for line in screen.visible)


def test_bar_when_records_go_to_a_file(pages: str, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    run = run_on_terminal([FETCHER, pages, "-o", str(out)], stdout="pipe")
    assert run.returncode == 0
    assert has_bar(run.terminal)
    assert len(out.read_text().splitlines()) == 12
    assert run.screen.last_line.startswith("fetcher: 12 URLs")


def test_no_bar_for_output_dash_even_on_a_terminal_stderr(pages: str) -> None:
    run = run_on_terminal([FETCHER, pages, "-o", "-", "-f", "jsonl"], stdout="pipe")
    assert not has_bar(run.terminal)


@pytest.mark.parametrize(
    ("flags", "bar", "summary"),
    [
        (["--progress"], True, True),
        (["--progress", "-q"], True, False),  # --progress beats -q
        (["--no-progress"], False, True),
        (["-q"], False, False),
    ],
)
def test_progress_flags(pages: str, flags: list[str], bar: bool, summary: bool) -> None:
    run = run_on_terminal([FETCHER, pages, "-f", "jsonl", *flags], stdout="pipe")
    assert has_bar(run.terminal) is bar
    assert (b"fetcher: 12 URLs" in run.terminal) is summary
    assert not any(has_bar(line.encode()) for line in run.screen.visible)


def test_ctrl_c_leaves_the_summary_last_never_a_bar(server: LocalServer, tmp_path: Path) -> None:
    slow = [server.html(f"/term/slow/{n}", "<title>S</title>", delay=0.3) for n in range(40)]
    path = tmp_path / "slow.txt"
    path.write_text("\n".join(slow) + "\n")
    out = tmp_path / "out.jsonl"
    run = run_on_terminal(
        [FETCHER, str(path), "-w", "2", "-o", str(out)],
        stdout="pipe",
        until=lambda seen: b"ok=" in seen,  # the bar shows counts: some record is written
        then_signal=signal.SIGINT,
    )
    assert run.returncode == 130
    lines = run.screen.visible
    assert not any(has_bar(line.encode()) for line in lines)
    assert lines[-1].startswith("fetcher: to continue: fetcher ")
    assert lines[-1].endswith(" --resume")
    assert any(line.startswith("fetcher: ") and " of 40, " in line for line in lines)


def test_head_closing_the_pipe_leaves_no_bar(pages: str) -> None:
    run = run_on_terminal([FETCHER, pages, "-w", "1", "--progress"], stdout="head")
    assert run.returncode == 141
    assert not any(has_bar(line.encode()) for line in run.screen.visible)


def test_bar_says_when_the_per_host_cap_holds_the_run_back(
    server: LocalServer, tmp_path: Path
) -> None:
    urls = [server.html(f"/term/cap/{n}", "<title>C</title>", delay=1.0) for n in range(12)]
    path = tmp_path / "cap.txt"
    path.write_text("\n".join(urls) + "\n")
    run = run_on_terminal(
        [FETCHER, str(path), "-w", "8", "--per-host", "1", "-o", str(tmp_path / "o.jsonl")],
        stdout="pipe",
        until=lambda seen: b"per-host cap" in seen,
        then_signal=signal.SIGINT,
        timeout=30,
    )
    assert b"per-host cap" in run.terminal
    # it appeared before the first record finished, so it is the ticker's doing
    before = run.terminal.split(b"per-host cap")[0]
    assert b"ok=" not in before


@pytest.mark.parametrize(
    ("env", "flags", "coloured"),
    [
        ({}, [], True),
        ({"NO_COLOR": "1"}, [], False),
        ({"TERM": "dumb"}, [], False),
        ({"NO_COLOR": "1"}, ["--color", "always"], True),
        ({}, ["--color", "never"], False),
        ({}, ["-f", "jsonl"], False),
    ],
)
def test_colour_on_a_terminal(
    pages: str, env: dict[str, str], flags: list[str], coloured: bool
) -> None:
    run = run_on_terminal(
        [FETCHER, pages, "-w", "4", "--no-progress", *flags], env={"TERM": "xterm", **env}
    )
    assert run.returncode == 0
    assert (b"\x1b[32m200\x1b[0m" in run.terminal) is coloured


def test_waiting_for_stdin_on_a_terminal_is_said(tmp_path: Path) -> None:
    run = run_on_terminal(
        [FETCHER, "-"],
        until=lambda seen: b"standard input" in seen,
        then_signal=signal.SIGINT,
        timeout=20,
    )
    assert b"fetcher: reading URLs from standard input" in run.terminal
    assert run.returncode == 130


def test_ctrl_c_typed_on_the_terminal_leaves_no_bar_behind(
    server: LocalServer, tmp_path: Path
) -> None:
    """The terminal echoes `^C` after the bar: the bar is narrower than the window, so the
    echo cannot wrap onto a line the clearing would miss, and the line is erased."""
    slow = [server.html(f"/term/typed/{n}", "<title>S</title>", delay=0.3) for n in range(40)]
    path = tmp_path / "slow.txt"
    path.write_text("\n".join(slow) + "\n")
    run = run_on_terminal(
        [FETCHER, str(path), "-w", "2", "-o", str(tmp_path / "out.jsonl")],
        stdout="pipe",
        columns=80,
        until=lambda seen: b"ok=" in seen,
        then_type=b"\x03",
    )
    assert run.returncode == 130
    assert b"^C" in run.terminal  # echoed by the terminal, as for a person
    lines = run.screen.visible
    assert not any(has_bar(line.encode()) or "^C" in line for line in lines), lines
    assert lines[-1].endswith(" --resume")
