"""`--parts DIR` on a real cluster: the nodes write the records, the client lists the parts,
and every URL's record is in exactly one listed part, across a lost node and a resume.

The cluster is the shared `dask scheduler` + `dask worker --nworkers 2` (with nannies);
skipped only when the optional extra is not installed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

import fetcher
from fetcher import FetchOptions, FetchResult, fetch_all
from fetcher._core.errors import OutputError
from fetcher._executors.wire import (
    FrameError,
    decode,
    decode_outcomes,
    encode,
    encode_outcomes,
    read_frame,
    send_frame,
)
from fetcher._output.parts import MANIFEST, open_parts
from fetcher._run import node as node_module
from fetcher._run import nodeparts, retry
from fetcher._run.cluster import ClusterRun
from fetcher._run.node import Node, refill_mark
from tests.cli.test_cli import FETCHER, write_list
from tests.executors.test_cluster import (  # noqa: F401 - origins: a fixture
    kill_a_worker_under_way,
    origins,
    worker_pids,
)
from tests.support.local import LocalServer

pytest.importorskip("distributed")


def listed_records(folder: Path) -> list[dict[str, object]]:
    """The records of the parts the manifest lists, in its order."""
    lines = (folder / MANIFEST).read_text().splitlines()
    assert json.loads(lines[0]) == {"fetcher": "parts", "format": "jsonl"}
    records = []
    for line in lines[1:]:
        entry = json.loads(line)
        rows = (folder / entry["part"]).read_text().splitlines()
        assert len(rows) == entry["records"]
        records += [json.loads(row) for row in rows]
    return records


def test_the_nodes_write_the_records_and_the_manifest_lists_them(
    origins: list[LocalServer],  # noqa: F811
    tmp_path: Path,
    scheduler_address: str,
) -> None:
    urls = [origins[n % 4].html(f"/parts/{n}", f"<title>t{n}</title>") for n in range(40)]
    folder = tmp_path / "parts"
    command = [str(FETCHER), write_list(tmp_path, *urls), "-e", "dask", "-w", "8"]
    done = subprocess.run(
        [*command, "--scheduler", scheduler_address, "--parts", str(folder)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # the records are in the parts
    assert "40 URLs, 40 ok" in done.stderr
    records = listed_records(folder)
    assert sorted(r["index"] for r in records) == list(range(1, 41))  # type: ignore[type-var]
    assert all(r["title"] == f"t{r['index'] - 1}" for r in records)  # type: ignore[operator]
    assert not [name for name in os.listdir(folder) if name.endswith(".partial")]
    again = subprocess.run(
        [*command, "--scheduler", scheduler_address, "--parts", str(folder)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode == 2 and "--resume continues it" in again.stderr


def test_the_api_runs_into_parts_it_opens(
    origins: list[LocalServer],  # noqa: F811
    tmp_path: Path,
    scheduler_address: str,
) -> None:
    """From Python: `open_parts`, then `fetch_all(..., parts=...)`, which yields each
    record's outcome once its part is listed; the text is in the parts."""
    urls = [origins[n % 4].html(f"/api-parts/{n}", f"<title>a{n}</title>") for n in range(12)]
    options = {"executor": "dask", "scheduler": scheduler_address, "workers": 8}
    with fetcher.open_parts(tmp_path / "parts") as parts:
        results = list(fetch_all(urls, **options, parts=parts))
        with pytest.raises(OutputError, match="the parts have had a run already"):
            list(fetch_all(urls, **options, parts=parts))  # its indexes would start at 1
    with pytest.raises(OutputError, match="the parts are closed"):
        list(fetch_all(urls, **options, parts=parts))
    assert sorted(r.index or 0 for r in results) == list(range(1, 13))
    assert all(r.ok and r.title is None for r in results)
    records = listed_records(tmp_path / "parts")
    assert sorted(str(r["title"]) for r in records) == sorted(f"a{n}" for n in range(12))


def test_a_killed_worker_costs_no_record_and_no_duplicate_in_the_parts(
    origins: list[LocalServer],  # noqa: F811
    tmp_path: Path,
    scheduler_address: str,
) -> None:
    pages = [(origins[n % 4], f"/pkill/{n}", f"<title>{n}</title>") for n in range(48)]
    urls = [origin.html(path, title, delay=0.15) for origin, path, title in pages]
    parts, _ = open_parts(str(tmp_path / "parts"), "jsonl", resume=False, warn=print)
    killer, killed = kill_a_worker_under_way(origins, scheduler_address)
    options = {"executor": "dask", "scheduler": scheduler_address, "workers": 8, "per_host": 0}
    try:
        results = list(fetch_all(urls, **options, retries=0, timeout=30, parts=parts))
    finally:
        assert parts.manifest is not None
        parts.manifest.close()
    killer.join(5)
    assert killed.is_set()
    assert sorted(r.index or 0 for r in results) == list(range(1, len(urls) + 1))
    assert all(r.ok and r.title is None for r in results)  # the titles are in the parts
    records = listed_records(tmp_path / "parts")
    assert Counter(r["index"] for r in records) == Counter(range(1, len(urls) + 1))
    worker_pids(scheduler_address)  # the nanny has restarted it for the next test


def test_a_stopped_run_resumes_into_its_parts_exactly_once(
    server: LocalServer, tmp_path: Path, scheduler_address: str
) -> None:
    gate = threading.Event()
    quick = [server.html(f"/presume/q{n}", "<title>q</title>") for n in range(6)]
    held_paths = ("/presume/held0", "/presume/held1")
    held = [server.add(path, gate=gate) for path in held_paths]
    listing = write_list(tmp_path, *quick, *held)
    folder = tmp_path / "parts"
    command = [str(FETCHER), listing, "-e", "dask", "-w", "2", "--scheduler", scheduler_address]
    command += ["--parts", str(folder), "--timeout", "60", "--grace", "0.5"]
    try:
        with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as proc:
            server.wait_for(lambda s: all(s.hits.get(p, 0) for p in held_paths), timeout=60)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
    finally:
        gate.set()
    assert proc.returncode == 130, err
    assert "--resume" in err  # how to continue
    first = sorted(int(r["index"]) for r in listed_records(folder))  # type: ignore[call-overload]
    assert first == list(range(1, 7))  # the quick ones, each once; the held ones not
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    records = listed_records(folder)
    assert Counter(r["index"] for r in records) == Counter(range(1, 9))


def test_a_parts_outcomes_cross_the_wire_without_their_text() -> None:
    full = FetchResult("http://a/1", "http://a/one", 200, "T", 5, 0.25, None, index=7)
    failed = FetchResult("http://b/2", None, None, None, 0, 0.5, "boom", 3, error_kind="refused")
    failed = replace(failed, index=9)
    message = decode(encode_outcomes([full, failed], {"sealed": "p"}))
    assert message["sealed"] == "p" and len(message["outcomes"]) == 2
    urls = {7: "http://a/1"}  # the client's URLs out at the node; 9 is not (any more)
    (record,) = decode_outcomes(message, urls.get)
    assert record == replace(full, final_url=None, title=None)
    assert record.ok
    with pytest.raises(FrameError):
        decode_outcomes({"outcomes": [["x", 200]]}, urls.get)


@contextlib.contextmanager
def node_writing_parts(tmp_path: Path, urls: list[str]) -> Iterator[socket.socket]:
    """A node of one thread writing parts in `tmp_path`, its client's connection, which
    has sent `urls` (indexes 1, 2, ...)."""
    with open_parts(str(tmp_path / "parts"), "jsonl", resume=False, warn=print)[0] as parts:
        node = Node(FetchOptions(workers=1, retries=0), b"s", "127.0.0.1", parts.sink("0000abcd"))
        with socket.create_connection(("127.0.0.1", node.port), timeout=10) as sock:
            send_frame(sock, b"s")
            send_frame(sock, encode({"urls": [[n + 1, url] for n, url in enumerate(urls)]}))
            yield sock


def test_a_node_tells_its_count_only_once_it_lets_the_client_send_more(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With parts, the count of URLs done is flow control: a node holding as many URLs
    as the client's mark or more keeps it (the client would send nothing), so a busy
    node's client wakes for a refill, not every tick; the records come with the part."""
    monkeypatch.setattr(node_module, "BATCH", 4)  # the mark of one thread: 2 + 4 // 2
    monkeypatch.setattr(nodeparts, "SEAL_SECONDS", 600.0)  # sealed on the drain only
    mark = refill_mark(1)
    urls = [server.html(f"/flow/{n}", f"<title>{n}</title>", delay=0.01) for n in range(9)]
    with node_writing_parts(tmp_path, urls) as sock:
        held, counts = len(urls), []
        while held:
            message = decode(read_frame(sock) or b"{}")
            assert held - message["done"] < mark  # told once it frees room, never before
            held -= message["done"]
            counts.append(message["done"])
        assert counts[0] > len(urls) - mark  # not 1 at once, as a quiet link's record was
        send_frame(sock, encode({"drain": True}))
        sealed = decode(read_frame(sock) or b"{}")
        assert sorted(row[0] for row in sealed["outcomes"]) == list(range(1, 10))
        send_frame(sock, encode({"finish": 1}))
        assert decode(read_frame(sock) or b"{}") == {"end": True}


def test_a_busy_node_seals_its_part_on_time_though_its_count_waits(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node that holds more URLs than the mark keeps its count, but not its records:
    the part they open is sealed `SEAL_SECONDS` later, its count with it, long before
    the node would fall under the mark."""
    monkeypatch.setattr(node_module, "BATCH", 4)  # the mark of one thread: 2 + 4 // 2
    monkeypatch.setattr(nodeparts, "SEAL_SECONDS", 0.2)
    slow = [server.html(f"/seal/{n}", f"<title>{n}</title>", delay=0.03) for n in range(40)]
    with node_writing_parts(tmp_path, slow) as sock:
        counted = decode(read_frame(sock) or b"{}")
        sealed = decode(read_frame(sock) or b"{}")
        # Worth telling only at 37 done (1.1 s in); sealed at 0.2 s, about 7 done.
        assert 0 < counted["done"] < 30 and "sealed" in sealed
        assert len(sealed["outcomes"]) == counted["done"]
        send_frame(sock, encode({"finish": 0}))
        while decode(read_frame(sock) or b'{"end": true}').get("end") is not True:
            pass


def test_a_record_made_by_the_client_goes_to_a_part_of_its_own(tmp_path: Path) -> None:
    """A URL whose node was lost twice gets its record here, not at a node: with parts it
    is written to a part of the client's own, listed before the record is taken."""
    parts, _ = open_parts(str(tmp_path / "parts"), "jsonl", resume=False, warn=print)
    run = ClusterRun([], FetchOptions(executor="dask", parts=parts))
    record = retry.executor_record("http://127.0.0.1:9/x", 5, "lost the Dask worker twice")
    with run._lock:
        run._settle(record)
    assert run._arrivals == [record]
    run.close()
    assert parts.manifest is not None
    parts.manifest.close()
    (listed,) = listed_records(tmp_path / "parts")
    assert listed["index"] == 5 and listed["error"] == "lost the Dask worker twice"
