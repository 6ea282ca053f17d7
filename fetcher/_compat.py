"""Every use of another library's private internals (or of its messages), fenced here.

Each function says what it relies on and the versions it was checked against; the tests
exercise every one, so an upgrade that breaks one fails the suite rather than a user's
run. Where a structure is not as expected, a function falls back to the safe choice
(close a connection rather than reuse it; kill a process rather than leave it) instead
of failing. Libraries are imported inside the functions: importing this module costs
nothing, so the command line's `--help` can use it.

Checked against httpx 0.28.1 (pinned to 0.28.x), httpcore 1.0.9, CPython 3.11-3.13's
`concurrent.futures`, distributed 2026.8 and typer 0.29.
"""

from __future__ import annotations

import sys
import threading
from types import ModuleType
from typing import Any

__all__ = [
    "click_exceptions",
    "connection_of",
    "forget_local_cluster",
    "importing_parent_main",
    "launch_pool_processes",
    "left_unread",
    "pool_broken",
    "pool_processes",
    "protocol_problem",
    "quiet_cancelled_future_race",
    "skip_httpx_command_line",
    "tls_buffered",
    "transport_over",
]


def skip_httpx_command_line() -> None:
    """Let `import httpx` skip its own command-line client.

    httpx's `__init__` imports `httpx._main` (click, rich, pygments) in a
    `try: ... except ImportError` and defines a stub `main` when that fails (httpx 0.28.1).
    The command-line client is never used inside fetcher, and importing it is about a
    third of `import httpx`: 25-65 ms of every run's start and of every worker process's.
    A `None` in `sys.modules` makes that import fail at once. Done only while httpx is not
    imported yet (a program that imported it first keeps it whole); `httpx.main` is then
    httpx's stub, which says the command line is not available in this process.
    """
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def transport_over(pool: Any, *, asynchronous: bool = False) -> Any:
    """httpx's own transport (sync or async) over a connection pool built by fetcher.

    `HTTPTransport`'s constructor offers no way to pass a network backend, and its request
    handling uses only `self._pool` (httpx 0.28.1), so the pool is set on a transport
    made without its constructor.
    """
    import httpx

    cls: Any = httpx.AsyncHTTPTransport if asynchronous else httpx.HTTPTransport
    transport = cls.__new__(cls)
    transport._pool = pool
    return transport


def connection_of(response: Any) -> Any:
    """httpcore's connection that carried an httpx response, or None if it is not found.

    Relies on httpx's `ResponseStream._httpcore_stream`, httpcore's
    `PoolByteStream._pool_request` and `PoolRequest.connection` (sync and async alike).
    """
    stream = getattr(response.stream, "_httpcore_stream", None)
    pool_request = getattr(stream, "_pool_request", None)
    return getattr(pool_request, "connection", None)


def left_unread(connection: Any) -> bool:
    """False only when the HTTP/1.1 connection is proven to hold no byte beyond the response
    just read (or is HTTP/2, whose frames delimit themselves); True otherwise.

    Relies on httpcore's `HTTPConnection._connection` (and the proxy connections' own
    `_connection`), `HTTP11Connection._h11_state` and `_network_stream`, and h11's public
    `trailing_data`; fetcher's own network streams say whether TLS holds unread bytes.
    """
    inner = connection
    for _ in range(4):  # pool connection -> (proxy tunnel ->) protocol connection
        state = getattr(inner, "_h11_state", None)
        if state is not None:
            data, closed = state.trailing_data
            buffered = getattr(getattr(inner, "_network_stream", None), "buffered", None)
            return bool(data) or closed or (buffered is not None and buffered())
        if type(inner).__name__ in ("HTTP2Connection", "AsyncHTTP2Connection"):
            return False
        inner = getattr(inner, "_connection", None)
        if inner is None:
            break
    return True


def tls_buffered(stream: Any) -> bool:
    """True when an httpcore anyio stream's TLS layer holds bytes nothing has read yet.

    anyio's `TLSStream` reads whole TLS records into its `_read_bio` (a MemoryBIO) and
    its `_ssl_object` may hold decrypted bytes: the socket then looks idle while a whole
    response may wait there. Relies on httpcore's `AnyIOStream._stream` and anyio 4's
    `TLSStream._ssl_object` and `_read_bio`.
    """
    tls = getattr(stream, "_stream", None)
    ssl_object = getattr(tls, "_ssl_object", None)
    read_bio = getattr(tls, "_read_bio", None)
    if ssl_object is None or read_bio is None:
        return False  # not TLS (or not anyio's): the socket's readability tells
    return bool(ssl_object.pending() or read_bio.pending)


#: What httpcore and h11 say when a connection ends before a response is complete.
_DISCONNECT_PHRASES = ("server disconnected", "peer closed connection", "connection closed")


def protocol_problem(exc: BaseException) -> str | None:
    """What an httpcore/h11/h2 protocol error means, where only its message tells:
    "disconnect" (the connection ended early), "head" (an HTTP/1.1 header section over
    h11's size limit), "h2-headers" (h2 refused a header list: too large, or a
    CONTINUATION flood), or None (some other violation).

    The messages checked: httpcore's "Server disconnected without sending a response.",
    h11's "peer closed connection without sending complete message body: ..." and
    "Receive buffer too long", h2's "Too many continuation frames received." and its
    oversized header list ("A header list larger than ... has been received").
    """
    text = str(exc).lower()
    if any(phrase in text for phrase in _DISCONNECT_PHRASES):
        return "disconnect"
    if "receive buffer too long" in text:
        return "head"
    if "continuation" in text or ("header" in text and ("larger" in text or "oversized" in text)):
        return "h2-headers"
    return None


def pool_processes(executor: Any) -> list[Any]:
    """The worker processes of a `ProcessPoolExecutor` (its `_processes` table).

    Python 3.14 has `terminate_workers()`; before it, the table is the only way.
    """
    return list((getattr(executor, "_processes", None) or {}).values())


def launch_pool_processes(executor: Any) -> None:
    """On CPython 3.11, start every worker process of a `ProcessPoolExecutor` now, not one
    a submit (call it before the first submit, which starts the pool's manager thread).

    With forkserver or spawn, 3.11's `submit` starts a worker when none is idle, and its
    manager thread marks the pool broken without the lock `submit` holds: a submit
    racing a worker's death can start a worker after the others were terminated, which
    the manager thread then joins forever (the pool's shutdown hangs), or pickle the
    call queue the manager just closed (`OSError: handle is closed`). Measured here with
    a worker killed among steady submits: 3 hangs and 10 such errors in 40 pools started
    lazily, none in 40 started whole. 3.12 and 3.13 mark the pool broken under that
    lock: nothing to do there.
    """
    if sys.version_info >= (3, 12):
        return
    launch = getattr(executor, "_launch_processes", None)
    if launch is not None:
        launch()


def pool_broken(executor: Any) -> bool:
    """True once a `ProcessPoolExecutor` is broken (a worker died: its `_broken` flag,
    which CPython 3.11-3.13's manager thread sets before failing the futures it has;
    3.11's without the lock a submit holds)."""
    return bool(getattr(executor, "_broken", False))


_race_hook_installed = False


def quiet_cancelled_future_race() -> None:
    """Keep Python 3.11's process pool from printing a traceback for a cancelled future.

    When its workers die (a SIGTERM to the process group) after fetcher cancelled the
    futures that had not started, 3.11's manager thread (`_ExecutorManagerThread`) calls
    `set_exception` on them, which raises `InvalidStateError` and ends the thread with a
    traceback. Python 3.12 ignores that error there; on 3.11 this hook does.
    """
    global _race_hook_installed
    if sys.version_info >= (3, 12) or _race_hook_installed:
        return
    from concurrent.futures import InvalidStateError
    from concurrent.futures.process import _ExecutorManagerThread

    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if isinstance(args.exc_value, InvalidStateError) and isinstance(
            args.thread, _ExecutorManagerThread
        ):
            return
        previous(args)

    threading.excepthook = hook
    _race_hook_installed = True


def forget_local_cluster(cluster: Any) -> None:
    """Take a Dask LocalCluster off the list its exit hook closes (`_instances`), once its
    processes have been killed: the hook would otherwise wait for it again (about 10 s)."""
    instances = getattr(type(cluster), "_instances", None)
    if instances is not None:
        instances.discard(cluster)


def importing_parent_main() -> bool:
    """True in a spawned or forkserver child while it is still importing the parent's
    main module (multiprocessing's `_inheriting`, the flag behind its own "bootstrapping
    phase" error): a script without `if __name__ == "__main__":` is running again."""
    import multiprocessing

    return bool(getattr(multiprocessing.current_process(), "_inheriting", False))


def click_exceptions() -> ModuleType:
    """click's exceptions module as typer uses it (typer >= 0.26 carries its own click)."""
    try:
        from typer._click import exceptions
    except ImportError:  # older typer uses click itself
        from click import exceptions  # type: ignore[no-redef]
    return exceptions
