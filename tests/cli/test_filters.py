"""`--match-*` / `--filter-*`, the summary and `--stats`."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fetcher.cli.app import app
from fetcher.cli.run import FILTERED_SUFFIX
from tests.support.local import LocalServer

runner = CliRunner()
FETCHER = str(Path(sys.executable).with_name("fetcher"))


def records(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def site(server: LocalServer, refused_url: str) -> dict[str, str]:
    return {
        "ok": server.html("/flt/ok", "<title>Welcome home</title>"),
        "created": server.html("/flt/created", "<title>Made</title>", status=201),
        "moved": server.add("/flt/moved", status=301, headers={"Location": "/flt/ok"}),
        "missing": server.html("/flt/missing", "<title>Not Found</title>", status=404),
        "broken": server.html("/flt/broken", "<title>Oops</title>", status=500),
        "untitled": server.add(
            "/flt/untitled", body=b"plain", headers={"Content-Type": "text/plain"}
        ),
        "refused": refused_url,
    }


def fetched(args: list[str], site: dict[str, str]) -> tuple[int, set[str], str]:
    result = runner.invoke(app, [*site.values(), "-f", "jsonl", "--retries", "0", *args])
    names = {name for name, url in site.items() for r in records(result.stdout) if r["url"] == url}
    return result.exit_code, names, result.stderr


@pytest.mark.parametrize(
    ("args", "written"),
    [
        (["--match-status", "200"], {"ok", "moved", "untitled"}),  # 301 followed to a 200
        (["--match-status", "2xx"], {"ok", "created", "moved", "untitled"}),
        (["--match-status", "201-404"], {"created", "missing"}),
        (["--match-status", "err"], {"refused"}),
        (["--match-status", "404, 500"], {"missing", "broken"}),
        (["--filter-status", "4xx,5xx,err"], {"ok", "created", "moved", "untitled"}),
        (["--match-title", "(?i)welcome"], {"ok", "moved"}),
        (["--filter-title", "Oops|Found"], {"ok", "created", "moved", "untitled", "refused"}),
        (["--match-status", "2xx", "--filter-title", "Made"], {"ok", "moved", "untitled"}),
        (["--no-follow", "--match-status", "3xx"], {"moved"}),
    ],
)
def test_match_and_filter(site: dict[str, str], args: list[str], written: set[str]) -> None:
    code, names, stderr = fetched(args, site)
    assert names == written
    filtered = len(site) - len(written)
    assert f"{filtered} filtered" in stderr
    failing = written & {"missing", "broken", "refused"}
    assert code == (1 if failing else 0)  # from the records written only


def test_a_record_without_a_title_never_matches_a_title_pattern(site: dict[str, str]) -> None:
    _, names, _ = fetched(["--match-title", ".*"], site)
    assert "untitled" not in names and "refused" not in names


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--match-status", "2x", "'2x' is not a status list"),
        ("--filter-status", "600", "'600' is not a status list"),
        ("--match-status", "300-200", "'300-200' is not a status list"),
        ("--match-title", "(", "'(' is not a regular expression"),
    ],
)
def test_bad_filters_are_usage_errors(flag: str, value: str, message: str) -> None:
    result = runner.invoke(app, ["urls.txt", flag, value])
    assert result.exit_code == 2
    assert f"Invalid value for '{flag}': {message}" in result.stderr


def test_filtered_bodies_are_still_saved(server: LocalServer, tmp_path: Path) -> None:
    url = server.html("/flt/save", "<title>Saved anyway</title>")
    result = runner.invoke(
        app, [url, "--filter-status", "200", "--save", str(tmp_path / "pages"), "-q"]
    )
    assert result.exit_code == 0 and result.stdout == ""
    assert [p.read_bytes() for p in (tmp_path / "pages").rglob("*") if p.is_file()] == [
        b"<title>Saved anyway</title>"
    ]


def test_first_only_takes_the_first_success_that_passes(server: LocalServer) -> None:
    fast = server.html("/flt/first/fast", "<title>Wrong mirror</title>")
    slow = server.html("/flt/first/slow", "<title>Right mirror</title>", delay=0.3)
    result = runner.invoke(
        app, [fast, slow, "--first-only", "--match-title", "Right", "-f", "jsonl"]
    )
    assert result.exit_code == 0
    assert [r["url"] for r in records(result.stdout)] == [slow]
    assert "1 filtered" in result.stderr


def test_resume_skips_what_was_filtered(server: LocalServer, tmp_path: Path) -> None:
    keep = server.html("/flt/resume/keep", "<title>keep</title>")
    drop = server.html("/flt/resume/drop", "<title>drop</title>", status=404)
    out = tmp_path / "out.jsonl"
    first = runner.invoke(app, [keep, drop, "-o", str(out), "--filter-status", "404", "-q"])
    assert first.exit_code == 0
    assert [r["url"] for r in records(out.read_text())] == [keep]
    remembered = Path(str(out) + FILTERED_SUFFIX)
    assert [r["url"] for r in records(remembered.read_text())] == [drop]
    server.reset_counts()
    again = runner.invoke(app, [keep, drop, "-o", str(out), "--resume"])
    assert again.exit_code == 0
    assert server.hits.get("/flt/resume/drop", 0) == 0  # remembered as finished
    assert "2 skipped, finished in an earlier run" in again.stderr


def test_summary_counts_by_status_then_kind(server: LocalServer, refused_url: str) -> None:
    urls = (
        [server.html("/flt/sum/ok", "<title>a</title>")] * 3
        + [server.html("/flt/sum/404", "<title>b</title>", status=404)] * 2
        + [refused_url]
    )
    result = runner.invoke(app, [*urls, "--retries", "0", "-q", "--no-progress"])
    assert result.exit_code == 1
    result = runner.invoke(app, [*urls, "--retries", "0", "-w", "2"])
    line = result.stderr.splitlines()[-1]
    assert line.startswith("fetcher: 6 URLs, 3 ok, 3 failed in ")
    assert ": 200: 3, 404: 2, refused: 1 (thread pool, 2 workers)" in line


def test_summary_beyond_six_statuses_sums_by_class(server: LocalServer) -> None:
    codes = [200, 201, 202, 203, 204, 206, 207, 208, 404, 410]
    urls = [server.add(f"/flt/many/{code}", status=code) for code in codes]
    result = runner.invoke(app, [*urls, urls[0], "-f", "jsonl"])
    line = result.stderr.splitlines()[-1]
    breakdown = line.split("s: ", 1)[1].rsplit(" (", 1)[0]  # after "in 0.12s: "
    parts = [part.split(": ") for part in breakdown.split(", ")]
    assert parts[0] == ["200", "2"]  # most frequent first
    named, summed = parts[:6], parts[6:]
    assert all(name.isdigit() for name, _ in named)
    assert summed and all(name in ("2xx", "4xx") for name, _ in summed)
    assert sum(int(count) for _, count in summed) == 4


def test_one_url_is_singular(server: LocalServer) -> None:
    url = server.html("/flt/one", "<title>1</title>")
    result = runner.invoke(app, [url, "-w", "1"])
    assert "fetcher: 1 URL, 1 ok, 0 failed in " in result.stderr
    assert "(thread pool, 1 worker)" in result.stderr


STATS_KEYS = {
    "exit_status", "signal", "written", "ok", "failed", "filtered", "finished", "by_status",
    "by_kind", "elapsed", "executor", "workers", "total", "skipped", "read", "abandoned",
    "never_started", "retries", "resubmitted", "resume_command",
}  # fmt: skip


def test_stats_file_with_quiet(server: LocalServer, tmp_path: Path) -> None:
    url = server.html("/flt/stats", "<title>s</title>")
    missing = server.html("/flt/stats/404", "<title>s</title>", status=404)
    listed = tmp_path / "list.txt"
    listed.write_text(f"{url}\n{missing}\n")
    stats = tmp_path / "stats.json"
    result = runner.invoke(app, [str(listed), "-q", "--stats", str(stats)])
    assert result.exit_code == 1 and result.stderr == ""
    data = json.loads(stats.read_text())
    assert set(data) == STATS_KEYS
    assert data["exit_status"] == 1 and data["signal"] is None
    assert (data["written"], data["ok"], data["failed"], data["total"]) == (2, 1, 1, 2)
    assert data["by_status"] == {"200": 1, "404": 1}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_stats_file_on_a_usage_error(tmp_path: Path) -> None:
    stats = tmp_path / "stats.json"
    result = runner.invoke(app, [str(tmp_path / "missing.txt"), "--stats", str(stats)])
    assert result.exit_code == 2
    data = json.loads(stats.read_text())
    assert data["exit_status"] == 2 and "missing.txt" in data["error"]


def test_ctrl_c_summary_says_how_far_and_how_to_continue(
    server: LocalServer, tmp_path: Path
) -> None:
    fast = server.html("/flt/int/fast", "<title>f</title>")
    hang = server.add("/flt/int/hang", hang=True)
    listed = tmp_path / "my list.txt"
    listed.write_text(f"{fast}\n{fast}\n" + f"{hang}\n" * 6)
    out, stats = tmp_path / "out.jsonl", tmp_path / "stats.json"
    command = [FETCHER, str(listed), "-w", "2", "-o", str(out), "--stats", str(stats)]
    command += ["--grace", "0.2"]  # the hanging requests would hold the stop for the grace
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as proc:
        server.wait_for(lambda s: s.hits.get("/flt/int/hang", 0) >= 2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    lines = err.splitlines()
    assert lines[-3].startswith("fetcher: 2 URLs, 2 ok, 0 failed interrupted after ")
    assert re.fullmatch(  # the list is read up to a window ahead of the pool
        r"fetcher: [4-8] read of 8, 2 finished, 2 abandoned in flight, 4 never started",
        lines[-2],
    )
    assert lines[-1] == (
        f"fetcher: to continue: fetcher '{listed}' -w 2 -o {out} --stats {stats} --grace 0.2 "
        "--resume"
    )
    data = json.loads(stats.read_text())
    assert (data["exit_status"], data["signal"]) == (130, "SIGINT")
    assert (data["abandoned"], data["never_started"]) == (2, 4)
    assert data["resume_command"] == lines[-1].removeprefix("fetcher: to continue: ")


def test_ctrl_c_with_stdin_says_why_there_is_no_command(
    server: LocalServer, tmp_path: Path
) -> None:
    hang = server.add("/flt/int/stdin", hang=True)
    out = tmp_path / "out.jsonl"
    with subprocess.Popen(
        [FETCHER, "-", "-o", str(out), "--grace", "0.2"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdin is not None
        proc.stdin.write(f"{hang}\n")
        proc.stdin.close()
        server.wait_for(lambda s: s.hits.get("/flt/int/stdin", 0) >= 1)
        proc.send_signal(signal.SIGINT)
        assert proc.stderr is not None
        err = proc.stderr.read()
        proc.wait(timeout=30)
    assert proc.returncode == 130
    assert err.splitlines()[-1] == (
        "fetcher: to continue, give the URLs as a file (stdin cannot be read again)"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--match-status", "foo"],
        ["-o", "/nonexistent-folder/x.jsonl"],
        ["--resume", "--first-only", "-o", "x.jsonl"],
        ["--workers", "0"],
        ["--bogus"],
    ],
)
def test_stats_file_on_every_usage_error(
    server: LocalServer, tmp_path: Path, args: list[str]
) -> None:
    url = server.html("/flt/stats/usage", "<title>u</title>")
    stats = tmp_path / "stats.json"
    result = runner.invoke(app, [url, *args, "--stats", str(stats)])
    assert result.exit_code == 2
    data = json.loads(stats.read_text())
    assert data["exit_status"] == 2 and data["error"] == result.stderr.removeprefix(
        "fetcher: error: "
    ).rstrip("\n")


@pytest.mark.parametrize("which", ["output", "filtered", "list", "other"])
def test_stats_never_replaces_another_file(server: LocalServer, tmp_path: Path, which: str) -> None:
    url = server.html("/flt/stats/same", "<title>s</title>")
    listed = tmp_path / "list.txt"
    listed.write_text(f"{url}\n")
    out = tmp_path / "out.jsonl"
    target = {
        "output": out,
        "filtered": Path(f"{out}{FILTERED_SUFFIX}"),
        "list": listed,
        "other": tmp_path / "notes.txt",
    }[which]
    if which == "other":
        target.write_text("my notes\n")
    result = runner.invoke(app, [str(listed), "-o", str(out), "--stats", str(target)])
    assert result.exit_code == 2
    assert "Invalid value for '--stats'" in result.stderr
    assert not out.exists() or out.read_text() == ""
    if which in ("list", "other"):
        assert target.read_text() in (f"{url}\n", "my notes\n")


def test_stats_in_a_folder_that_cannot_be_written_is_refused_first(
    server: LocalServer,
) -> None:
    url = server.html("/flt/stats/nofolder", "<title>s</title>")
    server.reset_counts()
    result = runner.invoke(app, [url, "--stats", "/nonexistent-folder/stats.json"])
    assert result.exit_code == 2
    assert "cannot write in '/nonexistent-folder'" in result.stderr
    assert server.hits.get("/flt/stats/nofolder", 0) == 0


def test_stats_count_a_record_once_it_is_written(server: LocalServer, tmp_path: Path) -> None:
    url = server.html("/flt/stats/full", "<title>s</title>")
    stats = tmp_path / "stats.json"
    result = runner.invoke(app, [url, "-o", "/dev/full", "-f", "jsonl", "--stats", str(stats)])
    assert result.exit_code == 74
    assert json.loads(stats.read_text())["written"] == 0


def test_stats_count_no_record_of_a_burst_whose_write_failed(tmp_path: Path) -> None:
    """Records that finish together leave in one write: when it fails (a full disk),
    none of them is counted as written, however many there were."""
    urls = tmp_path / "urls.txt"
    path = "x" * 5000  # records longer than a write buffer: a failed write leaves none buffered
    urls.write_text("".join(f"ftp://example.invalid/{path}/{i}\n" for i in range(300)))
    stats = tmp_path / "stats.json"
    result = runner.invoke(
        app, [str(urls), "-w", "64", "-o", "/dev/full", "-f", "jsonl", "--stats", str(stats)]
    )
    assert result.exit_code == 74
    assert json.loads(stats.read_text())["written"] == 0


def test_filtered_records_are_remembered_only_for_jsonl(
    server: LocalServer, tmp_path: Path
) -> None:
    url = server.html("/flt/csvonly", "<title>c</title>", status=404)
    out = tmp_path / "out.csv"
    result = runner.invoke(app, [url, "-o", str(out), "--filter-status", "404", "-q"])
    assert result.exit_code == 0
    assert not Path(f"{out}{FILTERED_SUFFIX}").exists()


def test_when_every_record_is_filtered_the_summary_says_so(server: LocalServer) -> None:
    url = server.html("/flt/none", "<title>n</title>", status=404)
    result = runner.invoke(app, [url, url, "--match-status", "2xx"])
    assert result.exit_code == 0
    assert result.stderr.startswith("fetcher: no URL passed the filters in ")
    assert "2 filtered" in result.stderr
    first = runner.invoke(app, [url, "--first-only", "--filter-status", "404"])
    assert "no URL passed the filters (1 URL filtered)" in first.stderr


def test_the_cap_is_not_blamed_while_every_worker_is_busy(server: LocalServer) -> None:
    urls = [server.html(f"/flt/busy/{n}", "<title>b</title>", delay=0.05) for n in range(24)]
    busy = runner.invoke(app, [*urls, "-w", "8"])  # per-host 8: the workers are the limit
    assert "per host" not in busy.stderr
    held = runner.invoke(app, [*urls, "-w", "8", "--per-host", "2"])
    assert "at most 2 at a time per host" in held.stderr
