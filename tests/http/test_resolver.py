"""The resolver threads: kept for the next lookup, never held up by a lookup that hangs."""

from __future__ import annotations

import os
import threading

import pytest

from fetcher._http.resolver import Resolver


def resolver_threads() -> int:
    return sum(t.name == "fetcher-resolve" for t in threading.enumerate())


def test_an_idle_thread_takes_the_next_lookup() -> None:
    resolver = Resolver()
    before = resolver_threads()
    for _ in range(20):  # one after another: one thread serves them all
        done = threading.Event()
        resolver.submit(done.set)
        assert done.wait(10)
    assert resolver_threads() - before == 1


def test_a_hanging_lookup_holds_only_its_own_thread() -> None:
    resolver = Resolver()
    release, hung = threading.Event(), threading.Event()
    resolver.submit(lambda: (hung.set(), release.wait(30)))
    assert hung.wait(10)
    done = threading.Event()
    resolver.submit(done.set)  # no idle thread: another starts, and answers at once
    assert done.wait(10)
    release.set()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+: fork with threads
def test_a_forked_child_starts_its_own_threads() -> None:
    from fetcher._http.resolver import RESOLVERS

    done = threading.Event()
    RESOLVERS.submit(done.set)  # the parent has an idle resolver thread now
    assert done.wait(10)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        answered = threading.Event()
        RESOLVERS.submit(answered.set)
        os.write(write, b"1" if answered.wait(10) else b"0")
        os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"1"
    os.waitpid(child, 0)
    os.close(read)
