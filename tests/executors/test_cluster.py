"""Fetch nodes on a Dask cluster: batches on their own connections, hosts with owners,
exactly one record per URL when a worker process is killed.

The cluster is the shared `dask scheduler` + `dask worker --nworkers 2` (with nannies,
as shipped); skipped only when the optional extra is not installed.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import pickle
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from fetcher import FetchOptions, FetchResult, FetchRun, fetch_all
from fetcher._core.errors import ExecutorError
from fetcher._executors.wire import (
    MAX_FRAME,
    FrameError,
    decode,
    decode_batch,
    decode_records,
    encode,
    encode_records,
    frame_limit,
    read_frame,
    send_frame,
    split_lines,
)
from fetcher._output.lines import LineMaker
from fetcher._run import node as node_module
from fetcher._run.cluster import ClusterRun
from fetcher._run.links import Link
from fetcher._run.node import Node
from fetcher._run.owners import Owners, partition_of
from fetcher.cli.run import _credentials_in_clear
from tests.cli.test_cli import FETCHER, write_list
from tests.support.local import LocalServer

distributed = pytest.importorskip("distributed")


@pytest.fixture
def origins() -> Iterator[list[LocalServer]]:
    """Four origins (one server each), so that URLs spread over the nodes."""
    servers = [LocalServer().start() for _ in range(4)]
    yield servers
    for server in servers:
        server.stop()


def worker_pids(address: str) -> dict[str, int]:
    with distributed.Client(address, timeout=30) as client:
        client.wait_for_workers(2, timeout=60)  # a killed worker is back (its nanny)
        pids: dict[str, int] = client.run(os.getpid)
    return pids


def kill_a_worker_under_way(
    origins: list[LocalServer], address: str
) -> tuple[threading.Thread, threading.Event]:
    """A thread that kills one Dask worker process (SIGKILL) once the origins have had 8
    requests, and the event it sets then; started."""
    victim = next(iter(worker_pids(address).values()))
    killed = threading.Event()

    def kill_when_under_way() -> None:
        deadline = time.monotonic() + 30
        while sum(sum(s.hits.values()) for s in origins) < 8 and time.monotonic() < deadline:
            time.sleep(0.01)  # hits on four servers: there is no single event for it
        os.kill(victim, signal.SIGKILL)
        killed.set()

    killer = threading.Thread(target=kill_when_under_way, daemon=True)
    killer.start()
    return killer, killed


def test_each_origin_has_one_owner_and_a_lost_node_moves_only_its_partitions() -> None:
    owners = Owners({"a": 4, "b": 4, "c": 4})
    urls = [f"http://10.0.{i // 256}.{i % 256}:80/" for i in range(300)]
    table = {url: owners.owner(partition_of(url)) for url in urls}
    assert all(owners.owner(partition_of(url)) == table[url] for url in urls)  # kept
    assert owners.owner(partition_of("https://Example.com/a?b")) == owners.owner(
        partition_of("https://example.com:443/other")
    )
    owners.remove("c")
    moved = {url for url in urls if owners.owner(partition_of(url)) != table[url]}
    assert moved == {url for url in urls if table[url] == "c"}
    for node in ("a", "b"):
        owners.remove(node)
    assert not owners
    with pytest.raises(LookupError):
        owners.owner(0)


def test_partitions_go_to_the_least_loaded_node_for_its_threads() -> None:
    """Few hosts split evenly (a fixed hash split 64 hosts 36/28), weighted by threads."""
    owners = Owners({"big": 32, "small": 16})
    urls = [f"http://127.0.1.{i % 48 + 1}:8000/page/{i}" for i in range(4800)]
    given = Counter(owners.owner(partition_of(url)) for url in urls)
    assert abs(given["big"] - 2 * given["small"]) <= 2 * 100 * 2  # within two hosts
    lumpy = Owners({"a": 1, "b": 1})  # a list sorted by host: whole hosts in turn
    hosts = [f"http://h{n}.test/" for n in range(8) for _ in range(100 * (n + 1))]
    given = Counter(lumpy.owner(partition_of(url)) for url in hosts)
    assert abs(given["a"] - given["b"]) <= 800  # at most the last host's URLs apart


def test_a_batch_of_records_crosses_the_wire_unchanged() -> None:
    records = [
        FetchResult("http://a/\udcff", "http://a/", 200, "T\u00e9", 5, 0.1, None, index=7),
        FetchResult("http://b/", None, None, None, 0, 0.2, "boom", error_kind="refused"),
        FetchResult("http://c/", "http://c/", 200, None, 3, 0.3, None, body=b"\x00\xff!"),
    ]
    status = {"retries": 2, "capped": True, "held": False}
    message = decode(encode_records(records, status))
    assert decode_records(message) == records
    assert {key: message[key] for key in status} == status
    with pytest.raises(FrameError):
        decode_records(decode(encode({"records": [["too", "few"]]})))
    with pytest.raises(FrameError):
        decode(b"\xff not json")
    with pytest.raises(FrameError):
        decode(b"[1, 2]")  # not a message


def test_a_batch_carries_its_records_lines_when_asked() -> None:
    records = [
        FetchResult("http://a/", None, 200, "caf\u00e9 \x1b[2J\n", 5, 0.25, None, index=3),
        FetchResult("http://b/\udcff", None, None, None, 0, 0.5, "boom", error_kind="refused"),
    ]
    lines = pickle.loads(pickle.dumps(LineMaker("jsonl")))  # as it travels to a node
    message, tail = decode_batch(encode_records(records, {"retries": 0}, lines))
    assert decode_records(message) == records and tail is not None
    made = split_lines(tail, 2)
    assert made == [LineMaker("jsonl")(record) for record in records]
    assert [json.loads(line)["title"] for line in made] == ["caf\u00e9 \x1b[2J\n", None]
    assert decode_batch(encode_records(records, {}))[1] is None  # not asked: no lines
    for wrong in (made[0], b"".join(made) + b"{}", b"".join(made)[:-1]):
        with pytest.raises(FrameError):
            split_lines(wrong, 2)
    for fmt in ("text", "csv", "xml"):  # a header, or colours: made where they are written
        with pytest.raises(ValueError):
            LineMaker(fmt)


def test_lines_that_do_not_fit_their_records_are_not_used() -> None:
    record = FetchResult("http://a/", None, 200, "a", 5, 0.25, None, index=1)
    other = replace(record, url="http://b/", index=2)
    options = FetchOptions(executor="dask", scheduler="tcp://127.0.0.1:9")
    ours, theirs = socket.socketpair()
    with ours, theirs, FetchRun([], options, lines=LineMaker("jsonl")) as run:
        assert isinstance(run, ClusterRun)
        link = Link("node", ours, threads=1)
        for made in (b"{}\n{}\n", b"{}"):  # two lines for one record; none ended
            link.outstanding[1] = record.url
            run._receive(link, encode_records([record], {}) + b"\n" + made)
            (taken,) = run._arrivals
            assert taken == record and run.line_of(taken) is None  # made here instead
            run._arrivals.clear()
        link.outstanding[2] = other.url
        run._receive(link, encode_records([other], {}, LineMaker("jsonl")))
        assert run.line_of(other) == LineMaker("jsonl")(other)


def test_workers_that_cannot_start_a_node_end_the_run_with_one_error(
    scheduler_address: str,
) -> None:
    options = FetchOptions(executor="dask", scheduler=scheduler_address)
    run = FetchRun(["http://127.0.0.1:9/"], options, lines=_FromAnotherVersion())
    with run, pytest.raises(ExecutorError, match="every worker must run fetcher"):
        run.start()


class _FromAnotherVersion:
    """What a worker of another fetcher version cannot load: a module it lacks."""

    def __call__(self, record: FetchResult) -> bytes:
        return b"\n"

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (importlib.import_module, ("fetcher._not_in_this_version",))


def test_a_cluster_clients_jsonl_is_made_by_its_nodes_and_is_the_same(
    server: LocalServer, tmp_path: Path, scheduler_address: str
) -> None:
    urls = [server.html(f"/lines/{n}", f"<title>caf\u00e9 {n}\x07</title>") for n in range(6)]
    urls.append(server.add("/lines/404", status=404))
    options = FetchOptions(executor="dask", scheduler=scheduler_address)
    with FetchRun(urls, options, lines=LineMaker("jsonl")) as run:
        records = list(run)
        made = {record.index: run.line_of(record) for record in records}
        assert all(run.line_of(record) is None for record in records)  # given once
    assert {index: LineMaker("jsonl")(r) for r in records if (index := r.index)} == made
    listed = write_list(tmp_path, *urls)
    written = {}
    for executor in ("dask", "thread"):
        out = tmp_path / f"{executor}.jsonl"
        command = [str(FETCHER), listed, "-e", executor, "-o", str(out), "-q"]
        command += ["--scheduler", scheduler_address] if executor == "dask" else []
        command += ["--filter-title", "3"]  # a record left out: its line too
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 1 and not done.stderr, done.stderr  # (one 404)
        rows = [json.loads(line) for line in out.read_bytes().splitlines()]
        written[executor] = sorted(({**row, "elapsed": 0} for row in rows), key=str)
    assert written["dask"] == written["thread"] and len(written["dask"]) == 6


def test_a_dask_run_is_a_cluster_run_that_starts_early_and_carries_bodies(
    server: LocalServer, scheduler_address: str
) -> None:
    url = server.html("/node/body", "<title>b</title>")
    options = {"executor": "dask", "scheduler": scheduler_address, "keep_body": True}
    with fetch_all([url], **options) as run:
        assert isinstance(run, ClusterRun)  # its nodes schedule: no pool here
        run.start()  # the nodes, before the first record is asked for
        (record,) = list(run)
    assert record.body == b"<title>b</title>" and record.index == 1


def test_a_frame_longer_than_the_reader_allows_is_refused() -> None:
    left, right = socket.socketpair()
    with left, right:
        send_frame(left, b"x" * 100)
        with pytest.raises(FrameError):
            read_frame(right, limit=99)
    assert frame_limit(10**9, keep_body=True) > 10**9 * 4 // 3  # one body always fits
    assert frame_limit(10**9, keep_body=False) == MAX_FRAME


def frame_indexes(sock: socket.socket) -> list[int]:
    """The indexes of the records in the next frame a node sends on `sock`, sorted."""
    frame = read_frame(sock)
    assert frame is not None
    return sorted(record.index or 0 for record in decode_records(decode(frame)))


def test_a_node_serves_only_the_client_that_knows_its_secret(server: LocalServer) -> None:
    url = server.html("/node/secret", "<title>s</title>")
    node = Node(FetchOptions(workers=2), b"the-secret", "127.0.0.1")
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as intruder:
        send_frame(intruder, b"a-guess")
        send_frame(intruder, encode({"urls": [[1, url]]}))
        try:
            closed = read_frame(intruder) is None
        except ConnectionResetError:  # closed with our second frame unread
            closed = True
        assert closed  # closed on it, nothing fetched
    assert server.hits.get("/node/secret", 0) == 0
    with pytest.raises(OSError):  # and it served its one connection: nobody else gets in
        socket.create_connection(("127.0.0.1", node.port), timeout=2).recv(1)


def test_a_node_sends_its_first_success_at_once_and_batches_the_rest(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A race's winner is the first success of the node that fetched it: it leaves at
    once, even right after another frame; later records wait for their batch (here, with
    a flush interval of ten minutes, for the finish)."""
    monkeypatch.setattr(node_module, "FLUSH_SECONDS", 600.0)
    urls = [
        server.add("/urgent/missing", status=404),
        server.html("/urgent/winner", "<title>w</title>", delay=0.3),  # after the 404's frame
        server.html("/urgent/later", "<title>l</title>"),
        server.add("/urgent/gone", status=410),
    ]
    node = Node(FetchOptions(workers=2, retries=0), b"s", "127.0.0.1")

    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as sock:
        send_frame(sock, b"s")
        send_frame(sock, encode({"urls": [[1, urls[0]], [2, urls[1]]]}))
        assert frame_indexes(sock) == [1]  # a quiet link: at once
        assert frame_indexes(sock) == [2]  # 0.3 s later, not ten minutes: the first success
        send_frame(sock, encode({"urls": [[3, urls[2]], [4, urls[3]]]}))
        server.wait_for(lambda s: s.hits.get("/urgent/later") == s.hits.get("/urgent/gone") == 1)
        send_frame(sock, encode({"finish": 10}))
        assert frame_indexes(sock) == [3, 4]  # a second success waits for its batch
        assert decode(read_frame(sock) or b"{}") == {"end": True}


def test_a_busy_nodes_frames_leave_on_the_ticks_of_the_wall_clocks_grid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every node's frames leave on one grid of the wall clock, so that the client takes
    its nodes' frames in one wake-up: after a frame, the next leaves at the grid's next
    tick (here 0.4 s after a frame sent a third of the way between two ticks), not a
    whole interval after the last frame."""
    monkeypatch.setattr(node_module, "FLUSH_SECONDS", 0.6)
    node = Node(FetchOptions(workers=1), b"s", "127.0.0.1")
    record = FetchResult("http://f/", None, 404, None, 0, 0.0, None)
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as sock:
        send_frame(sock, b"s")
        time.sleep((0.2 - time.time() % 0.6) % 0.6)  # the phase is what is tested
        node._post(replace(record, index=1))
        assert read_frame(sock) is not None  # a quiet link: at once
        sent = time.time()
        node._post(replace(record, index=2))
        assert read_frame(sock) is not None
        came = time.time()
    tick = (sent // 0.6 + 1) * 0.6  # the grid's first tick after the first frame
    assert tick - 0.01 <= came < tick + 0.15, (sent % 0.6, came - tick)


def test_a_record_that_finds_its_frame_due_sends_it_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The thread posting a record sends the frame once it is due, with the records that
    waited for the tick: on a busy node the writer, woken at the tick, may wait long for
    the GIL. (Here the node has no writer at all.)"""
    monkeypatch.setattr(node_module, "FLUSH_SECONDS", 0.3)
    writing = threading.Event()
    monkeypatch.setattr(Node, "_write", lambda self, conn: writing.set())
    node = Node(FetchOptions(workers=1), b"s", "127.0.0.1")
    record = FetchResult("http://f/", None, 404, None, 0, 0.0, None)

    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as sock:
        send_frame(sock, b"s")
        assert writing.wait(10)  # the client is the node's: its writer would start now
        time.sleep((0.02 - time.time() % 0.3) % 0.3)  # early between two ticks
        node._post(replace(record, index=1))
        assert frame_indexes(sock) == [1]  # a quiet link: at once
        node._post(replace(record, index=2))  # the frame is not due: it waits
        time.sleep(max(0.0, node._due_at - time.monotonic()) + 0.01)  # the tick passes
        node._post(replace(record, index=3))
        assert frame_indexes(sock) == [2, 3]


def test_a_full_collection_first_sends_the_records_waiting_for_the_tick(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A full pass of the garbage collector stops every thread of a node, for 50-90 ms
    over a Dask worker's heap: the records waiting for the tick (here ten minutes away)
    leave before it; a young generation's pass sends nothing. The node's callback is
    gone once its client is. (The node has no writer here: one that has just woken may
    hold the sending lock for a moment, and the pass would then leave the records.)"""
    monkeypatch.setattr(node_module, "FLUSH_SECONDS", 600.0)
    writing = threading.Event()
    monkeypatch.setattr(Node, "_write", lambda self, conn: writing.set())
    before = set(threading.enumerate())
    node = Node(FetchOptions(workers=1), b"s", "127.0.0.1")
    (serving,) = [t for t in set(threading.enumerate()) - before if t.name == "fetcher-node"]
    record = FetchResult("http://f/", None, 404, None, 0, 0.0, None)
    gc.disable()  # only the passes the test makes
    try:
        with socket.create_connection(("127.0.0.1", node.port), timeout=10) as sock:
            send_frame(sock, b"s")
            assert writing.wait(10)  # the client is the node's: its writer would start now
            node._post(replace(record, index=1))
            assert frame_indexes(sock) == [1]  # a quiet link: at once
            node._post(replace(record, index=2))  # then one waits for the tick
            gc.collect(1)
            node._post(replace(record, index=3))
            gc.collect()
            assert frame_indexes(sock) == [2, 3]  # both, in one frame: not at gc.collect(1)
    finally:
        gc.enable()
    serving.join(10)
    assert not serving.is_alive()
    assert node._send_before_collection not in gc.callbacks


@pytest.mark.parametrize("sent_ago", [0.0, 0.013, 0.039, 0.5, -3600.0])
def test_a_frame_waits_for_the_next_tick_and_never_longer_than_the_interval(
    sent_ago: float,
) -> None:
    """`_flush_deadline`: the first tick of the grid after the last frame, in the past
    for a frame sent long ago (the next leaves at once), and at most one interval from
    now for a frame "sent" an hour from now (the wall clock stepped back)."""
    sent = time.time() - sent_ago
    wait = node_module._flush_deadline(sent) - time.monotonic()
    tick = (sent // node_module.FLUSH_SECONDS + 1) * node_module.FLUSH_SECONDS
    assert wait <= node_module.FLUSH_SECONDS
    if sent_ago >= node_module.FLUSH_SECONDS:
        assert wait <= 0.0
    elif sent_ago >= 0:
        assert abs(wait - max(0.0, tick - time.time())) < 0.005


def test_a_first_success_behind_more_than_a_batch_is_in_the_next_frame(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Records waiting beyond a batch do not hold the node's first success back (it goes
    to the front), and what a full batch leaves behind is sent next without a wait."""
    monkeypatch.setattr(node_module, "FLUSH_SECONDS", 600.0)
    monkeypatch.setattr(node_module, "BATCH", 3)
    node = Node(FetchOptions(workers=1), b"s", "127.0.0.1")
    for index in (1, 2, 3):  # failures, finished before the client reads a frame
        node._post(FetchResult(f"http://f/{index}", None, 404, None, 0, 0.0, None, index=index))
    node._post(FetchResult("http://w/", "http://w/", 200, "w", 1, 0.0, None, index=9))
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as sock:
        send_frame(sock, b"s")
        # within the socket's 10 s, not the ten-minute interval
        frames = [frame_indexes(sock) for _ in range(2)]
        assert frames == [[1, 2, 9], [3]]


def test_a_killed_worker_costs_no_record_and_no_duplicate(
    origins: list[LocalServer], scheduler_address: str
) -> None:
    urls = [origins[n % 4].html(f"/kill/{n}", f"<title>{n}</title>", delay=0.15) for n in range(48)]
    killer, killed = kill_a_worker_under_way(origins, scheduler_address)
    options = FetchOptions(
        executor="dask", scheduler=scheduler_address, workers=8, per_host=0, retries=0
    )
    with FetchRun(urls, options, lines=LineMaker("jsonl")) as run:
        results = list(run)
        made = [run.line_of(record) for record in results]
    killer.join(5)
    assert killed.is_set()
    assert made == [LineMaker("jsonl")(record) for record in results]  # each its own line
    assert sorted(r.index or 0 for r in results) == list(range(1, len(urls) + 1))
    assert [r for r in results if not r.ok] == []  # its URLs moved to the live node
    assert all(r.title == r.url.rsplit("/", 1)[1] for r in results)
    worker_pids(scheduler_address)  # the nanny has restarted it for the next test


def test_the_per_host_cap_holds_across_nodes(scheduler_address: str) -> None:
    server = LocalServer().start()  # its own: nothing else is held there
    try:
        urls = [server.html(f"/cap/{n}", "<title>c</title>", delay=0.05) for n in range(40)]
        options = {"executor": "dask", "scheduler": scheduler_address, "workers": 8}
        results = list(fetch_all(urls, **options, per_host=3))
    finally:
        server.stop()
    assert all(r.ok for r in results)
    assert 2 <= server.max_active <= 3  # the cap, and it was reached


def test_the_rate_holds_across_nodes(origins: list[LocalServer], scheduler_address: str) -> None:
    urls = [origins[n % 4].html(f"/rate/{n}", "<title>r</title>") for n in range(18)]
    options = {"executor": "dask", "scheduler": scheduler_address, "workers": 8}
    results = list(fetch_all(urls, **options, rate=12.0, per_host=0))
    assert all(r.ok for r in results)
    starts = sorted(t for s in origins for p, ts in s.arrivals.items() if "/rate/" in p for t in ts)
    assert len(starts) == 18
    busiest = max(sum(1 for t in starts if first <= t < first + 1.0) for first in starts)
    # Each of the two nodes starts at most 6 a second (one more each for network jitter
    # between a start and its arrival); unsplit, the 18 would all come within a second.
    assert busiest <= 14


def test_ctrl_c_on_a_cluster_finishes_what_is_in_flight(
    server: LocalServer, tmp_path: Path, scheduler_address: str
) -> None:
    slow = server.html("/dask-grace/slow", "<title>slow</title>", delay=0.5)
    gate = threading.Event()
    never = [server.add(f"/dask-grace/never{n}", gate=gate) for n in range(2)]
    out = tmp_path / "out.jsonl"
    command = [str(FETCHER), write_list(tmp_path, slow, *never), "-e", "dask", "-w", "2"]
    command += ["--scheduler", scheduler_address, "-o", str(out), "--timeout", "60"]
    command += ["--grace", "1"]  # the slow page fits in it; the gated ones hold it to its end
    try:
        with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as proc:
            server.wait_for(lambda s: s.hits.get("/dask-grace/slow", 0) >= 1, timeout=60)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
    finally:
        gate.set()
    assert proc.returncode == 130, err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["url"], r["title"], r["index"]) for r in records] == [(slow, "slow", 1)]
    assert "Traceback" not in err


def test_credentials_sent_to_a_cluster_in_clear_are_warned_of(
    server: LocalServer, tmp_path: Path, scheduler_address: str
) -> None:
    url = server.html("/dask-auth/x", "<title>x</title>")
    base = [str(FETCHER), write_list(tmp_path, url), "-e", "dask", "--scheduler"]
    warned = subprocess.run(
        [*base, scheduler_address, "-H", "Authorization: Bearer t", "-q"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert warned.returncode == 0, warned.stderr
    assert "credentials (-H Authorization" in warned.stderr and "unencrypted" in warned.stderr
    cluster = {"executor": "dask", "scheduler": scheduler_address}
    assert not _credentials_in_clear(FetchOptions(**cluster, headers={"Accept": "x"}))
    assert _credentials_in_clear(FetchOptions(**cluster, proxy="http://u:p@127.0.0.1:3128"))
    tls = {"executor": "dask", "scheduler": "tls://127.0.0.1:8786"}
    assert not _credentials_in_clear(FetchOptions(**tls, headers={"Authorization": "x"}))
