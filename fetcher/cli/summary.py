"""What a run adds up to: the summary line on stderr and the `--stats` file.

The summary counts the records written by status and by failure kind: each distinct
status, most frequent first, the statuses beyond the top six summed by class, then the
failure kinds (`200: 812, 404: 31, 3xx: 20, timeout: 9, dns: 4`). A record with an
error counts by its kind (a body cut at `--max-bytes` under a 200 is `too_large`).
After Ctrl-C it also says how far the run got, and how to continue it.

`--stats FILE` writes the same as JSON (keys in docs/cli.md), atomically, at every exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .._core.result import FetchResult

__all__ = ["Tally", "plural", "refusal_stats", "stats_file_problem", "write_stats"]

_STATUSES_NAMED = 6


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`1 URL`, `2 URLs`, `1,234 retries` (with the plural given when it is not noun+s)."""
    return f"{count:,} {noun if count == 1 else (nouns or noun + 's')}"


@dataclass
class Tally:
    """The counts of one run, as the summary and `--stats` report them."""

    written: int = 0  #: records written
    ok: int = 0  #: of them, successes
    failed: int = 0  #: of them, failures (an error, or a status of 400 or more)
    filtered: int = 0  #: records not written: `--match-*` or `--filter-*`
    by_status: Counter[int] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)

    def count(self, records: Sequence[FetchResult], written: bool) -> None:
        """Count finished records, written or filtered (a burst at a time: a cluster's
        client counts some thousand a second)."""
        if not written:
            self.filtered += len(records)
            return
        self.written += len(records)
        ok = 0
        by_kind, by_status = self.by_kind, self.by_status
        for record in records:
            ok += record.ok
            if record.error_kind is not None:
                by_kind[record.error_kind] += 1
            elif record.status is not None:
                by_status[record.status] += 1
        self.ok += ok
        self.failed += len(records) - ok

    @property
    def finished(self) -> int:
        return self.written + self.filtered

    def breakdown(self) -> str:
        """`200: 812, 404: 31, 3xx: 20, timeout: 9, dns: 4`."""
        statuses = self.by_status.most_common()
        parts = [f"{status}: {count:,}" for status, count in statuses[:_STATUSES_NAMED]]
        classes: Counter[str] = Counter()
        for status, count in statuses[_STATUSES_NAMED:]:
            classes[f"{status // 100}xx"] += count
        parts += [f"{name}: {count:,}" for name, count in classes.most_common()]
        parts += [f"{kind}: {count:,}" for kind, count in self.by_kind.most_common()]
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["finished"] = self.finished
        data["by_status"] = {str(k): v for k, v in self.by_status.most_common()}
        data["by_kind"] = dict(self.by_kind.most_common())
        return data


def write_stats(path: str, stats: dict[str, Any]) -> None:
    """Write `stats` as JSON to `path`, whole or not at all (a temporary file renamed)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".fetcher-stats-", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            json.dump(stats, stream, indent=2, ensure_ascii=False)
            stream.write("\n")
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise


def _is_stats_file(path: str) -> bool:
    """True for a file a fetcher run wrote with --stats (a JSON object with exit_status)."""
    try:
        with open(path, "rb") as stream:
            data = json.loads(stream.read(1 << 20))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and isinstance(data.get("exit_status"), int)


def _same_file(a: str, b: str) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def stats_file_problem(path: str, others: dict[str, str]) -> str | None:
    """Why `--stats path` cannot be used, or None: it must be no other file of the run
    (`others`: role -> path), be missing or a stats file of an earlier run (never is
    another file replaced), and be writable where it is (proven with a temporary file)."""
    if os.path.isdir(path):
        return f"{path!r} is a directory"
    for role, other in others.items():
        if _same_file(path, other):
            return f"{path!r} is also {role}"
    if os.path.lexists(path) and not _is_stats_file(path):
        return f"{path!r} exists and is not a fetcher --stats file (it is left as it is)"
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".fetcher-stats-", suffix=".part")
        os.close(fd)
        os.remove(temporary)
    except OSError as exc:
        return f"cannot write in {folder!r}: {exc.strerror or exc}"
    return None


def refusal_stats(args: list[str], message: str) -> None:
    """On a usage error, write `--stats FILE` (found in `args`) with exit status 2 and the
    error, if FILE may be written (missing or a stats file already) and the error is not
    about FILE itself."""
    path = None
    for index, arg in enumerate(args):
        if arg == "--stats" and index + 1 < len(args):
            path = args[index + 1]
        elif arg.startswith("--stats="):
            path = arg.partition("=")[2]
    if not path or os.path.isdir(path) or "'--stats'" in message:  # not where it is refused
        return
    if os.path.lexists(path) and not _is_stats_file(path):
        return
    with contextlib.suppress(OSError):
        write_stats(path, {"exit_status": 2, "error": message})
