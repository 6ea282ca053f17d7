"""Retries, crashed workers, saving pages and politeness, through the real client stack."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pytest

from fetcher import FetchOptions, FetchResult, fetch_all
from fetcher._compat import pool_processes
from fetcher._executors.process import ProcessPool
from fetcher._executors.processes import CRASH_HOOK_ENV
from fetcher._run import schedule as _schedule
from fetcher._run.retry import CRASHED_TWICE
from fetcher._run.schedule import Scheduler, URLState
from tests.support.executors import ISOLATING, LOCAL
from tests.support.h2 import H2Server
from tests.support.local import LocalServer

EXECUTORS = LOCAL


def run_all(urls: list[str], **options: object) -> list[FetchResult]:
    results = list(fetch_all(urls, **options))
    assert Counter(r.url for r in results) == Counter(urls)  # exactly one record per URL
    return results


# Retries


def busy_once(server: LocalServer, path: str, status: int, retry_after: str, title: str) -> str:
    """A page that answers `status` with `Retry-After: retry_after` once, then `title`."""
    headers = {"Retry-After": retry_after}
    return server.html(path, title, fail_first=1, fail_status=status, fail_headers=headers)


@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_flaky_url_succeeds_after_k_failures(server: LocalServer, executor: str) -> None:
    url = server.html(f"/flaky/{executor}", "<title>Back</title>", fail_first=2)
    (result,) = run_all([url], executor=executor, workers=2, retries=2, max_retry_wait=0.05)
    assert result.ok and result.title == "Back"
    assert result.attempts == 3
    assert server.hits[f"/flaky/{executor}"] == 3


def test_retries_run_out_and_the_last_answer_is_reported(server: LocalServer) -> None:
    url = server.html("/flaky/short", "<title>Back</title>", fail_first=5, fail_status=502)
    (result,) = run_all([url], retries=1, max_retry_wait=0.05)
    assert (result.status, result.error, result.attempts) == (502, None, 2)
    assert server.hits["/flaky/short"] == 2


@pytest.mark.parametrize("status", [400, 403, 404, 410, 500, 501])
def test_other_errors_are_never_retried(server: LocalServer, status: int) -> None:
    url = server.html(f"/final/{status}", "<title>No</title>", status=status)
    (result,) = run_all([url], retries=3, max_retry_wait=0.05)
    assert (result.status, result.attempts) == (status, 1)
    assert server.hits[f"/final/{status}"] == 1


def test_connection_refused_is_retried(refused_url: str) -> None:
    (result,) = run_all([refused_url], retries=2, max_retry_wait=0.05)
    assert (result.error, result.attempts) == ("connection refused", 3)


def test_a_timeout_is_retried(server: LocalServer) -> None:
    url = server.add("/retry/hang", hang=True)
    (result,) = run_all([url], retries=1, timeout=0.3, max_retry_wait=0.05)
    assert (result.error, result.attempts) == ("timed out after 0.3s", 2)


def test_retry_after_seconds_is_honoured(server: LocalServer) -> None:
    url = busy_once(server, "/retry-after/1", 429, "1", "<title>Ok</title>")
    (result,) = run_all([url], retries=1, max_retry_wait=5)
    assert result.ok and result.attempts == 2
    first, second = server.arrivals["/retry-after/1"]
    assert second - first >= 0.95  # the server asked for a second; a backoff would be ~0.3 s


def test_retry_after_as_a_past_http_date_means_now(server: LocalServer) -> None:
    url = busy_once(
        server, "/retry-after/date", 503, "Wed, 21 Oct 2015 07:28:00 GMT", "<title>Ok</title>"
    )
    (result,) = run_all([url], retries=1, max_retry_wait=5)
    assert result.ok and result.attempts == 2


def test_a_retry_after_beyond_the_limit_ends_the_url_with_an_error(server: LocalServer) -> None:
    url = busy_once(server, "/retry-after/long", 429, "120", "<title>Ok</title>")
    (result,) = run_all([url], retries=3, max_retry_wait=5)
    assert result.status == 429 and result.attempts == 1
    assert result.error == "server asked to retry after 120s, beyond max-retry-wait (5s)"
    assert server.hits["/retry-after/long"] == 1


@pytest.mark.parametrize(
    ("header", "error"),
    [
        ("²", None),  # not ASCII digits: ignored, the backoff applies
        ("soon", None),
        ("99999999999999999999", "retry after 1000000000s, beyond max-retry-wait (5s)"),
        ("Fri, 01 Jan 2100 00:00:00 GMT", "retry after 1000000000s, beyond max-retry-wait"),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),  # in the past: now
    ],
)
def test_odd_retry_after_values(server: LocalServer, header: str, error: str | None) -> None:
    path = f"/retry-after/odd/{abs(hash(header))}"
    url = busy_once(server, path, 503, header, "<title>Ok</title>")
    (result,) = run_all([url], retries=1, max_retry_wait=5)
    if error is None:
        assert result.ok and result.attempts == 2
    else:
        assert result.status == 503 and result.error is not None and error in result.error


def test_a_url_waiting_for_its_retry_holds_no_worker(server: LocalServer) -> None:
    waiting = busy_once(server, "/retry/waits", 503, "1", "<title>Later</title>")
    others = [server.html(f"/retry/other/{i}", f"<title>{i}</title>") for i in range(5)]
    results = run_all([waiting, *others], workers=1, retries=1, max_retry_wait=5)
    # One worker: the other pages are fetched while the first waits out its Retry-After.
    assert [r.url for r in results] == [*others, waiting]
    assert results[-1].ok and results[-1].attempts == 2


def test_no_retries_when_turned_off(server: LocalServer) -> None:
    url = server.html("/flaky/off", "<title>x</title>", fail_first=1)
    (result,) = run_all([url], retries=0)
    assert (result.status, result.attempts) == (503, 1)


# Crashed workers


@pytest.mark.parametrize("executor", ISOLATING)
def test_a_killed_worker_costs_no_record(server: LocalServer, executor: str) -> None:
    gate = threading.Event()
    gated = [server.html(f"/kill/{executor}/{i}", "<title>g</title>", gate=gate) for i in range(5)]
    plain = [server.html(f"/kill/{executor}/ok{i}", "<title>ok</title>") for i in range(10)]
    paths = [f"/kill/{executor}/{i}" for i in range(5)]
    with fetch_all(gated + plain, executor=executor, workers=6, retries=0) as run:
        first = next(run)  # a plain page: the pool is up, the gated pages are under way
        server.wait_for(lambda s: all(s.hits.get(path) for path in paths))
        os.kill(_a_worker_pid(run), signal.SIGKILL)  # every process holds a gated page
        gate.set()
        results = [first, *run]
    assert Counter(r.url for r in results) == Counter(gated + plain)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    assert run.resubmitted >= 1


@pytest.mark.parametrize("executor", ISOLATING)
def test_a_url_that_always_crashes_its_worker_gets_an_error_record(
    server: LocalServer, executor: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CRASH_HOOK_ENV, "/crash-me")
    crasher = server.html(f"/crash-me/{executor}", "<title>never</title>")
    plain = [server.html(f"/crash/{executor}/{i}", "<title>ok</title>") for i in range(20)]
    urls = [*plain[:10], crasher, *plain[10:]]
    results = run_all(urls, executor=executor, workers=4, retries=0)
    by_url = {r.url: r for r in results}
    assert by_url[crasher].error == CRASHED_TWICE
    assert by_url[crasher].attempts == 2
    # The URLs in flight with it at the first crash were tried again alone: all fine.
    assert all(r.ok for r in results if r.url != crasher)


@pytest.mark.parametrize("executor", ISOLATING)
def test_workers_killed_while_urls_stream_cost_no_record(
    server: LocalServer, executor: str
) -> None:
    pages = [server.html(f"/stream-kill/{executor}/{i}", "<title>s</title>") for i in range(50)]
    urls = pages * 12
    results = []
    with fetch_all(urls, executor=executor, workers=4, retries=0) as run:
        for count, result in enumerate(run, 1):
            results.append(result)
            if count in (60, 200, 350):  # results keep arriving: a send may meet a dead pipe
                os.kill(_a_worker_pid(run), signal.SIGKILL)
    assert Counter(r.url for r in results) == Counter(urls)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]


def test_a_worker_dying_among_steady_submits_loses_no_url_and_hangs_nothing(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker dies while URLs keep going in: every future ends (done, or failed as
    broken, for the runner to try alone) and the pool shuts down. On CPython 3.11, with
    workers started on demand, a pool's submit raced its breaking: one pool in three
    raised `OSError` or hung here (the race `_compat.launch_pool_processes` describes).
    The pools run on a thread of their own, so that a hang fails the test."""
    monkeypatch.setenv(CRASH_HOOK_ENV, "/steady-crash")
    crasher = server.html("/steady-crash", "<title>never</title>")
    plain = server.html("/steady-plain", "<title>ok</title>")
    failures: list[BaseException] = []

    def pools() -> None:
        try:
            for _ in range(12):
                _steady_submits_with_a_death(crasher, plain)
        except BaseException as exc:  # handed to the test's thread
            failures.append(exc)

    running = threading.Thread(target=pools, daemon=True)
    running.start()
    running.join(60)
    if running.is_alive():
        _end_stuck_pools()
        pytest.fail("a process pool hangs")
    assert not failures, failures[0]


def _steady_submits_with_a_death(crasher: str, plain: str) -> None:
    pool = ProcessPool(FetchOptions(executor="process", workers=8, retries=0))
    futures = [pool.submit(plain)]
    futures[0].result(30)
    futures.append(pool.submit(crasher))
    while not pool.rebuilds and len(futures) < 3000:  # until the death is seen
        futures.append(pool.submit(plain))
        pending = [f for f in futures[-32:] if not f.done()]
        if len(pending) > 16:
            wait(pending, 30, return_when=FIRST_COMPLETED)
    done, stuck = wait(futures, 30)
    assert not stuck and pool.rebuilds
    outcomes = {type(f.exception()).__name__ if f.exception() else "ok" for f in done}
    assert outcomes <= {"ok", "BrokenProcessPool"}, outcomes
    pool.shutdown()


def _end_stuck_pools() -> None:
    """Kill the workers every process pool's manager thread knows (one joining a worker
    forever would hang the interpreter's exit, which joins those threads)."""
    from concurrent.futures.process import _ExecutorManagerThread

    for thread in threading.enumerate():
        if isinstance(thread, _ExecutorManagerThread):
            for process in list(thread.processes.values()):
                process.kill()


def test_a_pool_that_breaks_as_a_url_goes_in_is_replaced_at_once(server: LocalServer) -> None:
    """A submit that returns just as the pool breaks (a worker killed, the pool marked
    broken) starts a fresh pool before returning: the URL's future ends, failed for the
    runner to try alone unless it ran, and the broken pool's workers are gone."""
    plain = server.html("/breaks-as-it-goes-in", "<title>ok</title>")
    pool = ProcessPool(FetchOptions(executor="process", workers=2, retries=0))
    assert pool.submit(plain).result(30).result.ok
    broken = pool._executor
    workers = pool_processes(broken)
    submit = broken.submit

    def submit_then_break(*args: Any) -> Any:
        future = submit(*args)
        os.kill(workers[0].pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while not broken._broken and time.monotonic() < deadline:  # no event says it
            time.sleep(0.01)
        return future

    broken.submit = submit_then_break  # type: ignore[method-assign]
    future = pool.submit(plain)
    assert pool.rebuilds == 1 and pool._executor is not broken
    exception = future.exception(30)
    assert exception is None or isinstance(exception, BrokenProcessPool)
    assert not any(process.is_alive() for process in workers)
    assert pool.submit(plain).result(30).result.ok  # the fresh pool works
    pool.shutdown()


def test_an_abort_returns_after_the_pools_manager_thread_has_ended(server: LocalServer) -> None:
    """A run stopped by a signal aborts its process pool, then the interpreter exits:
    concurrent.futures' exit hook writes to the pool's wake-up pipe, which its manager
    thread closes as it ends, without a lock (on Python 3.11 the two met now and then,
    and fetcher printed "Bad file descriptor" under its summary). After `abort()` that
    thread has ended, so the hook finds the pipe closed and leaves it alone."""
    hang = server.add("/abort/manager/hang", hang=True)
    pool = ProcessPool(FetchOptions(executor="process", workers=2, retries=0, timeout=60))
    future = pool.submit(hang)
    server.wait_for(lambda s: s.hits.get("/abort/manager/hang", 0) == 1)
    manager = pool._executor._executor_manager_thread  # type: ignore[attr-defined]
    assert manager is not None and manager.is_alive()
    pool.abort()
    assert not manager.is_alive()
    assert future.done()


def _a_worker_pid(run: object) -> int:
    pool = run._pool  # type: ignore[attr-defined]
    if hasattr(pool, "_executor"):
        return next(iter(pool._executor._processes))  # type: ignore[no-any-return]
    return pool._processes[0].pid  # type: ignore[no-any-return]


# Saving pages


@pytest.mark.parametrize("executor", EXECUTORS)
def test_saved_pages_hold_the_body_under_a_safe_name(
    server: LocalServer, tmp_path: Path, executor: str
) -> None:
    body = "<title>Saved</title>" + "x" * 5000
    page = server.html(f"/save/{executor}/page.html", body)
    missing = server.html(f"/save/{executor}/missing", "<title>No</title>", status=404)
    sneaky = server.html("/etc/passwd", "<title>root</title>")
    sneaky_url = server.url("/save/../../../etc/passwd")  # resolved by the client to /etc/passwd
    results = run_all([page, missing, sneaky_url], executor=executor, save_dir=str(tmp_path))
    by_url = {r.url: r for r in results}
    saved = by_url[page].path
    assert saved is not None and Path(saved).read_text() == body
    assert Path(saved).parent == tmp_path and Path(saved).suffix == ".html"
    assert by_url[missing].path is None  # only successful bodies are saved
    assert sneaky == server.url("/etc/passwd")
    traversal = by_url[sneaky_url].path
    assert traversal is not None and Path(traversal).parent == tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        Path(p).name for p in (saved, traversal)
    )  # no temporary files left behind


def test_a_page_over_max_bytes_is_not_saved(server: LocalServer, tmp_path: Path) -> None:
    url = server.html("/save/big", "<title>Big</title>" + "x" * 10_000)
    (result,) = run_all([url], save_dir=str(tmp_path), max_bytes=1000)
    assert result.path is None and result.error is not None
    assert list(tmp_path.iterdir()) == []


def test_a_save_that_fails_is_an_error_record(server: LocalServer, tmp_path: Path) -> None:
    url = server.html("/save/nowhere", "<title>x</title>")
    (tmp_path / "a-file").write_text("")
    (result,) = run_all([url], save_dir=str(tmp_path / "a-file" / "pages"))
    assert result.status == 200 and result.path is None
    assert result.error == "cannot save page: not a directory"


# Politeness


@pytest.mark.parametrize("executor", EXECUTORS)
def test_per_host_cap_keeps_other_origins_flowing(server: LocalServer, executor: str) -> None:
    busy = LocalServer().start()
    try:
        gate = threading.Event()
        capped = busy.html("/slow", "<title>busy</title>", gate=gate)
        others = [server.html(f"/other/{executor}/{i}", "<title>o</title>") for i in range(10)]
        # The timeout turns a broken cap (every worker stuck on the busy origin) into a
        # failure instead of a hang.
        with fetch_all(
            [capped] * 30 + others, executor=executor, workers=8, per_host=2, timeout=20
        ) as run:
            early = [next(run) for _ in range(10)]  # the busy origin is stuck at its cap
            assert sorted(r.url for r in early) == sorted(others)
            busy.wait_for(lambda s: s.active == 2)
            assert busy.max_active == 2
            gate.set()
            rest = list(run)
        assert [r.url for r in rest] == [capped] * 30
        assert all(r.ok for r in rest), [(r.status, r.error, r.attempts) for r in rest if not r.ok]
        assert busy.max_active == 2
    finally:
        busy.stop()


def test_reading_pauses_while_the_look_ahead_is_full(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_schedule, "LOOKAHEAD", 40)
    slow = server.html("/lookahead/slow", "<title>s</title>", delay=0.005)
    done = 0
    ahead = []

    def urls() -> Iterator[str]:
        for _ in range(150):
            ahead.append(len(ahead) - done)  # read but not yet recorded
            yield slow

    for _ in fetch_all(urls(), workers=2, per_host=1):
        done += 1
    assert done == 150
    # At most the look-ahead, plus the feeder's buffer, the runner's batch and the
    # window (2 x workers each); without a bound this would reach about 150.
    assert max(ahead) <= 40 + 3 * 4 + 2


def test_look_ahead_is_bounded() -> None:
    scheduler = Scheduler(per_host=1, rate=None, lookahead=5)
    offered = [URLState(f"http://a/{i}", "http://a:80") for i in range(20)]
    source = iter(offered)
    first = scheduler.next(0.0, lambda: next(source, None))
    assert first is offered[0]
    assert scheduler.next(0.0, lambda: next(source, None)) is None
    assert scheduler.held == 5  # parked up to the bound, then reading stopped
    assert next(source) is offered[6]


def test_rate_spaces_request_starts(server: LocalServer) -> None:
    urls = [server.html(f"/rate/{i}", "<title>r</title>") for i in range(12)]
    run_all(urls, workers=8, rate=20)
    arrivals = sorted(t for i in range(12) for t in server.arrivals[f"/rate/{i}"])
    # 11 intervals of 50 ms; the first request also pays for the worker and its connection
    assert arrivals[-1] - arrivals[0] >= 0.45


def test_headers_and_user_agent_are_sent(server: LocalServer) -> None:
    url = server.html("/headers/echo", "<title>h</title>")
    options = FetchOptions(
        headers={"X-Token": "abc", "Accept-Encoding": "identity"}, user_agent="probe/1"
    )
    (result,) = run_all([url], options=options)
    sent = server.request_headers["/headers/echo"]
    assert result.ok
    assert (sent["X-Token"], sent["User-Agent"], sent["Accept-Encoding"]) == (
        "abc",
        "probe/1",
        "identity",
    )


def test_requests_go_through_the_proxy(server: LocalServer) -> None:
    server.html("/via-proxy", "<title>Proxied</title>")
    (result,) = run_all(["http://site.invalid/via-proxy"], proxy=server.url(""))
    assert result.ok and result.title == "Proxied"
    assert server.request_targets["/via-proxy"][-1] == "http://site.invalid/via-proxy"


def test_tls_certificates_are_checked_unless_insecure(tls_url: str) -> None:
    (checked,) = run_all([tls_url], retries=3)
    assert checked.error is not None and "CERTIFICATE_VERIFY_FAILED" in checked.error
    assert checked.attempts == 1  # a certificate does not get better with retries
    (insecure,) = run_all([tls_url], verify=False)
    assert insecure.ok and insecure.title == "Secure"
    (http2,) = run_all([tls_url], verify=False, http2=True)  # falls back to HTTP/1.1
    assert http2.ok and http2.title == "Secure"


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_http2_is_negotiated_when_asked(h2_server: H2Server, executor: str) -> None:
    url = h2_server.url(f"/h2/{executor}")
    results = run_all([url, url], verify=False, http2=True, executor=executor, workers=1)
    assert all(r.ok and r.title == "Over HTTP/2" for r in results)
    assert h2_server.protocols[-1] == "h2"
    (refused,) = run_all([url], verify=False, retries=3)  # HTTP/1.1 against an h2-only server
    assert refused.error is not None and refused.error.startswith("protocol error")
    assert refused.attempts == 1  # a protocol mismatch is not retried


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"retries": -1}, "retries must be from 0 to 100"),
        ({"per_host": -1}, "per_host must be from 0"),
        ({"rate": 0}, "rate must be"),
        ({"max_retry_wait": float("nan")}, "max_retry_wait must be"),
        ({"headers": [("Bad Name", "x")]}, "invalid header name"),
        ({"headers": {"X": "a\r\nInjected: 1"}}, "no line breaks"),
        ({"proxy": "socks5://127.0.0.1:1080"}, "proxy must be an http://"),
        ({"user_agent": "a\nb"}, "user_agent must be"),
    ],
)
def test_invalid_options_fail_before_any_request(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FetchOptions(**changes)  # type: ignore[arg-type]


NO_MAIN_GUARD = """
import sys
from fetcher import ExecutorError, fetch_all

try:
    for result in fetch_all([sys.argv[2]] * 4, executor=sys.argv[1], workers=2):
        print("record", result.error_kind)
except ExecutorError as exc:
    print("error", exc)
"""


@pytest.mark.parametrize("executor", ["process", "hybrid"])
def test_a_script_without_the_main_guard_gets_one_clear_error(
    tmp_path: Path, refused_url: str, executor: str
) -> None:
    script = tmp_path / "no_guard.py"
    script.write_text(NO_MAIN_GUARD)
    done = subprocess.run(
        [sys.executable, str(script), executor, refused_url],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert done.stdout == (
        f"error the {executor} executor starts worker processes that import your script "
        'again: put the code that calls fetcher under `if __name__ == "__main__":` '
        "(or use the thread executor)\n"
    )
    assert "Traceback" not in done.stderr
