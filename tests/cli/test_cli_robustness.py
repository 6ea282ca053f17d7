"""Interrupting, resuming, output files and the robustness flags, through the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import certifi
import pytest
from typer.testing import CliRunner

from fetcher._core.signals import GRACE_SECONDS
from fetcher._executors.processes import split as plan
from fetcher.cli.app import app
from tests.cli.test_cli import FETCHER, write_list
from tests.support.local import LocalServer

runner = CliRunner()
CA_PEM = Path(certifi.where()).read_bytes()  # a real CA bundle (httpx's dependency)


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, from the parent links in /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def wait_until_gone(pids: set[int], timeout: float = 5.0) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = {pid for pid in pids if not gone(pid)}
        if not left:
            return set()
        time.sleep(0.05)  # polling another process's exit: there is no event to wait on
    return {pid for pid in pids if not gone(pid)}


def read_stderr_until(proc: subprocess.Popen[str], text: str) -> str:
    assert proc.stderr is not None
    seen = ""
    while text not in seen:
        line = proc.stderr.readline()
        assert line, f"stderr ended before {text!r}: {seen!r}"
        seen += line
    return seen


def records_of(path: Path) -> list[dict[str, object]]:
    text = path.read_text()
    assert text == "" or text.endswith("\n")  # whole lines only
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize(
    ("executor", "signum", "whole_group"),
    [
        ("thread", signal.SIGINT, False),
        ("process", signal.SIGINT, True),
        ("hybrid", signal.SIGINT, True),
        ("thread", signal.SIGTERM, True),
        ("process", signal.SIGTERM, False),
        ("process", signal.SIGTERM, True),
        ("hybrid", signal.SIGTERM, True),
        ("async", signal.SIGINT, True),
        ("async", signal.SIGTERM, False),
    ],
)
def test_a_signal_stops_in_order_and_keeps_what_finishes_in_the_grace(
    server: LocalServer, tmp_path: Path, executor: str, signum: int, whole_group: bool
) -> None:
    tag = f"{executor}-{signum}-{whole_group}"
    gate = threading.Event()
    gated = [server.html(f"/stop/{tag}/gated{i}", "<title>g</title>", gate=gate) for i in range(2)]
    hang = server.add(f"/stop/{tag}/hang", hang=True)
    late = server.html(f"/stop/{tag}/late", "<title>late</title>")
    urls = write_list(tmp_path, *gated, hang, *[late] * 10)
    out = tmp_path / "out.jsonl"
    command = [str(FETCHER), urls, "-e", executor, "-w", "3", "-f", "jsonl", "-o", str(out)]
    with subprocess.Popen(
        [*command, "--timeout", "60", "--grace", "0.5"],  # the hang holds the stop for it
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        server.wait_for(lambda s: s.hits.get(f"/stop/{tag}/hang", 0) == 1 and all(
            s.hits.get(f"/stop/{tag}/gated{i}", 0) for i in range(2)
        ))  # fmt: skip
        workers = descendants(proc.pid)
        if whole_group:
            os.killpg(proc.pid, signum)  # as a terminal's Ctrl-C, or a service manager, does
        else:
            proc.send_signal(signum)
        read_stderr_until(proc, "finishing requests in flight")
        gate.set()  # the gated requests finish within the grace period; the hang does not
        assert proc.stderr is not None
        err = proc.stderr.read()
        proc.wait(timeout=30)
    assert proc.returncode == (143 if signum == signal.SIGTERM else 130)
    records = [r for r in records_of(out) if r["url"] != late]
    lost_with_workers = whole_group and signum == signal.SIGTERM and executor != "thread"
    if not lost_with_workers:
        assert sorted(r["url"] for r in records) == sorted(gated)
    assert all(r["url"] in gated for r in records)
    # Never started, so cancelled; a process pool hands up to workers + 1 tasks ahead to
    # its call queue, and the hybrid pool one to each process, beyond cancel()'s reach.
    ahead = {"thread": 0, "process": 3 + 1, "hybrid": len(plan(3)), "async": 0}[executor]
    assert server.hits.get(f"/stop/{tag}/late", 0) <= ahead
    assert "interrupted after" in err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert wait_until_gone(workers) == set()  # no orphaned worker processes


def test_a_second_ctrl_c_stops_at_once(server: LocalServer, tmp_path: Path) -> None:
    hang = server.add("/stop/twice/hang", hang=True)
    with subprocess.Popen(
        [str(FETCHER), write_list(tmp_path, hang), "--timeout", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        server.wait_for(lambda s: s.hits.get("/stop/twice/hang", 0) == 1)
        proc.send_signal(signal.SIGINT)
        read_stderr_until(proc, "again to stop now")
        second = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        stopped_after = time.monotonic() - second
    assert proc.returncode == 130
    assert stopped_after < GRACE_SECONDS  # the grace period was cut short
    assert "Traceback" not in err


@pytest.mark.parametrize("zero", ["0", "-0"])
def test_a_grace_of_zero_stops_at_once(server: LocalServer, tmp_path: Path, zero: str) -> None:
    hang = server.add(f"/stop/grace{zero}/hang", hang=True)
    command = [str(FETCHER), write_list(tmp_path, hang), "--timeout", "60", "--grace", zero]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        server.wait_for(lambda s: s.hits.get(f"/stop/grace{zero}/hang", 0) == 1)
        signalled = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        stopped_after = time.monotonic() - signalled
    assert proc.returncode == 130
    assert stopped_after < GRACE_SECONDS  # the default grace would have held it this long
    assert b"fetcher: Ctrl-C: stopping now (--grace 0)" in err
    assert b"1 abandoned in flight" in err


def test_an_interrupted_run_resumes_with_exactly_one_record_per_line(
    server: LocalServer, tmp_path: Path
) -> None:
    gate = threading.Event()
    gated = server.html("/resume/gated", "<title>g</title>", gate=gate)
    fast = [server.html(f"/resume/fast{i}", "<title>f</title>", delay=0.03) for i in range(30)]
    lines = [gated, *fast[:15], fast[3], *fast[15:], gated]  # two URLs listed twice
    urls = write_list(tmp_path, *lines)
    out = tmp_path / "out.jsonl"
    command = [str(FETCHER), urls, "-w", "3", "-f", "jsonl", "-o", str(out), "--resume", "-q"]
    command += ["--grace", "0.2"]  # the gated request would hold the stop for the grace
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as proc:
        server.wait_for(lambda s: sum(s.hits.get(f"/resume/fast{i}", 0) for i in range(30)) >= 5)
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert proc.returncode == 130
    first = records_of(out)
    assert 5 <= len(first) < len(lines)
    with out.open("a") as torn:  # as if killed in the middle of writing a record
        torn.write('{"url": "' + fast[-1])
    gate.set()
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    final = records_of(out)
    assert Counter(r["url"] for r in final) == Counter(lines)
    assert sorted(r["index"] for r in final) == list(range(1, len(lines) + 1))
    assert all(lines[r["index"] - 1] == r["url"] for r in final)  # each names its line
    assert final[: len(first)] == first  # appended, never rewritten
    for i in range(30):  # a page recorded in the first run was not fetched again
        assert server.hits[f"/resume/fast{i}"] == lines.count(fast[i])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--resume"], "--resume needs --output FILE or --parts DIR"),
        (["--parts", "p"], "--parts needs -e dask"),
        (["--parts", "p", "-o", "o"], "--parts and --output do not combine"),
        (["--parts", "p", "--first-only"], "--parts does not combine with --first-only"),
        (["--parts", "p", "--match-status", "200"], "--parts takes no filters"),
        (["--resume", "-o", "out.txt"], "--resume needs --format jsonl"),
        (["--first-only", "--resume", "-o", "o", "-f", "jsonl"], "does not combine"),
        (["-H", "no colon"], "is not in the form 'Name: value'"),
        (["-H", "Bad Name: x"], "invalid header name"),
        (["--proxy", "socks5://127.0.0.1:9"], "'--proxy': must be an http://HOST:PORT URL"),
        (["--per-host", "2000000"], "'--per-host': must be from 0 to"),
        (["--user-agent", "a\nb"], "'--user-agent': must be text without line breaks"),
        (["--retries", "-1"], "Invalid value for '--retries'"),
        (["--rate", "0"], "Invalid value for '--rate'"),
        (["--per-host", "-2"], "Invalid value for '--per-host'"),
        (["--cacert", "missing.pem"], "'--cacert': cannot read 'missing.pem'"),
        (["--cacert", "."], "'--cacert': cannot read '.': Is a directory"),
        (["--cacert", "list.txt"], "'--cacert': holds no PEM CA certificate"),
        (["--cacert", "ca.pem", "-k"], "'--cacert': cannot be combined with --insecure"),
    ],
)
def test_meaningless_flags_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "list.txt").write_text("not a certificate\n")
    (tmp_path / "ca.pem").write_bytes(CA_PEM)
    result = runner.invoke(app, [write_list(tmp_path, "http://127.0.0.1:9/"), *args])
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("fetcher: error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "o").exists() and not (tmp_path / "p").exists()


def test_output_and_save_cannot_clobber_the_wrong_things(tmp_path: Path) -> None:
    urls = write_list(tmp_path, "http://127.0.0.1:9/")
    same = runner.invoke(app, [urls, "-o", urls])
    assert same.exit_code == 2 and "is the URL list itself" in same.stderr
    assert Path(urls).read_text() == "http://127.0.0.1:9/\n"
    (tmp_path / "a-file").write_text("x")
    save = runner.invoke(app, [urls, "--save", str(tmp_path / "a-file")])
    assert save.exit_code == 2 and "'--save'" in save.stderr
    corrupt = tmp_path / "corrupt.jsonl"
    corrupt.write_text('not json\n{"url": "x"}\n')
    resume = runner.invoke(app, [urls, "-o", str(corrupt), "-f", "jsonl", "--resume"])
    assert resume.exit_code == 2 and "line 1 is not a fetcher JSONL record" in resume.stderr
    assert corrupt.read_text() == 'not json\n{"url": "x"}\n'


@pytest.mark.parametrize("fmt", ["text", "jsonl", "csv"])
def test_output_goes_to_the_file(server: LocalServer, tmp_path: Path, fmt: str) -> None:
    ok = server.html("/out/ok", "<title>Filed</title>")
    out = tmp_path / f"out.{fmt}"
    out.write_text("old contents\n")
    result = runner.invoke(app, [write_list(tmp_path, ok, ok), "-f", fmt, "-o", str(out)])
    assert result.exit_code == 0 and result.stdout == ""
    text = out.read_text()
    assert "old contents" not in text and text.count("Filed") == 2
    assert ("url,final_url,status" in text) == (fmt == "csv")


def test_retried_urls_say_so(server: LocalServer, tmp_path: Path) -> None:
    flaky = server.html("/cli/flaky", "<title>Back</title>", fail_first=1)
    result = runner.invoke(app, [write_list(tmp_path, flaky), "--max-retry-wait", "0.05"])
    assert result.exit_code == 0
    assert result.stdout.rstrip().endswith(f"{flaky}  Back  (2 attempts)")
    assert "1 retry" in result.stderr


def test_saved_pages_and_per_host_cap_on_the_command_line(
    server: LocalServer, tmp_path: Path
) -> None:
    pages = [server.html(f"/cli/save/{i}", f"<title>{i}</title>", delay=0.05) for i in range(6)]
    folder = tmp_path / "pages" / "nested"
    result = runner.invoke(
        app,
        [write_list(tmp_path, *pages), "-f", "jsonl", "--save", str(folder), "--per-host", "2"],
    )
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(Path(str(r["path"])).parent == folder for r in records)
    assert len(set(os.listdir(folder))) == 6
    assert "at most 2 at a time per host" in result.stderr


def test_insecure_warns(tls_url: str, tmp_path: Path) -> None:
    result = runner.invoke(app, [write_list(tmp_path, tls_url), "-k", "--http2"])
    assert result.exit_code == 0
    assert result.stdout.rstrip().endswith("Secure")
    assert "warning: --insecure" in result.stderr


def test_an_unwritable_output_is_an_error_not_a_lost_result(
    server: LocalServer, tmp_path: Path
) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    ok = server.html("/out/full", "<title>x</title>")
    result = runner.invoke(app, [write_list(tmp_path, ok), "-o", "/dev/full"])
    assert result.exit_code == 74
    assert "fetcher: error: cannot write records: No space left on device" in result.stderr


def test_too_few_open_files_for_the_workers_is_a_clear_error(tmp_path: Path) -> None:
    import resource
    import sys

    urls = write_list(tmp_path, "http://127.0.0.1:9/")

    def limit(files: int) -> Callable[[], None]:
        return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))

    refused = subprocess.run(
        [sys.executable, "-m", "fetcher", urls, "-w", "64", "--retries", "0"],
        capture_output=True, text=True, timeout=60, preexec_fn=limit(200), check=False,
    )  # fmt: skip
    assert refused.returncode == 69, refused.stderr
    assert refused.stderr.splitlines() == [
        "fetcher: error: 64 workers may hold about 384 connections and files, but this "
        "process may open only 200 (ulimit -n): raise the limit or use fewer workers"
    ]
    code = "import resource, fetcher; fetcher.fetch_all([], workers=64).start(); " + (
        "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    )
    raised = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (200, 1000)),
    )  # fmt: skip
    assert raised.stdout.strip() == "1000"  # the soft limit was raised to the hard one
