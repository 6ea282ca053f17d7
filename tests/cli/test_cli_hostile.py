"""Odd inputs and outputs through the installed command: no file damaged, no crash on exit.

Each test runs the real `fetcher` as a subprocess, with its standard streams set up the
way an unlucky user's shell would (a pipe that stays open, a FIFO, stderr closed or full,
the output file as the input, two runs on one file).
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fetcher import FIELDS, OutputError
from fetcher._output.outfile import open_output
from tests.cli.test_cli import FETCHER, write_list
from tests.support.local import LocalServer
from tests.support.raw import Peer, RawServer, Request, raw, response

FAST_EXIT = 1.0  # seconds from the last record (or the grace period's end) to the exit


def fetcher(*args: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(FETCHER), *args], capture_output=True, timeout=60, **kwargs)  # type: ignore[call-overload, no-any-return]


def page_url(server: LocalServer, path: str, title: str = "Fine") -> str:
    return server.html(path, f"<title>{title}</title>")


# --resume never takes a file that is not fetcher's


@pytest.mark.parametrize(
    "data",
    [b'{"name":"x"}', b"a one-line note", bytes(range(1, 256)).replace(b"\n", b"")],
    ids=["json", "note", "binary"],
)
def test_resume_refuses_a_file_that_is_not_fetchers(
    server: LocalServer, tmp_path: Path, data: bytes
) -> None:
    target = tmp_path / "notes.txt"
    target.write_bytes(data)
    before = target.stat()
    result = fetcher(
        write_list(tmp_path, page_url(server, "/resume-refuse")),
        *("-f", "jsonl", "-o", str(target), "--resume"),
    )
    assert result.returncode == 2
    assert b"line 1 is not a fetcher JSONL record" in result.stderr
    assert result.stderr.count(b"\n") == 1
    assert target.read_bytes() == data and target.stat().st_mtime_ns == before.st_mtime_ns
    assert server.hits.get("/resume-refuse", 0) == 0


def test_resume_refuses_what_is_not_a_regular_file(server: LocalServer, tmp_path: Path) -> None:
    started = time.monotonic()
    result = fetcher(
        write_list(tmp_path, "http://x.invalid/"), "-f", "jsonl", "-o", "/dev/zero", "--resume"
    )
    assert result.returncode == 2
    assert b"--resume needs a regular file" in result.stderr
    assert time.monotonic() - started < 10  # never spins reading an endless device


# The output is never one of the inputs, stdin included


@pytest.mark.parametrize("via", ["stdin", "dev-stdin", "path"])
def test_the_output_can_never_be_the_url_list(
    server: LocalServer, tmp_path: Path, via: str
) -> None:
    listing = Path(write_list(tmp_path, page_url(server, "/same-file")))
    original = listing.read_bytes()
    source = {"stdin": "-", "dev-stdin": "/dev/stdin", "path": str(listing)}[via]
    with listing.open("rb") as stdin:
        result = fetcher(source, "-o", str(listing), stdin=stdin)
    assert result.returncode == 2
    assert b"is the URL list itself" in result.stderr
    assert listing.read_bytes() == original


# One run at a time per output file


def test_a_second_run_on_the_same_output_is_refused_and_the_file_untouched(
    server: LocalServer, tmp_path: Path
) -> None:
    gate = threading.Event()
    slow = server.html("/lock/slow", "<title>Slow</title>", gate=gate)
    out = tmp_path / "out.jsonl"
    first_list = write_list(tmp_path, slow)
    with subprocess.Popen(
        [str(FETCHER), first_list, "-f", "jsonl", "-o", str(out), "-q"],
        stderr=subprocess.PIPE,
    ) as first:
        server.wait_for(lambda s: s.hits.get("/lock/slow", 0) >= 1)
        second = fetcher(first_list, "-f", "jsonl", "-o", str(out), "--resume")
        gate.set()
        assert first.wait(timeout=30) == 0
    assert second.returncode == 2
    assert (
        second.stderr.decode()
        == f"fetcher: error: {out} is in use by another fetcher run (see 'fetcher --help')\n"
    )
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["url"] for r in records] == [slow]  # the first run's record, once


def test_a_file_locked_by_another_run_is_not_even_truncated(
    server: LocalServer, tmp_path: Path
) -> None:
    out = tmp_path / "out.txt"
    out.write_bytes(b"records of a run in progress\n")
    with out.open("rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as the other run holds it
        result = fetcher(write_list(tmp_path, page_url(server, "/lock/held")), "-o", str(out))
    assert result.returncode == 2 and b"in use by another fetcher run" in result.stderr
    assert out.read_bytes() == b"records of a run in progress\n"


def test_a_file_system_without_locks_is_warned_about_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No such file system can be mounted here: the refusal it would give is simulated.
    def refuse(fd: int, operation: int) -> None:
        raise OSError(37, "No locks available")

    monkeypatch.setattr(fcntl, "flock", refuse)
    warnings: list[str] = []
    stream, _ = open_output(
        str(tmp_path / "out.jsonl"), resume=False, inputs=[], warn=warnings.append
    )
    stream.close()
    assert len(warnings) == 1 and "cannot lock" in warnings[0]
    monkeypatch.undo()
    with pytest.raises(OutputError, match="Is a directory"):
        open_output(str(tmp_path), resume=False, inputs=[], warn=warnings.append)


# Leaving while the URL list is still open


@pytest.fixture
def open_pipe_list(server: LocalServer) -> Iterator[tuple[int, int, str]]:
    """A pipe whose writer has sent one URL and stays open: (read end, write end, the URL)."""
    url = page_url(server, "/open-pipe", "Winner")
    read_end, write_end = os.pipe()
    os.write(write_end, (url + "\n").encode())
    yield read_end, write_end, url
    os.close(read_end)
    os.close(write_end)


def assert_quiet_exit(proc: subprocess.Popen[bytes], expected: int, since: float) -> bytes:
    assert proc.wait(timeout=10) == expected
    assert time.monotonic() - since < FAST_EXIT
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    assert b"Fatal Python error" not in stderr and b"Traceback" not in stderr
    return stderr


def test_first_only_exits_at_once_while_its_input_pipe_stays_open(
    open_pipe_list: tuple[int, int, str],
) -> None:
    read_end, _, _ = open_pipe_list
    args = [str(FETCHER), "-", "-f", "jsonl", "--first-only"]
    with subprocess.Popen(
        args, stdin=read_end, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        since = time.monotonic()
        assert json.loads(line)["title"] == "Winner"
        assert_quiet_exit(proc, 0, since)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_the_input_pipe_stays_open_exits_promptly(
    open_pipe_list: tuple[int, int, str], signum: int
) -> None:
    read_end, _, _ = open_pipe_list
    with subprocess.Popen(
        [str(FETCHER), "-", "-f", "jsonl"],
        stdin=read_end,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["title"] == "Winner"
        since = time.monotonic()
        proc.send_signal(signum)  # nothing in flight: no grace period to wait for
        stderr = assert_quiet_exit(proc, 130 if signum == signal.SIGINT else 143, since)
    assert b"1 URL, 1 ok" in stderr


def test_a_closed_reader_while_the_input_stays_open_exits_141(
    open_pipe_list: tuple[int, int, str],
) -> None:
    read_end, write_end, url = open_pipe_list
    with subprocess.Popen(
        [str(FETCHER), "-"], stdin=read_end, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith(b"200 ")
        proc.stdout.close()  # like `| head -1`
        os.write(write_end, (url + "\n").encode())  # its record finds stdout gone
        assert_quiet_exit(proc, 141, time.monotonic())


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_reading_a_fifo_whose_writer_stays_open(
    server: LocalServer, tmp_path: Path, signum: int
) -> None:
    fifo = tmp_path / "urls.fifo"
    os.mkfifo(fifo)
    url = page_url(server, f"/fifo/{signum}", "Fifo")
    with subprocess.Popen(
        [str(FETCHER), str(fifo), "-f", "jsonl"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        writer = os.open(fifo, os.O_WRONLY)  # returns once fetcher has opened its end
        try:
            os.write(writer, (url + "\n").encode())
            assert proc.stdout is not None
            assert json.loads(proc.stdout.readline())["title"] == "Fifo"
            since = time.monotonic()
            proc.send_signal(signum)
            assert_quiet_exit(proc, 130 if signum == signal.SIGINT else 143, since)
        finally:
            os.close(writer)


def test_a_finished_fifo_list_ends_the_run(server: LocalServer, tmp_path: Path) -> None:
    fifo = tmp_path / "urls.fifo"
    os.mkfifo(fifo)
    url = page_url(server, "/fifo/done", "Done")
    with subprocess.Popen(
        [str(FETCHER), str(fifo), "-f", "jsonl"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        with open(fifo, "wb") as writer:
            writer.write((url + "\n").encode() * 3)
        assert proc.wait(timeout=10) == 0
        assert proc.stdout is not None and len(proc.stdout.read().splitlines()) == 3


# stderr lost, URL lists that cannot be read


@pytest.mark.parametrize("stderr", ["closed", "/dev/full"])
def test_losing_stderr_changes_neither_records_nor_exit_status(
    server: LocalServer, tmp_path: Path, stderr: str
) -> None:
    urls = write_list(tmp_path, *[page_url(server, f"/no-stderr/{i}") for i in range(3)])
    args = [str(FETCHER), urls, "--progress"]
    if stderr == "closed":
        proc = subprocess.run(
            ["sh", "-c", 'exec "$@" 2>&-', "sh", *args], capture_output=True, timeout=60
        )
    else:
        with open("/dev/full", "wb") as full:
            proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=full, timeout=60)
    assert proc.returncode == 0
    assert len(proc.stdout.splitlines()) == 3
    assert all(line.startswith(b"200 ") for line in proc.stdout.splitlines())


def test_a_closed_stderr_never_receives_the_output_file(
    server: LocalServer, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    urls = write_list(tmp_path, page_url(server, "/no-stderr-file"))
    proc = subprocess.run(
        [
            "sh",
            "-c",
            'exec "$@" 2>&-',
            "sh",
            str(FETCHER),
            urls,
            "-f",
            "jsonl",
            "-o",
            str(out),
            "--insecure",
        ],
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 0
    (line,) = out.read_text().splitlines()  # no warning or summary landed in the file
    assert json.loads(line)["title"] == "Fine"


def test_a_list_that_cannot_be_read_at_all_is_a_usage_error(tmp_path: Path) -> None:
    result = fetcher("/proc/self/mem")
    assert result.returncode == 2
    assert result.stderr.decode().startswith(
        "fetcher: error: cannot read URL list '/proc/self/mem': "
    )
    assert result.stderr.count(b"\n") == 1 and result.stdout == b""


def test_a_read_error_mid_list_keeps_the_records_read_before_it(
    server: LocalServer, tmp_path: Path
) -> None:
    # /proc/PID/mem read from a mapped page into an unmapped one: real bytes, then EIO.
    with subprocess.Popen(
        ["python3", "-c", MAPPED_URLS, page_url(server, "/mid-list")],
        stdin=subprocess.PIPE,  # it waits on it, alive, while its memory is read
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None
        start = int(child.stdout.readline())
        with open(f"/proc/{child.pid}/mem", "rb", buffering=0) as mem:
            mem.seek(start)
            result = fetcher("-", "-f", "jsonl", stdin=mem)
        child.kill()
    assert result.returncode == 2
    assert [json.loads(line)["title"] for line in result.stdout.splitlines()] == ["Fine"] * 2
    assert result.stderr.decode().splitlines()[-1].startswith("fetcher: error: reading URL list: ")


#: Writes two URL lines at the end of a mapped page followed by an unmapped one, prints
#: the address where they start, and waits.
MAPPED_URLS = """
import mmap, sys, ctypes
page = mmap.PAGESIZE
area = mmap.mmap(-1, 2 * page)
libc = ctypes.CDLL(None)
base = ctypes.addressof(ctypes.c_char.from_buffer(area))
text = ((sys.argv[1] + "\\n") * 2).encode()
area[page - len(text): page] = text
libc.munmap(ctypes.c_void_p(base + page), page)
print(base + page - len(text), flush=True)
sys.stdin.read()
"""


# Bytes, whatever the terminal


@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "ascii"}, {"LC_ALL": "C"}])
def test_jsonl_is_utf8_whatever_the_locale(
    server: LocalServer, tmp_path: Path, env: dict[str, str]
) -> None:
    url = server.html("/utf8-record", "<title>Ærø ☕</title>") + "?q=ü日本"
    listing = tmp_path / "urls.txt"
    listing.write_text(url + "\n", encoding="utf-8")
    result = fetcher(str(listing), "-f", "jsonl", env={**os.environ, **env})
    record = json.loads(result.stdout.decode("utf-8"))
    assert (record["url"], record["title"]) == (url, "Ærø ☕")
    text = fetcher(str(listing), env={**os.environ, "PYTHONIOENCODING": "ascii"})
    assert b"? ?" in text.stdout  # text follows the terminal: what it lacks is shown as ?


# Folders, headers and time limits checked before the first URL


def test_a_save_folder_that_cannot_be_written_is_found_first(
    server: LocalServer, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    url = page_url(server, "/save-first")
    for folder in ("/proc", "/proc/self", str(blocker / "pages")):  # exist, yet refuse files
        result = fetcher(write_list(tmp_path, url), "--save", folder)
        assert result.returncode == 2, result.stderr
        assert b"--save" in result.stderr and result.stderr.count(b"\n") == 1
    assert server.hits.get("/save-first", 0) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-H", "Content-Length: 5"], "set by fetcher"),
        (["-H", "Accept-Encoding: br"], "cannot decode"),
        (["-H", "Host: example.com"], "set by fetcher"),
        (["--total-timeout", "0"], "total_timeout"),
    ],
)
def test_request_options_that_cannot_work_exit_2(args: list[str], message: str) -> None:
    result = fetcher("urls.txt", *args)
    assert result.returncode == 2 and result.stderr.count(b"\n") == 1
    assert message.encode() in result.stderr or b"--total-timeout" in result.stderr


def test_utf8_header_values_go_out_as_given(raw_server: RawServer, tmp_path: Path) -> None:
    url = raw_server.route("/cli-utf8", raw(response(200, b"<title>UA</title>")))
    result = fetcher(write_list(tmp_path, url), "--user-agent", "x-ü/1", "-H", "X-Name: café")
    assert result.returncode == 0
    (request,) = raw_server.requests_for("/cli-utf8")
    assert request.header("user-agent") == "x-ü/1".encode()
    assert request.header("x-name") == "café".encode()


def test_total_timeout_bounds_a_url_across_retries(raw_server: RawServer, tmp_path: Path) -> None:
    async def one_byte_every_half_second(peer: Peer, request: Request) -> None:
        peer.send(response(200, b"", [("Content-Type", "text/html")], length=100))
        for _ in range(100):
            peer.send(b"x")
            await peer.drain()
            await asyncio.sleep(0.5)

    url = raw_server.route("/one-byte-every-half-second", one_byte_every_half_second)
    started = time.monotonic()
    # The first attempt times out at 1 s and the retry waits 0.25-0.5 s (backoff with
    # jitter), so the second attempt starts by 1.5 s: half a second before the total.
    result = fetcher(
        write_list(tmp_path, url), "--timeout", "1", "--total-timeout", "2", "-f", "jsonl"
    )
    assert time.monotonic() - started < 2.5 + 0.5  # 0.5 s for the interpreter's start-up
    record = json.loads(result.stdout)
    assert record["error"] == "gave up after 2s (2 attempts)"
    assert tuple(record) == FIELDS


# Found in review


def test_stdout_appended_to_the_url_list_is_refused(server: LocalServer, tmp_path: Path) -> None:
    listing = Path(write_list(tmp_path, page_url(server, "/loop")))
    original = listing.read_bytes()
    proc = subprocess.run(
        ["sh", "-c", 'exec "$0" "$1" -f jsonl >> "$1"', str(FETCHER), str(listing)],
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert b"standard output is the URL list itself" in proc.stderr
    assert listing.read_bytes() == original


def test_a_list_that_fails_at_once_leaves_the_output_untouched(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(b"someone's data\n")
    result = fetcher("/proc/self/mem", "-f", "jsonl", "-o", str(out))
    assert result.returncode == 2 and b"cannot read URL list" in result.stderr
    assert out.read_bytes() == b"someone's data\n"
    missing = tmp_path / "new.jsonl"
    assert fetcher("/proc/self/mem", "-o", str(missing)).returncode == 2
    assert not missing.exists()


def test_a_utf16_list_on_an_open_pipe_is_read_as_it_comes(server: LocalServer) -> None:
    url = page_url(server, "/utf16-pipe", "Sixteen")
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, ("\ufeff" + url + "\n").encode("utf-16-le"))
        with subprocess.Popen(
            [str(FETCHER), "-", "-f", "jsonl", "--first-only"],
            stdin=read_end,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as proc:
            assert proc.stdout is not None
            assert json.loads(proc.stdout.readline())["title"] == "Sixteen"
            assert proc.wait(timeout=10) == 0  # while the writer is still open
    finally:
        os.close(read_end)
        os.close(write_end)


@pytest.mark.parametrize(
    ("args", "command"), [(["--version"], "fetcher"), (["serve", "--pages", "1"], "fetcher serve")]
)
def test_commands_whose_output_is_stdout_refuse_a_closed_one(args: list[str], command: str) -> None:
    proc = subprocess.run(
        ["sh", "-c", 'exec "$@" >&-', "sh", str(FETCHER), *args], capture_output=True, timeout=60
    )
    assert proc.returncode == 2
    assert proc.stderr.endswith(f"standard output is closed (see '{command} --help')\n".encode())
