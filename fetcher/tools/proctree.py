"""CPU time and peak memory of a process and all of its descendants (Linux `/proc`).

A process pool's work happens in worker processes (and, with forkserver, in children of
a server process), so measuring the parent alone would miss it. Elsewhere than Linux,
only the process itself and its waited-for children are counted.
"""

from __future__ import annotations

import os
import resource
import sys
from dataclasses import dataclass

__all__ = ["TreeUsage", "tree_usage"]

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True, slots=True)
class TreeUsage:
    """CPU seconds (user + system) and the sum of each process's peak RSS, in bytes."""

    cpu_seconds: float
    peak_rss_bytes: int
    processes: int


def tree_usage(root: int | None = None) -> TreeUsage:
    """Usage of `root` (default: this process) and its live descendants, plus the CPU of
    descendants that have already ended and been waited for."""
    root = os.getpid() if root is None else root
    if not sys.platform.startswith("linux"):
        return _rusage_only()
    children: dict[int, list[int]] = {}
    stats: dict[int, tuple[float, int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            parsed = _stat(int(entry))
            if parsed is not None:
                ppid, cpu, reaped_cpu = parsed
                children.setdefault(ppid, []).append(int(entry))
                stats[int(entry)] = (cpu + reaped_cpu, 0)
    cpu = 0.0
    peak = 0
    count = 0
    pending = [root]
    while pending:
        pid = pending.pop()
        if pid not in stats:
            continue
        count += 1
        cpu += stats[pid][0]
        peak += _peak_rss(pid)
        pending.extend(children.get(pid, ()))
    return TreeUsage(cpu, peak, count)


def _stat(pid: int) -> tuple[int, float, float] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stream:
            data = stream.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()
    # After the command: state ppid ... utime(12) stime(13) cutime(14) cstime(15)
    ppid = int(fields[1])
    own = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    reaped = (int(fields[13]) + int(fields[14])) / _CLOCK_TICKS
    return ppid, own, reaped


def _peak_rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", "rb") as stream:
            for line in stream:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _rusage_only() -> TreeUsage:
    own = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB elsewhere
    return TreeUsage(cpu, own.ru_maxrss * scale, 1)
