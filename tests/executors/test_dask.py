"""The Dask executor: a LocalCluster, and a real `dask scheduler` + `dask worker` pair.

Skipped only when the optional extra is not installed (`pip install '.[dask]'`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from fetcher import ExecutorError, FetchOptions, FetchRun, SaveDirError, fetch_all
from tests.cli.test_cli import FETCHER, write_list
from tests.cli.test_cli_robustness import descendants, wait_until_gone
from tests.http.test_hostile import assert_each_record_is_its_own, leftover_urls
from tests.support.local import LocalServer
from tests.support.raw import Peer, RawServer, Request, response

distributed = pytest.importorskip("distributed")

DASK = Path(sys.executable).with_name("dask")


def summary(results: list[object]) -> Counter[tuple[object, ...]]:
    return Counter((r.url, r.status, r.title, r.error) for r in results)  # type: ignore[attr-defined]


def test_a_local_cluster_gives_the_thread_pools_records(
    server: LocalServer, tmp_path: Path
) -> None:
    pages = [server.html(f"/dask/{i}", f"<title>Page {i}</title>") for i in range(20)]
    missing = server.html("/dask/missing", "<title>No</title>", status=404)
    urls = [*pages, pages[0], missing]  # a URL listed twice is fetched twice (pure=False)
    folder = tmp_path / "pages"  # made by the Dask worker that saves first
    # One origin has one node, which a local cluster gives `workers` threads: these four
    # are all at the server at once (opened then), as on the thread pool.
    gate, together = threading.Event(), threading.Event()
    gated = [server.add(f"/dask/gated/{i}", gate=gate, body=b"<title>G</title>") for i in range(4)]
    opener = threading.Thread(target=_open_when_all_arrive, args=(server, gate, together))
    opener.start()
    try:
        on_dask = list(fetch_all([*gated, *urls], executor="dask", workers=4, save_dir=str(folder)))
    finally:
        gate.set()
    opener.join()
    assert together.is_set()
    assert sorted(r.url for r in on_dask if r.title == "G") == sorted(gated)
    on_dask = [r for r in on_dask if r.url not in gated]
    assert all(Path(str(r.path)).parent == folder for r in on_dask if r.ok)
    assert len(list(folder.iterdir())) == 24  # 20 pages and the 4 gated ones
    on_threads = list(fetch_all(urls, executor="thread", workers=4))
    assert summary(on_dask) == summary(on_threads)
    assert Counter(r.url for r in on_dask) == Counter(urls)
    assert server.hits["/dask/0"] == 4  # twice per run


def _open_when_all_arrive(
    server: LocalServer, gate: threading.Event, together: threading.Event
) -> None:
    with contextlib.suppress(AssertionError):  # never all at once: `together` stays unset
        server.wait_for(lambda s: sum(s.hits.get(f"/dask/gated/{i}", 0) for i in range(4)) >= 4)
        together.set()
    gate.set()


def test_the_scheduler_option_is_for_dask_only() -> None:
    with pytest.raises(ValueError, match="dask and dask-tasks executors only"):
        FetchOptions(executor="thread", scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(ValueError, match="scheduler must be an address"):
        FetchOptions(executor="dask", scheduler="127.0.0.1")


def test_a_running_cluster_through_the_command_line(
    server: LocalServer, tmp_path: Path, scheduler_address: str
) -> None:
    pages = [server.html(f"/dask-cli/{i}", f"<title>Remote {i}</title>") for i in range(12)]
    urls = [*pages, pages[3]]
    result = subprocess.run(
        [str(FETCHER), write_list(tmp_path, *urls), "-e", "dask", "--scheduler",
         scheduler_address, "-f", "jsonl", "--per-host", "0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert Counter(r["url"] for r in records) == Counter(urls)
    assert all(r["title"] == "Remote " + r["url"].rsplit("/", 1)[1] for r in records)
    assert "dask pool" in result.stderr and "Traceback" not in result.stderr


def test_first_only_on_a_cluster_returns_past_a_hang(
    server: LocalServer, tmp_path: Path, scheduler_address: str
) -> None:
    gate = threading.Event()  # opened at the end: the cluster's threads are free again
    hang = server.add("/dask-first/hang", gate=gate)
    winner = server.html("/dask-first/win", "<title>First</title>", delay=0.2)
    started = time.monotonic()
    try:
        result = subprocess.run(
            [str(FETCHER), write_list(tmp_path, hang, hang, winner), "--first-only", "-e",
             "dask", "--scheduler", scheduler_address, "--timeout", "60"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.stdout.rstrip().endswith(f"{winner}  First")
        assert time.monotonic() - started < 10  # against a 60 s timeout: hangs cancelled
    finally:
        gate.set()


def test_ctrl_c_to_the_process_group_stops_a_local_cluster_quietly(
    server: LocalServer, tmp_path: Path
) -> None:
    hang = server.add("/dask-int/hang", hang=True)
    fast = server.html("/dask-int/fast", "<title>f</title>")
    out = tmp_path / "out.jsonl"
    command = [str(FETCHER), write_list(tmp_path, fast, hang), "-e", "dask", "-w", "2"]
    with subprocess.Popen(
        [*command, "-f", "jsonl", "-o", str(out), "--timeout", "60", "--grace", "0.2"],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        server.wait_for(lambda s: s.hits.get("/dask-int/hang", 0) >= 1)
        deadline = time.monotonic() + 30
        while not out.exists() or not out.read_text():  # the fast page's record is out
            assert time.monotonic() < deadline
            time.sleep(0.05)  # another process's file: there is no event to wait on
        workers = descendants(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)  # the cluster's processes get it too
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert [json.loads(line)["url"] for line in out.read_text().splitlines()] == [fast]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert wait_until_gone(workers) == set()


def test_a_bad_scheduler_address_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(FETCHER), write_list(tmp_path, "http://127.0.0.1:9/"), "-e", "dask",
         "--scheduler", "127.0.0.1:8786"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "'--scheduler': must be an address such as tcp://HOST:8786" in result.stderr


def test_hostile_servers_on_a_cluster(raw_server: RawServer, scheduler_address: str) -> None:
    """Leftover bytes never answer another URL, and the total time holds, on Dask too."""
    urls = []
    for case in ("extra-response", "stray-crlf", "body-on-204"):
        urls += leftover_urls(raw_server, case, f"/left-dask/{case}", 6)
    options = {"executor": "dask", "scheduler": scheduler_address, "retries": 0, "per_host": 0}
    results = list(fetch_all(urls, **options))
    assert Counter(r.url for r in results) == Counter(urls)
    for case in ("extra-response", "stray-crlf", "body-on-204"):
        assert_each_record_is_its_own([r for r in results if f"/{case}/" in r.url], case)

    async def trickle(peer: Peer, request: Request) -> None:
        peer.send(response(200, b"", [("Content-Type", "text/html")], length=10_000))
        await peer.drip(b"x" * 10_000, 0.1)

    slow = raw_server.route("/trickle-total/dask", trickle)
    # (the retry after the first attempt's 1 s is given half a second to start)
    timing = {"timeout": 1.0, "total_timeout": 1.5, "retries": 5, "max_retry_wait": 0.05}
    (result,) = list(fetch_all([slow], **{**options, **timing}))
    assert re.fullmatch(r"gave up after 1\.5s \(\d attempts?\)", result.error or ""), result


def test_a_save_folder_each_worker_cannot_write_is_found_first(
    server: LocalServer, tmp_path: Path, scheduler_address: str
) -> None:
    url = server.html("/dask-save/x", "<title>x</title>")
    result = subprocess.run(
        [str(FETCHER), write_list(tmp_path, url), "-e", "dask", "--scheduler",
         scheduler_address, "--save", str(tmp_path / "pages")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr  # writable here (and made by the client)
    with pytest.raises(SaveDirError, match="cannot save pages in '/proc/fetcher-pages' on tcp://"):
        list(
            fetch_all(
                [url], executor="dask", scheduler=scheduler_address, save_dir="/proc/fetcher-pages"
            )
        )
    assert server.hits["/dask-save/x"] == 1


def test_a_run_whose_nodes_failed_to_start_stays_closed(scheduler_address: str) -> None:
    """A failed start shuts down what it started, once: a second `start()` does not start
    nodes (and a client) again beside the first ones, and the run yields nothing."""
    options = FetchOptions(executor="dask", scheduler=scheduler_address, save_dir="/proc/x")
    run = FetchRun(["http://127.0.0.1:9/"], options)
    with pytest.raises(SaveDirError):
        run.start()
    assert run.closed
    with pytest.raises(ExecutorError, match="this Dask run is closed"):
        run.start()
    assert list(run) == []
