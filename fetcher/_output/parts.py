"""`--parts DIR`: the nodes of a cluster run write the records, in parts; the client lists
the parts it took in DIR/manifest.jsonl.

Each node writes its records, in the run's format (`FORMATS`), to a part of its own,
`.part-RUN-NODE-SEQ.EXT.partial`, and seals it now and then (`node`): the file is
flushed to disk and renamed `part-RUN-NODE-SEQ.EXT`, so a part under its final name is
always whole. The client then appends one line to the manifest, `{"part": NAME,
"records": N}`, and only then counts the part's records as done: **the output is the
parts the manifest lists**. A part a node sealed just before it was lost (its URLs were
fetched again elsewhere) or a `.partial` of a node lost or a run killed is not listed;
`--resume` removes both, once it has proven the folder is fetcher's.

The manifest's first line says whose it is (`{"fetcher": "parts", "format": ...}`). A
new run takes a folder that does not exist or is empty; a folder with a manifest is
continued with `--resume` (its format kept), and any other folder is refused, untouched.
The manifest is locked (`flock`) for the whole run, as `-o FILE` is, so two runs never
write one folder. `--resume` reads the listed parts back (JSONL only, as for `-o`): the
folder must be visible to the client (on its machine or shared with the nodes).
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, BinaryIO

from .._core.errors import OutputError, ResumeError
from .._core.result import FetchResult
from .formats import FORMATS, RecordWriter, make_writer
from .outfile import lock, reason
from .resume import Finished, FinishedURLs, read_parts

__all__ = ["MANIFEST", "DiscardWriter", "PartWriter", "PartsFolder", "open_parts"]

MANIFEST = "manifest.jsonl"
_KIND = "parts"
_MAX_HEADER = 4096  # the longest line a manifest holds (a part's name is 40 characters)
#: A part's name: `part-RUN-NODE-SEQ.EXT`, and `.NAME.partial` while it is written.
_PART = re.compile(r"part-[0-9a-f]{8}-[0-9a-f]{8}-[0-9]{6,}\.[a-z]+")
_PARTIAL = re.compile(r"\.part-[0-9a-f]{8}-[0-9a-f]{8}-[0-9]{6,}\.[a-z]+\.partial")
#: An open part's lines go to its file every this many records (memory stays bounded).
_WRITE_EVERY = 256
#: What fsync of a folder may answer on file systems that do not do it (some network ones).
_NO_FOLDER_SYNC = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EBADF})
_CLOSED = "the parts are closed (open new ones for each run)"


class PartWriter:
    """A node's parts (a `PartSink`): records go to the open part, `seal` names it."""

    def __init__(self, folder: str, fmt: str, run: str, node: str) -> None:
        self._folder = folder
        self._fmt = fmt
        self._stem = f"part-{run}-{node}-"
        self._extension = FORMATS[fmt].extensions[0] if FORMATS[fmt].extensions else ".txt"
        self._sequence = 0
        self._stream: BinaryIO | None = None
        self._writer: RecordWriter | None = None
        self._opened = 0.0
        self.held = 0

    @property
    def age(self) -> float | None:
        return None if self._stream is None else time.monotonic() - self._opened

    def _name(self) -> str:
        return f"{self._stem}{self._sequence:06d}{self._extension}"

    def write(self, record: FetchResult) -> None:
        if self._writer is None:
            self._sequence += 1
            path = os.path.join(self._folder, f".{self._name()}.partial")
            self._stream = open(path, "xb")  # noqa: SIM115 - closed by `seal`
            self._writer = make_writer(self._fmt, self._stream)
            self._opened = time.monotonic()
        self.held += 1
        self._writer.write(record, flush=not self.held % _WRITE_EVERY)

    def abandon(self) -> None:
        if self._stream is not None:
            self._stream.close()
        self._stream = self._writer = None
        self.held = 0

    def seal(self) -> Sealing | None:
        stream, writer = self._stream, self._writer
        if stream is None or writer is None:
            return None
        self._stream = self._writer = None
        self.held = 0
        return Sealing(self._name(), self._folder, stream, writer)


class Sealing:
    """A part closed to writes: `finish` puts it on disk under its name (no lock needed)."""

    def __init__(self, name: str, folder: str, stream: BinaryIO, writer: RecordWriter) -> None:
        self.name = name
        self._folder = folder
        self._stream = stream
        self._writer = writer

    def finish(self) -> None:
        with self._stream as stream:
            self._writer.close()
            os.fsync(stream.fileno())
        partial = os.path.join(self._folder, f".{self.name}.partial")
        os.rename(partial, os.path.join(self._folder, self.name))
        _sync_folder(self._folder)


class PartsFolder:
    """A run's parts (a `Parts`): nodes' writers, and the client's manifest.

    Pickled to the nodes without the manifest, which stays with the client.
    """

    def __init__(self, folder: str, fmt: str, manifest: BinaryIO | None = None) -> None:
        self.folder = os.path.abspath(folder)  # the nodes' working folders are not ours
        self.fmt = fmt
        self.run = secrets.token_hex(4)
        self.manifest = manifest  #: the client's; None at a node
        self.claimed = False  # a run has started with these parts (the client's side)

    def __getstate__(self) -> dict[str, Any]:
        return {"folder": self.folder, "fmt": self.fmt, "run": self.run, "manifest": None}

    def __enter__(self) -> PartsFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the manifest, which releases its lock (a run's parts are all listed
        by the time its iteration ends; the command line closes it as it exits)."""
        if self.manifest is not None:
            self.manifest.close()

    def claim(self) -> None:
        """A run starts with these parts: `OSError` if they are closed or had one."""
        if self.manifest is None or self.manifest.closed:
            raise OSError(_CLOSED)
        if self.claimed:
            raise OSError("the parts have had a run already (open new ones for each run)")
        self.claimed = True

    def sink(self, node: str) -> PartWriter:
        """The writer of node `node` (8 hex digits); `OSError` if the folder cannot be
        written here (it is created if missing: a node's machine may not have it yet)."""
        os.makedirs(self.folder, exist_ok=True)
        if not os.access(self.folder, os.W_OK | os.X_OK):
            raise PermissionError(f"cannot write in {self.folder!r}")
        return PartWriter(self.folder, self.fmt, self.run, node)

    def sealed(self, name: str, records: int) -> None:
        """List part `name` in the manifest, on disk before this returns."""
        manifest = self.manifest
        if not _PART.fullmatch(name):
            raise OSError(f"{name!r} is not the name of a part")
        if manifest is None:
            raise OSError(f"{name}: no manifest to list it in (a node's copy of the parts)")
        if manifest.closed:
            raise OSError(f"{name}: {_CLOSED}")
        line = json.dumps({"part": name, "records": records}, separators=(",", ":"))
        manifest.write(line.encode() + b"\n")
        manifest.flush()
        os.fsync(manifest.fileno())


class DiscardWriter(RecordWriter):
    """The client's writer when the nodes write the records: nothing goes out here."""

    def write(self, result: FetchResult, *, flush: bool = True) -> None:
        """The record is in a part already."""

    def write_all(
        self, results: Sequence[FetchResult], rendered: Sequence[bytes | None] | None = None
    ) -> None:
        """The records are in parts already."""

    def line(self, result: FetchResult) -> str:
        return ""


def open_parts(
    folder: str,
    fmt: str,
    *,
    resume: bool,
    warn: Callable[[str], None],
    lines: Callable[[], Iterable[tuple[int, str]]] | None = None,
) -> tuple[PartsFolder, Finished]:
    """The parts of a new run in `folder`, or of the run it holds (`resume`), the manifest
    locked; what is finished already. `OutputError` with a one-line message, the folder
    then as it was found (a manifest that lists no part, left by a run that sealed none,
    and its partial parts, are taken over by a new run)."""
    folder = os.path.abspath(folder)
    path = os.path.join(folder, MANIFEST)
    try:
        os.makedirs(folder, exist_ok=True)
        if not os.path.lexists(path):
            return _start(folder, fmt, path, warn), FinishedURLs()
        stream = open(path, "r+b")  # noqa: SIM115 - the run's, closed at its end
    except OSError as exc:
        raise OutputError(f"cannot use {folder!r} for parts: {reason(exc)}") from None
    try:
        lock(stream.fileno(), path, warn)
        finished = _continue(folder, fmt, stream, resume, lines)
    except OSError as exc:
        stream.close()
        raise OutputError(f"cannot use {folder!r} for parts: {reason(exc)}") from None
    except BaseException:
        stream.close()
        raise
    return PartsFolder(folder, fmt, stream), finished


def _continue(
    folder: str,
    fmt: str,
    stream: BinaryIO,
    resume: bool,
    lines: Callable[[], Iterable[tuple[int, str]]] | None,
) -> Finished:
    """Take over a folder with a manifest (locked): resume it, or start anew in it if it
    lists no part and holds nothing but partial parts."""
    first = _header(folder, stream)
    names = _listed(folder, stream, cut=resume)
    others = [n for n in os.listdir(folder) if n != MANIFEST and not _PARTIAL.fullmatch(n)]
    if not resume and not names and not others:  # a run that sealed no part: ours again
        _tidy(folder, set())
        stream.seek(0)
        stream.truncate()
        _write_header(folder, fmt, stream)
        return FinishedURLs()
    if not resume:
        raise OutputError(
            f"{folder} holds the parts of an earlier run: --resume continues it "
            "(or choose another folder)"
        )
    if first.get("format") != fmt or not FORMATS[fmt].resumable:
        held = first.get("format")
        if not FORMATS.get(str(held), FORMATS["text"]).resumable:
            raise OutputError(f"{folder} holds {held} parts, which --resume cannot read")
        raise OutputError(f"{folder} holds {held} parts: add --format {held}")
    finished = _finished(folder, names, lines)
    _tidy(folder, set(names))
    return finished


def _start(folder: str, fmt: str, path: str, warn: Callable[[str], None]) -> PartsFolder:
    """A new run's manifest, in a folder that holds nothing else."""
    if os.listdir(folder):
        raise OutputError(
            f"{folder} is not empty and holds no fetcher parts: give --parts a new or empty folder"
        )
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        raise OutputError(f"{path} is in use by another fetcher run") from None
    stream = os.fdopen(descriptor, "r+b")
    try:
        lock(descriptor, path, warn)
        _write_header(folder, fmt, stream)
    except BaseException:
        stream.close()
        os.unlink(path)  # this run's, and it holds nothing yet
        raise
    return PartsFolder(folder, fmt, stream)


def _write_header(folder: str, fmt: str, stream: BinaryIO) -> None:
    header = {"fetcher": _KIND, "format": fmt}
    stream.write(json.dumps(header).encode() + b"\n")
    stream.flush()
    os.fsync(stream.fileno())
    _sync_folder(folder)


def _header(folder: str, stream: BinaryIO) -> dict[str, Any]:
    """The manifest's first line, once it proves the folder fetcher's."""
    header = stream.readline(_MAX_HEADER)
    try:
        first = json.loads(header)
    except ValueError:
        first = None
    if not isinstance(first, dict) or first.get("fetcher") != _KIND or not header.endswith(b"\n"):
        raise OutputError(f"{os.path.join(folder, MANIFEST)} is not a fetcher parts manifest")
    return first


def _listed(folder: str, stream: BinaryIO, *, cut: bool) -> list[str]:
    """The parts the manifest lists after its header; a torn last line (the client
    killed while listing) is cut when `cut`, else left."""
    names: list[str] = []
    good = stream.tell()
    while line := stream.readline(_MAX_HEADER):
        try:
            entry = json.loads(line) if line.endswith(b"\n") else None
        except ValueError:
            entry = None
        name = entry.get("part") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not _PART.fullmatch(name):
            if line.endswith(b"\n"):
                raise OutputError(f"{os.path.join(folder, MANIFEST)}: not a list of parts")
            if cut:
                os.ftruncate(stream.fileno(), good)  # torn: the part is fetched again
            break
        names.append(name)
        good += len(line)
    stream.seek(0, os.SEEK_END)
    return names


def _finished(
    folder: str, names: list[str], lines: Callable[[], Iterable[tuple[int, str]]] | None
) -> Finished:
    try:
        return read_parts([os.path.join(folder, name) for name in names], lines)
    except ResumeError as exc:
        raise OutputError(str(exc)) from None


def _tidy(folder: str, listed: set[str]) -> None:
    """Remove what a run lost or killed left: partial parts, and parts not listed."""
    for name in os.listdir(folder):
        if _PARTIAL.fullmatch(name) or (_PART.fullmatch(name) and name not in listed):
            os.unlink(os.path.join(folder, name))


def _sync_folder(folder: str) -> None:
    """Put a new name in `folder` on disk (where the file system can be asked to)."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    except OSError as exc:
        if exc.errno not in _NO_FOLDER_SYNC:
            raise
    finally:
        os.close(descriptor)
