"""The command line: in-process through typer's CliRunner, and as a real subprocess."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fetcher import FIELDS, __version__
from fetcher.cli.app import app
from tests.support.executors import LOCAL
from tests.support.local import LocalServer

runner = CliRunner()
FETCHER = Path(sys.executable).with_name("fetcher")


def write_list(tmp_path: Path, *lines: str) -> str:
    path = tmp_path / "urls.txt"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_text_output_exit_code_and_summary(
    server: LocalServer, tmp_path: Path, refused_url: str
) -> None:
    ok = server.html("/cli/ok", "<title>Hello   world</title>")
    missing = server.html("/cli/missing", "<title>Not found</title>", status=404)
    urls = write_list(tmp_path, "# a comment", "", ok, "  " + missing + "  ", refused_url)

    result = runner.invoke(app, [urls, "-w", "2", "--retries", "0"])

    assert result.exit_code == 1
    lines = sorted(result.stdout.splitlines())
    assert len(lines) == 3
    assert any(line.startswith("200 ") and line.endswith(f"{ok}  Hello world") for line in lines)
    assert any(line.startswith("404 ") and line.endswith(f"{missing}  Not found") for line in lines)
    assert any(
        line.startswith("ERR ") and line.endswith(f"{refused_url}  [connection refused]")
        for line in lines
    )
    assert "fetcher: 3 URLs, 1 ok, 2 failed in" in result.stderr
    assert "(thread pool, 2 workers)" in result.stderr


def test_exit_zero_when_every_url_is_fine(server: LocalServer, tmp_path: Path) -> None:
    ok = server.html("/cli/fine", "<title>Fine</title>")
    result = runner.invoke(app, [write_list(tmp_path, ok, ok), "--quiet"])
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 2
    assert result.stderr == ""  # --quiet: no summary


def test_jsonl_records_have_every_field_in_order(server: LocalServer, tmp_path: Path) -> None:
    ok = server.html("/cli/json", "<title>JSON &lt;3</title>")
    result = runner.invoke(app, [write_list(tmp_path, ok), "--format", "jsonl", "-q"])
    assert result.exit_code == 0
    record = json.loads(result.stdout)
    assert tuple(record) == FIELDS
    assert record["url"] == ok and record["final_url"] == ok
    assert (record["status"], record["title"], record["error"]) == (200, "JSON <3", None)
    assert record["bytes"] == len(b"<title>JSON &lt;3</title>") and record["elapsed"] > 0


def test_csv_has_a_header_and_neutralises_formulas(server: LocalServer, tmp_path: Path) -> None:
    url = server.html("/cli/csv", '<title>=HYPERLINK("http://evil")</title>')
    result = runner.invoke(app, [write_list(tmp_path, url), "-f", "csv", "-q"])
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == list(FIELDS)
    assert rows[1][FIELDS.index("title")] == '\'=HYPERLINK("http://evil")'
    assert rows[1][FIELDS.index("status")] == "200"


HOSTILE = "<title>Safe\x1b]0;pwned\x07\x1b[2J\u202eevil\u2028x\x9b31m</title>"


def test_control_characters_never_reach_text_output(server: LocalServer, tmp_path: Path) -> None:
    url = server.html("/cli/hostile-text", HOSTILE)
    result = runner.invoke(app, [write_list(tmp_path, url), "-q"])
    line = result.stdout.rstrip("\n")
    assert line.endswith("Safeevil x")  # U+2028 is whitespace in a title
    assert all(ch.isprintable() for ch in line)


def test_control_characters_are_escaped_in_jsonl(server: LocalServer, tmp_path: Path) -> None:
    url = server.html("/cli/hostile-json", HOSTILE)
    result = runner.invoke(app, [write_list(tmp_path, url), "-q", "-f", "jsonl"])
    line = result.stdout.rstrip("\n")
    assert all(ch.isprintable() for ch in line)
    assert "\\u001b" in line and "\\u202e" in line and "\\u009b" in line
    title = json.loads(line)["title"]
    assert title == "Safe\x1b]0;pwned\x07\x1b[2J\u202eevil x\x9b31m"


def test_control_characters_never_reach_csv(server: LocalServer, tmp_path: Path) -> None:
    url = server.html("/cli/hostile-csv", HOSTILE)
    result = runner.invoke(app, [write_list(tmp_path, url), "-q", "-f", "csv"])
    assert all(ch.isprintable() or ch == "\n" for ch in result.stdout)
    assert list(csv.reader(io.StringIO(result.stdout)))[1][FIELDS.index("title")] == "Safeevil x"


def test_urls_from_stdin(server: LocalServer) -> None:
    ok = server.html("/cli/stdin", "<title>From stdin</title>")
    result = runner.invoke(app, ["-", "-f", "jsonl", "-q"], input=f"{ok}\n\n# skip\n{ok}\n")
    assert result.exit_code == 0
    assert [json.loads(line)["title"] for line in result.stdout.splitlines()] == ["From stdin"] * 2


def test_the_fetch_subcommand_is_the_default(server: LocalServer, tmp_path: Path) -> None:
    ok = server.html("/cli/sub", "<title>Sub</title>")
    result = runner.invoke(app, ["fetch", write_list(tmp_path, ok), "-q"])
    assert result.exit_code == 0 and result.stdout.rstrip().endswith("Sub")


def test_first_only_prints_only_the_winner(server: LocalServer, tmp_path: Path) -> None:
    failing = server.html("/cli/first/fail", "<title>no</title>", status=503)
    winner = server.html("/cli/first/win", "<title>Mirror</title>", delay=0.2)
    result = runner.invoke(
        app, [write_list(tmp_path, failing, winner), "--first-only", "-f", "jsonl"]
    )
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["url"] for r in records] == [winner]
    assert "fetcher: first success after" in result.stderr


def test_first_only_with_no_success_names_the_failures(
    server: LocalServer, tmp_path: Path, refused_url: str
) -> None:
    failing = server.html("/cli/first/none", "<title>no</title>", status=500)
    result = runner.invoke(app, [write_list(tmp_path, failing, refused_url), "--first-only"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "fetcher: no URL succeeded (2 failed)" in result.stderr
    assert f"{failing}: HTTP 500" in result.stderr
    assert f"{refused_url}: connection refused" in result.stderr


def test_forced_progress_bar_goes_to_stderr(server: LocalServer, tmp_path: Path) -> None:
    ok = server.html("/cli/progress", "<title>p</title>")
    result = runner.invoke(app, [write_list(tmp_path, ok, ok, ok), "--progress"])
    assert result.exit_code == 0
    assert "0/3 " in result.stderr  # the total is known for a regular file
    assert len(result.stdout.splitlines()) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["missing-file.txt"],
            "cannot read URL list 'missing-file.txt': No such file or directory",
        ),
        (["."], "cannot read URL list '.': Is a directory"),
        (["urls.txt", "--workers", "0"], "Invalid value for '--workers'"),
        (["urls.txt", "--executor", "fibers"], "Invalid value for '--executor'"),
        (["urls.txt", "--format", "xml"], "Invalid value for '--format'"),
        (["urls.txt", "--timeout", "-1"], "Invalid value for '--timeout'"),
        (["urls.txt", "--grace", "-1"], "Invalid value for '--grace'"),
        (["urls.txt", "--grace", "inf"], "Invalid value for '--grace'"),
        (["urls.txt", "--grace", "1", "--first-only"], "a race stops at once"),
        (["urls.txt", "--max-bytes", "lots"], "'lots' is not a size"),
        (["urls.txt", "--bogus"], "No such option: --bogus"),
        ([], "Missing argument 'INPUT...'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("fetcher: error: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


def test_max_bytes_accepts_units(server: LocalServer, tmp_path: Path) -> None:
    url = server.add("/cli/big", stream_bytes=3000, headers={"Content-Type": "text/plain"})
    result = runner.invoke(
        app, [write_list(tmp_path, url), "--max-bytes", "2K", "-q", "-f", "jsonl"]
    )
    record = json.loads(result.stdout)
    assert record["bytes"] == 2048 and record["error"] == "body larger than max-bytes (2048 bytes)"
    assert result.exit_code == 1


def test_version_and_help() -> None:
    assert runner.invoke(app, ["--version"]).stdout == f"fetcher {__version__}\n"
    help_text = runner.invoke(app, ["--help"]).stdout
    assert "Usage: fetcher [OPTIONS] INPUT..." in help_text
    assert "--first-only" in help_text and "--executor" in help_text
    assert "serve  Serve a local test site" in help_text and "bench  Measure" in help_text


# --- the installed command, as a real subprocess ---------------------------------------


def run_fetcher(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FETCHER), *args],
        capture_output=True,
        text=True,
        timeout=60,
        **kwargs,  # type: ignore[call-overload]
    )


def test_installed_command_runs_a_list(server: LocalServer, tmp_path: Path) -> None:
    ok = server.html("/proc/ok", "<title>Subprocess</title>")
    missing = server.html("/proc/404", "<title>Missing</title>", status=404)
    result = run_fetcher(
        write_list(tmp_path, ok, missing, ok), "-f", "jsonl", "-e", "process", "-w", "2"
    )
    assert result.returncode == 1
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(r["url"] for r in records) == sorted([ok, missing, ok])
    assert "Traceback" not in result.stderr
    assert "3 URLs, 2 ok, 1 failed" in result.stderr


@pytest.mark.parametrize("executor", LOCAL)
def test_installed_first_only_returns_promptly_past_a_hang(
    server: LocalServer, tmp_path: Path, executor: str
) -> None:
    hang = server.add(f"/proc/first/hang/{executor}", hang=True)
    winner = server.html(f"/proc/first/win/{executor}", "<title>First</title>", delay=0.2)
    started = time.monotonic()
    # capture_output waits for EOF on stdout: a worker process left behind would hold it open.
    result = run_fetcher(
        write_list(tmp_path, hang, hang, winner), "--first-only", "-e", executor, "--timeout", "60"
    )
    assert time.monotonic() - started < 10  # against a 60 s timeout
    assert result.returncode == 0
    assert result.stdout.rstrip().endswith(f"{winner}  First")


def test_installed_no_network_list_ends_in_seconds(tmp_path: Path) -> None:
    urls = write_list(tmp_path, *(f"host{i}.invalid" for i in range(12)))
    started = time.monotonic()
    result = run_fetcher(urls)
    assert time.monotonic() - started < 10
    assert result.returncode == 1
    assert len(result.stdout.splitlines()) == 12
    assert all(line.startswith("ERR ") for line in result.stdout.splitlines())


def test_a_closed_pipe_ends_the_run_quietly(server: LocalServer, tmp_path: Path) -> None:
    ok = server.html("/proc/pipe", "<title>pipe</title>")
    urls = write_list(tmp_path, *([ok] * 2000))
    with subprocess.Popen(
        [str(FETCHER), urls, "-w", "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()  # like `| head -1`
        stderr = proc.stderr.read().decode()
        assert proc.wait(timeout=30) == 141
    assert first.startswith(b"200 ")
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


@pytest.mark.parametrize(
    ("executor", "whole_group"), [("thread", False), ("process", True), ("hybrid", True)]
)
def test_ctrl_c_prints_finished_records_and_exits_130(
    server: LocalServer, tmp_path: Path, executor: str, whole_group: bool
) -> None:
    fast = server.html(f"/proc/int/fast/{executor}", "<title>done</title>")
    hang = server.add(f"/proc/int/hang/{executor}", hang=True)
    urls = write_list(tmp_path, fast, fast, hang, hang)
    command = [str(FETCHER), urls, "-e", executor, "-w", "4", "-f", "jsonl", "--timeout", "60"]
    command += ["--grace", "0.2"]  # the hanging requests would hold the stop for the grace
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        assert proc.stdout is not None
        lines = [proc.stdout.readline(), proc.stdout.readline()]  # both fast URLs finished
        if whole_group:
            os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C does
        else:
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    records = [json.loads(line) for line in lines + out.splitlines()]
    assert [r["url"] for r in records] == [fast, fast]
    assert "finishing requests in flight (up to 0.2s; again to stop now)" in err
    assert "interrupted after" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err


def test_import_and_help_stay_light() -> None:
    code = (
        "import sys\n"
        "import fetcher\n"
        "light = not any(m in sys.modules for m in ('typer', 'httpx', 'tqdm', 'bs4'))\n"
        "from fetcher.cli.app import app\n"
        "try:\n"
        "    app(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('httpx', 'tqdm', 'bs4') if m in sys.modules]\n"
        "print(light, heavy, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30
    )
    assert result.stderr.strip() == "True []"


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fetcher", "--version"], capture_output=True, text=True, timeout=30
    )
    assert (result.returncode, result.stdout) == (0, f"fetcher {__version__}\n")
