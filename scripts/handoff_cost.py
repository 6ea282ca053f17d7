"""What it costs to wake another thread, by the way it waits.

One thread waits; the main thread wakes it every 2 ms (a run's thread is woken for every
few results, a fetch node's for every frame). Reports the process's CPU per hand-off,
minus what the 2 ms sleep alone costs, for each way of waiting:

- `lock`: a plain lock released by the waker (fetcher's `Waker`);
- `event`: `threading.Event`;
- `future-wait`: a future completed by the waker, waited for with
  `concurrent.futures.wait` (fetcher's `wait_first`), as a run waited until 3fba0e6;
- `socketpair`: a byte through a socket pair, waited for with a selector (the links'
  loop's `wake`).

    python scripts/handoff_cost.py [--count 2000]
"""

from __future__ import annotations

import argparse
import contextlib
import selectors
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait

Waiting = tuple[Callable[[], object], Callable[[], object]]  # (wait, wake)


def by_lock() -> Waiting:
    lock = threading.Lock()
    lock.acquire()

    def waking() -> None:
        with contextlib.suppress(RuntimeError):  # not taken yet: the wake is pending
            lock.release()

    return lock.acquire, waking


def by_event() -> Waiting:
    event = threading.Event()

    def waiting() -> None:
        event.wait()
        event.clear()

    return waiting, event.set


def by_future() -> Waiting:
    box: list[Future[None]] = [Future()]
    lock = threading.Lock()

    def waiting() -> None:
        wait({box[0]}, return_when=FIRST_COMPLETED)
        with lock:
            box[0] = Future()

    def waking() -> None:
        with lock:
            future = box[0]
        if not future.done():
            future.set_result(None)

    return waiting, waking


def by_socketpair() -> Waiting:
    near, far = socket.socketpair()
    selector = selectors.DefaultSelector()
    selector.register(near, selectors.EVENT_READ)

    def waiting() -> None:
        selector.select()
        near.recv(64)

    return waiting, lambda: far.send(b"x")


def cost(make: Callable[[], Waiting], count: int, sleep_cost: float) -> float:
    """CPU of the process per hand-off, in µs, the sleep's own cost taken off."""
    waiting, waking = make()
    stop = threading.Event()

    def waiter() -> None:
        while not stop.is_set():
            waiting()

    thread = threading.Thread(target=waiter, daemon=True)
    thread.start()
    time.sleep(0.05)
    started = time.process_time()
    for _ in range(count):
        time.sleep(0.002)
        waking()
    spent = time.process_time() - started
    stop.set()
    waking()
    thread.join(10)
    return spent / count * 1e6 - sleep_cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="hand-offs a way")
    args = parser.parse_args()
    started = time.process_time()
    for _ in range(args.count):
        time.sleep(0.002)
    sleep_cost = (time.process_time() - started) / args.count * 1e6
    print(f"a 2 ms sleep alone: {sleep_cost:.1f} us of CPU")
    ways = {"lock": by_lock, "event": by_event, "future-wait": by_future}
    ways["socketpair"] = by_socketpair
    for name, make in ways.items():
        print(f"{name:12s} {cost(make, args.count, sleep_cost):6.1f} us of CPU a hand-off")


if __name__ == "__main__":
    main()
