"""`fetcher serve`: the local benchmark site, through the real client and as a command."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fetcher import FetchOptions, fetch_all
from fetcher.tools.hosts import Hosts
from fetcher.tools.serve import STATS_PATH, SiteOptions, build_site
from tests.conftest import ScanSite
from tests.support.extras import fetcher_without
from tests.support.site import RunningSite


@pytest.fixture
def running() -> Iterator[Callable[..., RunningSite]]:
    started: list[RunningSite] = []

    def start(hosts: int = 1, **options: object) -> RunningSite:
        site = RunningSite(build_site(SiteOptions(**options)), hosts)  # type: ignore[arg-type]
        started.append(site)
        return site

    yield start
    for site in started:
        site.close()


def test_pages_have_distinct_titles_and_size(running: Callable[..., RunningSite]) -> None:
    site = running(pages=30, size_kb=8)
    results = list(fetch_all(site.urls(), workers=4))
    assert len(results) == 30 and all(r.ok for r in results)
    titles = {r.title for r in results}
    assert len(titles) == 30
    assert "Page 7 · fetcher test site" in titles
    assert all(8 * 1024 <= r.bytes <= 8 * 1024 + 300 for r in results)


def test_latency_delays_every_answer(running: Callable[..., RunningSite]) -> None:
    site = running(pages=4, latency_ms=200, jitter_ms=50)
    results = list(fetch_all(site.urls(), workers=4))
    assert all(r.elapsed >= 0.15 for r in results)  # 200 ms ± 50 ms, never less


def test_error_rate_is_deterministic(running: Callable[..., RunningSite]) -> None:
    first = running(pages=100, error_rate=0.2, seed=7, size_kb=1)
    statuses = {r.url.rsplit("/", 1)[1]: r.status for r in fetch_all(first.urls(), workers=8)}
    assert sorted(statuses.values()).count(500) == 20
    again = running(pages=100, error_rate=0.2, seed=7, size_kb=1)
    repeat = {r.url.rsplit("/", 1)[1]: r.status for r in fetch_all(again.urls(), workers=8)}
    assert repeat == statuses


def test_gzip_pages_are_decoded_by_the_client(running: Callable[..., RunningSite]) -> None:
    site = running(pages=2, size_kb=50, gzip=True)
    wire = site.site.responses["/page/0"][0]
    assert b"Content-Encoding: gzip" in wire and len(wire) < 25_000
    results = list(fetch_all(site.urls()))
    assert all(r.ok and r.bytes > 50_000 and r.title for r in results)


def test_a_folder_is_served_file_by_file(
    running: Callable[..., RunningSite], tmp_path: Path
) -> None:
    (tmp_path / "a.html").write_text("<title>From a folder</title>")
    (tmp_path / "data.json").write_text("{}")
    (tmp_path / ".hidden").write_text("secret")
    site = running(folder=str(tmp_path))
    assert sorted(site.site.paths) == ["/a.html", "/data.json"]
    results = {r.url.rsplit("/", 1)[1]: r for r in fetch_all(site.urls())}
    assert results["a.html"].title == "From a folder"
    assert results["data.json"].title is None and results["data.json"].ok
    with fetch_all([site.base + "../.hidden", site.base + "nope"]) as run:  # closed after
        missing = next(run)
    assert missing.status == 404


def test_stats_report_the_servers_own_cpu(running: Callable[..., RunningSite]) -> None:
    site = running(pages=3, size_kb=1)
    list(fetch_all(site.urls()))
    with socket.create_connection(("127.0.0.1", int(site.base.rsplit(":", 1)[1].strip("/")))) as s:
        s.sendall(f"GET {STATS_PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    stats = json.loads(data.split(b"\r\n\r\n", 1)[1])
    assert stats["requests"] >= 4 and stats["cpu"] > 0


def test_a_thousand_concurrent_keep_alive_connections(running: Callable[..., RunningSite]) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    site = running(pages=10, size_kb=1)
    port = int(site.base.rsplit(":", 1)[1].strip("/"))
    sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(1000)]
    try:
        for round_ in range(2):  # the second request on each proves the connection stayed open
            for sock in sockets:
                sock.sendall(f"GET /page/{round_} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            for sock in sockets:
                head = b""
                while b"\r\n\r\n" not in head:
                    head += sock.recv(1)
                assert head.startswith(b"HTTP/1.1 200")
                length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                body = b""
                while len(body) < length:
                    body += sock.recv(length - len(body))
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_the_serve_command_writes_urls_and_stops_cleanly(tmp_path: Path, stop_signal: int) -> None:
    urls = tmp_path / "urls.txt"
    with subprocess.Popen(
        [sys.executable, "-m", "fetcher", "serve", "--pages", "12", "--write-urls", str(urls)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        base = proc.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:") and base.endswith("/")
        lines = urls.read_text().splitlines()
        assert lines == [f"{base}page/{i}" for i in range(12)]
        proc.send_signal(stop_signal)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "12 pages of about 20 KiB" in err and "Traceback" not in err


def test_many_hosts_on_one_port_and_the_most_requests_held_at_once(
    running: Callable[..., RunningSite],
) -> None:
    site = running(hosts=300, pages=600, size_kb=1, latency_ms=20)
    urls = site.urls()
    origins = {url.rsplit("/", 2)[0] for url in urls}
    assert len(origins) == 300 and len({url.split(":")[2].split("/")[0] for url in urls}) == 1
    assert urls[0].startswith("http://127.0.1.1:") and urls[299].startswith("http://127.0.2.50:")
    results = list(fetch_all(urls, workers=12, per_host=0))
    assert all(r.ok for r in results) and len(results) == 600
    host, port = site.base.split("/")[2].split(":")
    stats = server_stats(host, int(port))
    assert stats["requests"] == 601 and 2 <= stats["max_active"] <= 12  # 12 workers at most


def server_stats(host: str, port: int) -> dict[str, float]:
    with socket.create_connection((host, port)) as s:
        s.sendall(f"GET {STATS_PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    stats: dict[str, float] = json.loads(data.split(b"\r\n\r\n", 1)[1])
    return stats


def test_tls_hosts_are_verified_by_their_ca_and_fail_as_seeded(scan_site: ScanSite) -> None:
    kinds = dict(zip(scan_site.urls, scan_site.kinds, strict=True))
    assert sorted(scan_site.kinds) == ["hang", "ok", "ok", "ok", "ok", "ok", "refuse", "slow"]
    assert scan_site.kinds[0] == "ok"  # the first host answers: the stats are there
    assert all(url.startswith("https://127.0.1.") for url in scan_site.urls)
    results = list(
        fetch_all(scan_site.urls, cacert=scan_site.ca_pem, workers=8, timeout=1.5, retries=0)
    )
    outcome = {r.url: r for r in results}
    for url, kind in kinds.items():
        record = outcome[url]
        if kind in ("ok", "slow"):
            assert record.ok and record.status == 200 and record.title, record
        else:
            assert record.error_kind == {"hang": "timeout", "refuse": "refused"}[kind], record
        if kind == "slow":
            assert record.elapsed >= scan_site.slow_seconds
    # the system's trust store does not know the throwaway CA: every answering host fails
    untrusted = [url for url, kind in kinds.items() if kind == "ok"]
    plain = list(fetch_all(untrusted, workers=8, timeout=5, retries=0))
    assert {r.error_kind for r in plain} == {"tls"}
    assert all("CERTIFICATE_VERIFY_FAILED" in (r.error or "") for r in plain)


def test_hosts_options_are_checked() -> None:
    with pytest.raises(ValueError, match="add up to more than 1"):
        Hosts(count=10, hang_rate=0.6, refuse_rate=0.6)
    with pytest.raises(ValueError, match="need --hosts 2"):
        Hosts(count=1, slow_rate=0.5)
    assert Hosts(count=5, seed=1, refuse_rate=1).kinds() == ["ok"] + ["refuse"] * 4


def test_the_serve_command_writes_a_ca_that_fetcher_trusts(tmp_path: Path) -> None:
    pytest.importorskip("trustme")
    urls, ca = tmp_path / "scan.txt", tmp_path / "ca.pem"
    command = [sys.executable, "-m", "fetcher", "serve", "--tls", "--hosts", "5"]
    command += ["--write-urls", str(urls), "--write-ca", str(ca), "--refuse-rate", "0.2"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        base = proc.stdout.readline().decode().strip()
        try:
            assert base.startswith("https://127.0.1.1:")
            assert len(urls.read_text().splitlines()) == 5  # one page per host by default
            fetched = subprocess.run(
                [sys.executable, "-m", "fetcher", str(urls), "--cacert", str(ca), "-q",
                 "--retries", "0", "-o", "-", "-f", "jsonl"],
                capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
        finally:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=10)
    records = [json.loads(line) for line in fetched.stdout.splitlines()]
    assert sorted(str(r["error_kind"]) for r in records) == ["None"] * 4 + ["refused"]
    assert fetched.returncode == 1  # one URL failed
    assert b"TLS" in err and b"1 refuse" in err


def test_serve_tls_without_trustme_names_the_extra(tmp_path: Path) -> None:
    done = fetcher_without("trustme", "serve", "--tls")
    assert done.returncode == 2
    assert "pip install 'fetcher[tls]'" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_scan_leaves_no_idle_connections_and_recurring_hosts_keep_theirs(
    running: Callable[..., RunningSite],
) -> None:
    from fetcher._http.aclient import AsyncFetcher
    from fetcher._http.client import PageFetcher

    site = running(hosts=6, pages=12, size_kb=1)
    host, port = site.base.split("/")[2].split(":")
    urls = site.urls()  # page i on host i mod 6: each host twice, six apart
    options = FetchOptions()

    def open_after(count: int) -> tuple[int, int]:
        """Connections open at the server after one worker of each client fetched the
        first `count` URLs, one at a time (the stats request's own not counted)."""
        fetcher = PageFetcher(options)
        assert all(fetcher.attempt(url).result.ok for url in urls[:count])
        sync_open = server_stats(host, int(port))["open"] - 1
        fetcher.close()

        async def fetch() -> int:
            afetcher = AsyncFetcher(options)
            slot = afetcher.slot()
            for url in urls[:count]:
                assert (await afetcher.attempt(url, None, slot)).result.ok
            async_open = server_stats(host, int(port))["open"] - 1
            await slot.aclose()
            return int(async_open)

        return int(sync_open), asyncio.run(fetch())

    assert open_after(6) == (0, 0)  # six new hosts: nothing kept idle
    assert open_after(12) == (4, 4)  # met again: kept, up to 4 idle a worker
