"""Lines without a scheme fall back to http:// when https cannot be spoken; redirects can
be reported as data (`follow=False`, `location`); `keep_body` keeps the decoded body."""

from __future__ import annotations

import fcntl
import gzip
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fetcher import FIELDS, FetchResult, fetch_all
from fetcher._core.urls import origin_of
from fetcher.cli.app import app
from tests.support.executors import CLIENTS
from tests.support.local import LocalServer

runner = CliRunner()


def one(url: str, **options: Any) -> FetchResult:
    (result,) = fetch_all([url], retries=0, **options)
    return result


def bare(url: str) -> str:
    """`url` without its scheme, as a list line often is."""
    return url.split("://", 1)[1]


@pytest.mark.parametrize("executor", CLIENTS)
def test_a_line_without_a_scheme_on_a_plain_http_server_falls_back(
    server: LocalServer, executor: str
) -> None:
    url = server.html("/fb/plain", "<title>Plain</title>")
    result = one(bare(url), executor=executor)
    assert (result.status, result.title, result.error) == (200, "Plain", None)
    assert result.url == bare(url)
    assert result.final_url == url  # what answered: http://


@pytest.mark.parametrize("executor", CLIENTS)
def test_no_fallback_keeps_the_tls_error(server: LocalServer, executor: str) -> None:
    url = server.html("/fb/off", "<title>Plain</title>")
    result = one(bare(url), executor=executor, fallback=False)
    assert result.status is None and result.error_kind == "tls"


@pytest.mark.parametrize("executor", CLIENTS)
def test_an_explicit_https_never_falls_back(server: LocalServer, executor: str) -> None:
    url = server.html("/fb/explicit", "<title>Plain</title>")
    result = one("https://" + bare(url), executor=executor)
    assert result.status is None and result.error_kind == "tls"


@pytest.mark.parametrize("executor", CLIENTS)
def test_a_certificate_error_never_falls_back(tls_url: str, executor: str) -> None:
    result = one(bare(tls_url), executor=executor)
    assert result.status is None and result.error_kind == "tls"
    assert "certificate" in (result.error or "").lower()


@pytest.mark.parametrize("executor", CLIENTS)
def test_a_refused_line_with_a_port_does_not_fall_back(refused_url: str, executor: str) -> None:
    result = one(bare(refused_url), executor=executor)
    assert result.error_kind == "refused"
    assert result.final_url is None


@pytest.fixture
def plain_on_port_80(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An HTTP server on 127.0.0.7:80 (nothing on 443): a host whose https is refused.

    One test at a time has it, across pytest-xdist's workers too: a lock file in the
    folder above each worker's temporary folder, which is the run's."""
    lock_path = tmp_path_factory.getbasetemp().parent / "port-80.lock"
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released as the file closes
        yield from _serve_on_port_80()


def _serve_on_port_80() -> Iterator[str]:
    try:
        listener = socket.create_server(("127.0.0.7", 80))
    except OSError:
        pytest.skip("port 80 cannot be bound here")
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                body = b"<title>Port 80</title>"
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield "127.0.0.7/page"
    stop.set()
    thread.join()
    listener.close()


@pytest.mark.parametrize("executor", CLIENTS)
def test_https_refused_without_a_port_tries_port_80(plain_on_port_80: str, executor: str) -> None:
    result = one(plain_on_port_80, executor=executor)
    assert (result.status, result.title) == (200, "Port 80")
    assert result.final_url == "http://127.0.0.7/page"


def test_the_per_host_key_of_a_line_without_a_scheme_is_its_https_form() -> None:
    assert origin_of("127.0.0.1:8080/x") == "https://127.0.0.1:8080"
    assert origin_of("example.com/x") == "https://example.com:443"


@pytest.mark.parametrize("executor", CLIENTS)
def test_no_follow_reports_the_redirect_as_a_success(server: LocalServer, executor: str) -> None:
    server.html("/rd/target", "<title>Target</title>")
    url = server.add("/rd/moved", status=301, headers={"Location": "/rd/target?a=1"})
    result = one(url, executor=executor, follow=False)
    assert (result.status, result.error, result.ok) == (301, None, True)
    assert result.location == server.url("/rd/target?a=1")  # absolute
    assert result.final_url == url


@pytest.mark.parametrize("executor", CLIENTS)
def test_a_followed_redirect_has_no_location(server: LocalServer, executor: str) -> None:
    server.html("/rd/followed/target", "<title>T</title>")
    url = server.add("/rd/followed", status=302, headers={"Location": "/rd/followed/target"})
    result = one(url, executor=executor)
    assert (result.status, result.location) == (200, None)


@pytest.mark.parametrize("executor", CLIENTS)
@pytest.mark.parametrize("limit", [0, 1])
def test_too_many_redirects_stay_an_error_with_the_location(
    server: LocalServer, executor: str, limit: int
) -> None:
    server.add("/rd/chain/2", status=302, headers={"Location": "/rd/chain/3"})
    url = server.add("/rd/chain/1", status=302, headers={"Location": "/rd/chain/2"})
    server.html("/rd/chain/3", "<title>end</title>")
    result = one(url, executor=executor, max_redirects=limit)
    assert result.error_kind == "redirects" and not result.ok
    assert result.status == 302
    assert result.location is not None and result.location.startswith(server.url("/rd/chain/"))


def test_location_comes_after_error_kind_and_the_body_is_no_field() -> None:
    assert FIELDS[FIELDS.index("error_kind") + 1] == "location"
    assert "body" not in FIELDS


def test_no_follow_on_the_command_line(server: LocalServer) -> None:
    url = server.add("/rd/cli", status=308, headers={"Location": "https://elsewhere.test/"})
    result = runner.invoke(app, [url, "--no-follow", "-f", "jsonl", "-q"])
    assert result.exit_code == 0
    record = json.loads(result.stdout)
    assert (record["status"], record["location"]) == (308, "https://elsewhere.test/")
    assert "body" not in record


@pytest.mark.parametrize("executor", CLIENTS)
def test_keep_body_keeps_the_decoded_body(server: LocalServer, executor: str) -> None:
    html = b"<title>Kept</title>" + b"x" * 5000
    url = server.add(
        "/body/gzip",
        body=gzip.compress(html),
        headers={"Content-Type": "text/html", "Content-Encoding": "gzip"},
    )
    assert one(url, executor=executor).body is None
    kept = one(url, executor=executor, keep_body=True)
    assert kept.body == html and kept.title == "Kept"
    capped = one(url, executor=executor, keep_body=True, max_bytes=1000)
    assert capped.error_kind == "too_large"
    assert capped.body is not None and len(capped.body) <= 1000


def test_a_redirect_not_followed_shows_its_target_in_text(server: LocalServer) -> None:
    url = server.add("/rd/text", status=302, headers={"Location": "/rd/text/there"})
    result = runner.invoke(app, [url, "--no-follow", "-q"])
    assert result.stdout.rstrip().endswith(f"(redirects to {server.url('/rd/text/there')})")


def test_fetcher_serve_lets_a_line_without_a_scheme_fall_back(tmp_path: Path) -> None:
    from fetcher.tools.bench import local_server

    with local_server(pages=2) as served:
        result = one(bare(served.base) + "page/1", timeout=5)
    assert (result.status, result.final_url) == (200, served.base + "page/1")
    assert result.elapsed < 2  # answered at once, not after a timeout
