"""The executor contract, run against every executor in the registry.

Whatever runs the attempts, a run gives one record per URL (duplicates and failures
included), leaving early stops the pool at once, and an executor that declares
`isolates_crashes` loses only the URL that kills its worker. Dask runs on the session's
real cluster (`dask scheduler` + `dask worker`).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from fetcher import EXECUTORS, ExecutorError, FetchOptions, FetchRun, fetch_all
from fetcher._executors import make_pool
from fetcher._executors.processes import CRASH_HOOK_ENV
from fetcher._run.retry import CRASHED_TWICE
from tests.conftest import ScanSite
from tests.support.executors import AVAILABLE, ISOLATING
from tests.support.local import LocalServer


@pytest.fixture(params=AVAILABLE)
def executor_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The options that run on one executor of the registry (a real cluster for Dask)."""
    name = str(request.param)
    options: dict[str, Any] = {"executor": name, "workers": 4}
    if EXECUTORS[name].clustered:
        options["scheduler"] = request.getfixturevalue("scheduler_address")
    return options


def test_every_executor_is_a_pool_or_an_engine_as_declared(
    executor_options: dict[str, Any],
) -> None:
    spec = EXECUTORS[executor_options["executor"]]
    options = FetchOptions(**executor_options)
    with FetchRun([], options) as run:
        engine = spec.engine.rpartition(":")[2] if spec.engine else "FetchRun"
        assert type(run).__name__ == engine
    if spec.engine is not None:
        with pytest.raises(ExecutorError, match="runs its own engine"):
            make_pool(options)
        return
    pool = make_pool(options)
    try:
        for method in ("submit", "shutdown", "abort", "alone"):
            assert callable(getattr(pool, method))
        alone = pool.alone()
        assert (alone is not None) == spec.isolates_crashes
        if alone is not None:
            alone.shutdown()
    finally:
        pool.shutdown()


def test_one_record_per_url_whatever_happens_to_it(
    executor_options: dict[str, Any], server: LocalServer, refused_url: str
) -> None:
    name = executor_options["executor"]
    ok = server.html(f"/contract/{name}/ok", "<title>Fine</title>")
    missing = server.html(f"/contract/{name}/missing", "<title>No</title>", status=404)
    urls = [ok, ok, missing, refused_url, "ftp://example.com/", ok, 42]
    results = list(fetch_all(urls, **executor_options, retries=0, per_host=0))
    assert Counter(r.url for r in results) == Counter([*urls[:-1], "42"])
    assert sorted(r.index or 0 for r in results) == list(range(1, len(urls) + 1))
    assert all(r.url == str(urls[(r.index or 0) - 1]) for r in results)  # each names its item
    kinds = Counter(r.error_kind for r in results)
    assert kinds == Counter({None: 4, "refused": 1, "scheme": 1, "invalid_url": 1})
    assert all((r.error is None) == (r.error_kind is None) for r in results)


def test_records_taken_by_bursts_are_each_given_once(
    executor_options: dict[str, Any], server: LocalServer
) -> None:
    name = executor_options["executor"]
    urls = [server.html(f"/contract/{name}/burst/{i}", f"<title>{i}</title>") for i in range(8)]
    taken = []
    with fetch_all(urls, **executor_options, retries=0, per_host=0) as run:
        for record in run:  # as the command line writes them: each with those ready
            taken += [record, *run.take_ready()]
    assert sorted(r.index or 0 for r in taken) == list(range(1, 9))


def test_leaving_early_stops_the_pool_at_once(
    executor_options: dict[str, Any], server: LocalServer
) -> None:
    name = executor_options["executor"]
    gate = threading.Event()  # opened at the end: a cluster's threads are then free again
    hang = server.add(f"/contract/{name}/hang", gate=gate)
    fast = server.html(f"/contract/{name}/fast", "<title>Fast</title>", delay=0.2)
    started = time.monotonic()
    try:
        with fetch_all([hang, hang, fast], **executor_options, timeout=60, per_host=0) as run:
            first = next(run)
        assert first.url == fast
        assert time.monotonic() - started < 15  # against a 60 s timeout: hangs abandoned
    finally:
        gate.set()


@pytest.mark.parametrize("executor", ISOLATING)
def test_a_worker_killed_by_one_url_costs_only_that_url(
    server: LocalServer, executor: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CRASH_HOOK_ENV, "/contract-crash")
    crasher = server.html(f"/contract-crash/{executor}", "<title>never</title>")
    plain = [server.html(f"/contract-plain/{executor}/{i}", "<title>ok</title>") for i in range(8)]
    results = list(fetch_all([*plain[:4], crasher, *plain[4:]], executor=executor, retries=0))
    by_url = {r.url: r for r in results}
    assert (by_url[crasher].error, by_url[crasher].error_kind) == (CRASHED_TWICE, "crashed")
    failed = [r for r in results if r.url != crasher and not r.ok]
    assert not failed, [(r.url, r.error_kind, r.error, r.attempts) for r in failed]


def test_afetch_all_gives_the_same_records_on_every_executor(
    executor_options: dict[str, Any], server: LocalServer
) -> None:
    import asyncio

    from fetcher import afetch_all

    name = executor_options["executor"]
    urls = [server.html(f"/contract/{name}/async/{n}", f"<title>{n}</title>") for n in range(6)]

    async def collect() -> list[str | None]:
        return [r.title async for r in afetch_all(urls, **executor_options, per_host=0)]

    assert sorted(asyncio.run(collect()), key=str) == [str(n) for n in range(6)]


def test_cacert_is_trusted_on_every_executor(
    executor_options: dict[str, Any], scan_site: ScanSite, tmp_path: Path
) -> None:
    answering = [u for u, kind in zip(scan_site.urls, scan_site.kinds, strict=True) if kind == "ok"]
    ca = tmp_path / "ca.pem"
    ca.write_bytes(scan_site.ca_pem)
    run = fetch_all(answering, **executor_options, cacert=ca, retries=0, timeout=20)
    ca.unlink()  # read when the options were made: workers and nodes get its bytes
    with run:
        results = list(run)
    assert len(results) == len(answering)
    assert all(r.ok and r.status == 200 for r in results), [r.error for r in results]
