"""The executor registry: every `--executor`, what it is and what it declares.

This is the one list of executors. The command line's choices and help, the "which
executor" table of the docs, `fetcher bench`'s default set, `FetchOptions` validation and
the executor contract tests are all derived from it. Adding an executor is one module in
`fetcher/_executors/` (a class implementing `fetcher._executors.base.Pool`) plus one
entry here: see docs/design.md. (`dask` is the one with an `engine` instead: its nodes
run fetcher's runner themselves.)

Entries name their module as a string: the registry imports nothing, so the command
line's `--help` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EXECUTORS", "ExecutorSpec", "executor_names"]


@dataclass(frozen=True, slots=True)
class ExecutorSpec:
    """One executor, as the registry lists it."""

    name: str  #: the value of `--executor` / `FetchOptions.executor`
    module: str | None  #: the module under `fetcher._executors` holding its pool
    pool: str | None  #: the pool class in that module: `pool(options)` builds one
    summary: str  #: one line for `--help`
    workers_are: str  #: what `--workers N` counts on it
    choose_when: str  #: when to pick it, for the docs' "which executor" table
    needs: str | None = None  #: an importable module it needs, if optional
    extra: str | None = None  #: the pip extra that installs it
    isolates_crashes: bool = False  #: a worker process that dies costs only its URLs
    clustered: bool = False  #: runs on a Dask cluster: takes `--scheduler`
    benched: bool = True  #: in `fetcher bench`'s default set
    #: `module:Class` under `fetcher._run`: a run of its own (a `FetchRun` subclass)
    #: that schedules elsewhere, instead of the runner over a pool (then None)
    engine: str | None = None


EXECUTORS: dict[str, ExecutorSpec] = {
    spec.name: spec
    for spec in (
        ExecutorSpec(
            name="thread",
            module="thread",
            pool="ThreadPool",
            summary="worker threads, each with its own HTTP client (one process)",
            workers_are="N threads",
            choose_when="the default: latency-bound lists on one machine, any size",
        ),
        ExecutorSpec(
            name="process",
            module="process",
            pool="ProcessPool",
            summary="a worker process per concurrent request",
            workers_are="N processes",
            choose_when="CPU-bound pages at low concurrency, or to isolate crashes per URL",
            isolates_crashes=True,
        ),
        ExecutorSpec(
            name="hybrid",
            module="hybrid",
            pool="HybridPool",
            summary="a process per core, with threads inside",
            workers_are="N threads in all, spread over about a process per core",
            choose_when="high concurrency, heavy pages, or a scan of many TLS hosts: every core "
            "parses and handshakes",
            isolates_crashes=True,
        ),
        ExecutorSpec(
            name="async",
            module="aio",
            pool="AsyncPool",
            summary="one asyncio event loop on a background thread",
            workers_are="N requests at once on the loop",
            choose_when="measuring asyncio against threads (threads win with httpx here)",
        ),
        ExecutorSpec(
            name="dask",
            module=None,
            pool=None,
            engine="cluster:ClusterRun",
            summary="fetch nodes on a Dask cluster, local or at --scheduler, each running "
            "the hosts it owns",
            workers_are="bounds the URLs read ahead of their records (2 x N and two batches "
            "per node); each node runs its worker's nthreads (local: a process per core, N "
            "threads each)",
            choose_when="many hosts, more than one machine's cores can fetch: a node per Dask "
            "worker, one client drives some 30-50 machines (no gain for one host)",
            needs="distributed",
            extra="dask",
            clustered=True,
            benched=False,
        ),
        ExecutorSpec(
            name="dask-tasks",
            module="dask",
            pool="DaskPool",
            summary="one Dask task per URL (to compare with dask)",
            workers_are="local: about a process per core x N/processes threads; "
            "--scheduler: the window (2 x N URLs submitted)",
            choose_when="comparing: the scheduler's CPU per task caps it near 650 URLs/s",
            needs="distributed",
            extra="dask",
            clustered=True,
            benched=False,
        ),
    )
}


def executor_names() -> tuple[str, ...]:
    """The registered executor names, in registry order."""
    return tuple(EXECUTORS)
