"""fetch_all / fetch_first against a real local server, on both executors."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from fetcher import FetchOptions, FetchResult, fetch_all, fetch_first
from tests.support.executors import CLIENTS, LOCAL
from tests.support.local import LocalServer

EXECUTORS = LOCAL


@pytest.fixture(params=CLIENTS)
def client(request: pytest.FixtureRequest) -> str:
    """The two HTTP clients: the sync one (thread, process, hybrid) and the async one."""
    return str(request.param)


def fetch_one(url: str, **options: object) -> FetchResult:
    results = list(fetch_all([url], **options))
    assert len(results) == 1
    return results[0]


@pytest.mark.parametrize("executor", EXECUTORS)
def test_mixed_list_every_url_once_in_completion_order(
    server: LocalServer, refused_url: str, executor: str
) -> None:
    ok = server.html("/mixed/ok", "<title>Fine &amp; dandy</title>")
    slow = server.html("/mixed/slow", "<title>Slow</title>", delay=0.5)
    missing = server.html("/mixed/missing", "<title>Gone</title>", status=404)
    broken = server.html("/mixed/broken", "<title>Oops</title>", status=500)
    urls = [slow, ok, missing, broken, refused_url, ok, "ftp://example.com/"]

    results = list(fetch_all(urls, executor=executor, workers=4, timeout=5, retries=0))

    assert Counter(r.url for r in results) == Counter(urls)
    assert results[-1].url == slow  # completion order, not input order
    by_url = {r.url: r for r in results}
    assert (by_url[ok].status, by_url[ok].title, by_url[ok].error) == (200, "Fine & dandy", None)
    assert by_url[ok].final_url == ok and by_url[ok].bytes == len(
        b"<title>Fine &amp; dandy</title>"
    )
    assert (by_url[missing].status, by_url[missing].title, by_url[missing].error) == (
        404,
        "Gone",
        None,
    )
    assert (by_url[broken].status, by_url[broken].error) == (500, None)
    assert not by_url[missing].ok and not by_url[broken].ok
    assert by_url[refused_url].error == "connection refused"
    assert by_url[refused_url].status is None and by_url[refused_url].final_url is None
    assert "unsupported scheme 'ftp'" in (by_url["ftp://example.com/"].error or "")


def test_redirects_are_followed_to_the_final_url(server: LocalServer, client: str) -> None:
    final = server.html("/redirect/final", "<title>Landed</title>")
    server.add("/redirect/b", status=301, headers={"Location": "/redirect/final"})
    start = server.add("/redirect/a", status=302, headers={"Location": server.url("/redirect/b")})

    result = fetch_one(start, executor=client)

    assert (result.status, result.final_url, result.title, result.error) == (
        200,
        final,
        "Landed",
        None,
    )


def test_redirect_loop_is_an_error_row(server: LocalServer, client: str) -> None:
    server.add("/loop/a", status=302, headers={"Location": "/loop/b"})
    loop = server.add("/loop/b", status=302, headers={"Location": "/loop/a"})

    result = fetch_one(loop, executor=client)

    assert result.error is not None and "redirect loop" in result.error
    assert result.status == 302


def test_too_many_redirects_is_an_error_row(server: LocalServer, client: str) -> None:
    for i in range(4):
        server.add(f"/chain/{i}", status=302, headers={"Location": f"/chain/{i + 1}"})
    server.html("/chain/4", "<title>End</title>")

    assert fetch_one(server.url("/chain/0"), max_redirects=4, executor=client).title == "End"
    result = fetch_one(server.url("/chain/0"), max_redirects=3, executor=client)
    assert result.error == "more than 3 redirects"


def test_redirect_to_another_scheme_is_refused(server: LocalServer, client: str) -> None:
    url = server.add("/to-file", status=302, headers={"Location": "file:///etc/passwd"})
    result = fetch_one(url, executor=client)
    assert result.error is not None and "unsupported scheme 'file'" in result.error


@pytest.mark.parametrize(
    ("body", "content_type", "title"),
    [
        (
            "<title>Привет, мир</title>".encode("windows-1251"),
            "text/html; charset=windows-1251",
            "Привет, мир",
        ),
        ("<title>Привет</title>".encode("koi8-r"), 'text/html; CHARSET="KOI8-R"', "Привет"),
        ('<meta charset="gbk"><title>中文标题</title>'.encode("gbk"), "text/html", "中文标题"),
        (b"<svg><title>icon</title></svg><title>Real</title>", "text/html", "Real"),
        (b"<script>var t='<title>no</title>'</script><title>Yes</title>", "text/html", "Yes"),
        (b'{"title": "<title>json</title>"}', "application/json", None),
        (b"\x89PNG\r\n\x1a\n<title>png</title>", "image/png", None),
        (b"<html><body>no title here</body></html>", "text/html", None),
        (b"<title>  spread\n\tout  </title>", "TEXT/HTML", "spread out"),
    ],
)
def test_titles_through_http(
    server: LocalServer, body: bytes, content_type: str, title: str | None, client: str
) -> None:
    url = server.add(
        f"/titles/{abs(hash(body))}", body=body, headers={"Content-Type": content_type}
    )
    result = fetch_one(url, executor=client)
    assert (result.title, result.error, result.bytes) == (title, None, len(body))


def test_title_without_content_type_is_sniffed(server: LocalServer, client: str) -> None:
    html = server.add("/sniff/html", body=b"<!DOCTYPE html><title>Sniffed</title>")
    text = server.add("/sniff/text", body=b"just text <title>no</title>")
    assert fetch_one(html, executor=client).title == "Sniffed"
    assert fetch_one(text, executor=client).title is None


def test_unclosed_title_is_capped(server: LocalServer, client: str) -> None:
    url = server.html("/unclosed", "<title>" + "word " * 5000)
    title = fetch_one(url, executor=client).title
    assert title is not None and len(title) == 1024


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_hanging_server_is_bounded_by_the_timeout(server: LocalServer, executor: str) -> None:
    url = server.add(f"/hang/{executor}", hang=True)
    result = fetch_one(url, timeout=1, executor=executor, retries=0)
    assert result.error == "timed out after 1s"
    assert 0.9 <= result.elapsed < 3


def test_a_large_body_is_cut_at_max_bytes(server: LocalServer, client: str) -> None:
    url = server.add(
        "/large", stream_bytes=50_000_000, headers={"Content-Type": "application/octet-stream"}
    )
    result = fetch_one(url, max_bytes=1_000_000, executor=client)
    assert result.bytes == 1_000_000
    assert result.error == "body larger than max-bytes (1000000 bytes)"
    assert result.status == 200


def test_unknown_content_encoding_is_an_error(server: LocalServer, client: str) -> None:
    url = server.add("/br", body=b"\x0b\x02\x80", headers={"Content-Encoding": "br"})
    result = fetch_one(url, executor=client)
    assert result.status == 200
    assert result.error == "unsupported Content-Encoding 'br'"


def test_request_asks_only_for_codings_it_caps(server: LocalServer, client: str) -> None:
    url = server.html("/headers", "<title>h</title>")
    assert fetch_one(url, executor=client).error is None
    headers = server.request_headers["/headers"]
    assert headers["Accept-Encoding"] == "gzip, deflate"
    assert headers["User-Agent"].startswith("fetcher/")


def test_name_that_does_not_resolve_is_an_error_row() -> None:
    result = fetch_one("http://name-that-does-not-exist.invalid/")
    assert result.error is not None and result.error.startswith("DNS lookup failed")


def test_line_without_scheme_is_fetched_as_https(server: LocalServer) -> None:
    line = f"127.0.0.1:{server.port}/tls"  # a plain-HTTP server: a TLS handshake fails
    result = fetch_one(line, fallback=False)  # (with the fallback: see test_fallback_...)
    assert result.url == line
    assert result.error is not None and result.error.startswith("TLS error")


def test_duplicates_each_get_a_record(server: LocalServer) -> None:
    url = server.html("/dup", "<title>dup</title>")
    results = list(fetch_all([url] * 25, workers=4))
    assert len(results) == 25 and all(r.url == url and r.ok for r in results)


def test_the_window_of_live_futures_is_bounded(server: LocalServer) -> None:
    url = server.html("/window", "<title>w</title>")
    pulled = 0

    def urls() -> object:
        nonlocal pulled
        for _ in range(600):
            pulled += 1
            yield url

    run = fetch_all(urls(), workers=3)  # type: ignore[arg-type]
    first = next(run)
    assert first.ok
    assert pulled <= 2 * run.options.window + 1  # read lazily: a window ahead of the pool
    rest = list(run)
    assert len(rest) == 599
    assert run.max_in_flight == run.options.window == 6
    assert run.in_flight == 0


@pytest.mark.parametrize("executor", EXECUTORS)
def test_leaving_the_iterator_early_stops_the_pool(server: LocalServer, executor: str) -> None:
    fast = server.html(f"/early/fast/{executor}", "<title>fast</title>")
    hang = server.add(f"/early/hang/{executor}", hang=True)
    started = time.monotonic()
    with fetch_all(
        [hang, hang, fast] + [hang] * 20, workers=4, executor=executor, timeout=60
    ) as run:
        for result in run:
            assert result.url == fast
            break
    assert time.monotonic() - started < 5
    assert run.in_flight == 0
    assert not live_worker_threads(), "worker threads still blocked after the run was left"


@pytest.mark.parametrize("executor", EXECUTORS)
def test_fetch_first_picks_the_success_over_a_faster_failure(
    server: LocalServer, executor: str
) -> None:
    failing = server.html(f"/first/fail/{executor}", "<title>no</title>", status=500)
    winner = server.html(f"/first/win/{executor}", "<title>Winner</title>", delay=0.3)
    hang = server.add(f"/first/hang/{executor}", hang=True)
    failures: list[FetchResult] = []
    started = time.monotonic()

    result = fetch_first(
        [hang, failing, winner], executor=executor, timeout=60, on_failure=failures.append
    )

    assert result is not None and result.url == winner and result.title == "Winner"
    assert time.monotonic() - started < 5  # the hang would take a minute
    assert [f.url for f in failures] == [failing]


def test_fetch_first_returns_none_when_nothing_succeeds(
    server: LocalServer, refused_url: str
) -> None:
    missing = server.html("/first/none", "<title>x</title>", status=404)
    failures: list[FetchResult] = []
    assert fetch_first([missing, refused_url], on_failure=failures.append) is None
    assert sorted(f.url for f in failures) == sorted([missing, refused_url])


def test_options_object_and_keyword_overrides() -> None:
    options = FetchOptions(workers=2, timeout=3)
    run = fetch_all([], options, executor="process")
    assert (run.options.workers, run.options.timeout, run.options.executor) == (2, 3, "process")
    assert list(run) == []
    with pytest.raises(ValueError, match="workers"):
        FetchOptions(workers=0)
    with pytest.raises(ValueError, match="executor"):
        FetchOptions(executor="fibers")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unknown fetch option"):
        fetch_all([], colour="blue")


def test_results_are_plain_picklable_values(server: LocalServer) -> None:
    import pickle

    result = fetch_one(server.html("/pickle", "<title>p</title>"))
    assert pickle.loads(pickle.dumps(result)) == result
    with pytest.raises(AttributeError):
        result.title = "changed"  # type: ignore[misc]


def test_a_single_string_is_not_taken_for_a_list() -> None:
    with pytest.raises(TypeError, match="iterable of URL strings"):
        fetch_all("http://127.0.0.1/")


def test_items_that_are_not_strings_get_error_rows(server: LocalServer) -> None:
    ok = server.html("/not-str", "<title>ok</title>")
    results = list(fetch_all([ok, None, b"http://x"]))  # type: ignore[list-item]
    assert sorted(r.error or "" for r in results) == ["", "not a URL string", "not a URL string"]


def test_environment_proxies_are_not_used(
    server: LocalServer, refused_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, refused_url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    result = fetch_one(server.html("/no-proxy", "<title>direct</title>"))
    assert (result.error, result.title) == (None, "direct")


def live_worker_threads(within: float = 2.0) -> list[threading.Thread]:
    """Worker threads still alive after waiting up to `within` seconds for them to end
    (not the resolver's: the process keeps those for its next lookups)."""
    deadline = time.monotonic() + within
    live = [
        t
        for t in threading.enumerate()
        if t.name.startswith("fetcher") and t.name != "fetcher-resolve" and t.is_alive()
    ]
    for thread in live:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [t for t in live if t.is_alive()]


@pytest.mark.parametrize("stall", ["unanswered_connect_url", "silent_tls_url"])
def test_abandoning_a_run_wakes_workers_stuck_in_connect_or_tls(
    server: LocalServer, request: pytest.FixtureRequest, stall: str
) -> None:
    stalled = request.getfixturevalue(stall)
    winner = server.html(f"/stall/{stall}", "<title>Winner</title>", delay=0.3)
    started = time.monotonic()
    result = fetch_first([stalled, stalled, winner], timeout=60, workers=3)
    assert result is not None and result.url == winner
    assert time.monotonic() - started < 5
    assert not live_worker_threads(), "a worker is still blocked in connect or TLS"


@pytest.mark.parametrize("stall", ["unanswered_connect_url", "silent_tls_url"])
def test_connect_and_tls_stalls_are_bounded_by_the_timeout(
    request: pytest.FixtureRequest, stall: str, client: str
) -> None:
    result = fetch_one(request.getfixturevalue(stall), timeout=0.5, retries=0, executor=client)
    assert result.error == "timed out after 0.5s"
    assert result.elapsed < 2


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("http://example..com/", "invalid host name"),
        ("http://" + "a" * 64 + ".com/", "invalid host name"),
        ("https://xn--a.com/", "invalid host name"),  # an invalid A-label
        ("http://xn--ls8h.invalid/", "invalid host name"),  # decodes to an emoji
        ("https://\u00ad.invalid/", "invalid host name"),
        ("https://\ufb01.invalid/", "invalid host name"),
        ("http://127.0.0.1:99999/", "invalid port 99999"),
        ("http://[::1/", "invalid port"),
        ("http://a\tb.invalid/", "invalid character in URL"),
        ("https:///path", "URL has no host"),
        ("http://x.invalid/" + "a" * 70_000, "URL longer than 65536 characters"),
    ],
)
def test_malformed_urls_are_error_rows(url: str, error: str, client: str) -> None:
    result = fetch_one(url, executor=client)
    assert result.error == error  # a plain message: no exception names, no library's text


def test_a_slow_source_does_not_hold_back_finished_records(server: LocalServer) -> None:
    ok = server.html("/slow-source", "<title>ok</title>")
    release = threading.Event()
    waited_in_vain: list[bool] = []

    def urls() -> Iterator[str]:
        yield ok
        waited_in_vain.append(not release.wait(10))
        yield ok

    run = fetch_all(urls())
    first = next(run)  # must not wait for the source's next line
    assert first.ok and waited_in_vain == []
    release.set()
    assert [r.ok for r in run] == [True]
    assert waited_in_vain == [False]


def test_an_error_from_the_source_is_raised_after_its_urls(server: LocalServer) -> None:
    ok = server.html("/source-error", "<title>ok</title>")

    def urls() -> Iterator[str]:
        yield ok
        raise OSError("disk on fire")

    run = fetch_all(urls())
    seen = []
    with pytest.raises(OSError, match="disk on fire"):
        for result in run:
            seen.append(result)
    assert [r.url for r in seen] == [ok]


def test_a_timeout_mid_body_keeps_what_was_read(server: LocalServer, client: str) -> None:
    url = server.html("/drip/partial", "<title>Partial</title>" + "x" * 200, drip_body=0.02)
    result = fetch_one(url, timeout=1, retries=0, executor=client)  # some 50 bytes of 222
    assert result.error == "timed out after 1s"
    assert result.status == 200 and result.title == "Partial"
    assert 22 < result.bytes < 222


def test_cookies_do_not_carry_from_one_url_to_the_next(server: LocalServer, client: str) -> None:
    setter = server.html(
        "/cookie/set", "<title>set</title>", headers={"Set-Cookie": "session=abc; Path=/"}
    )
    reader = server.html("/cookie/read", "<title>read</title>")
    assert fetch_one(setter, executor=client).ok
    results = list(fetch_all([setter, reader, reader], workers=1, executor=client))
    assert all(r.ok for r in results)
    assert "Cookie" not in server.request_headers["/cookie/read"]


def test_waiting_for_a_slow_response_does_not_spin(server: LocalServer) -> None:
    url = server.html("/idle-wait", "<title>later</title>", delay=1.0)
    cpu_before = time.process_time()
    assert fetch_one(url).title == "later"
    assert time.process_time() - cpu_before < 0.5  # a busy loop would burn the whole second


def test_hybrid_pool_spreads_workers_over_processes_with_threads() -> None:
    from fetcher._executors.processes import split as plan

    for workers in (1, 3, 7, 64):
        threads = plan(workers)
        assert sum(threads) == workers  # exactly as many requests in flight as asked
        assert 1 <= len(threads) <= workers and max(threads) - min(threads) <= 1
