"""`--parts DIR` on disk: parts sealed whole, a manifest only the client writes, and a
folder touched only once it is proven to be fetcher's."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest

import fetcher
from fetcher import FetchOptions, FetchResult, OptionError, __version__
from fetcher._core.errors import OutputError
from fetcher._output.parts import MANIFEST, PartsFolder, PartWriter, open_parts
from fetcher._output.resume import FinishedIndexes
from fetcher._run.node import start_node


def record(index: int) -> FetchResult:
    url = f"http://127.0.0.1:9/p/{index}"
    return FetchResult(url, url, 200, f"T{index}", 10, 0.1, None, index=index)


def lines_of(count: int) -> list[tuple[int, str]]:
    return [(i, f"http://127.0.0.1:9/p/{i}") for i in range(1, count + 1)]


def no_warning(text: str) -> None:
    raise AssertionError(text)


def seal(sink: PartWriter) -> str:
    """Seal the open part as a node does: closed under the lock, then put on disk."""
    sealing = sink.seal()
    assert sealing is not None
    sealing.finish()
    return sealing.name


def test_a_part_is_named_only_once_sealed_and_listed_only_by_the_client(tmp_path: Path) -> None:
    folder, finished = open_parts(str(tmp_path / "p"), "jsonl", resume=False, warn=no_warning)
    assert not len(finished)
    at_node = pickle.loads(pickle.dumps(folder))  # what a node gets: no manifest
    assert at_node.manifest is None and at_node.run == folder.run
    sink = at_node.sink("0123abcd")
    assert sink.seal() is None and sink.age is None  # nothing open
    for index in (1, 2):
        sink.write(record(index))
    names = os.listdir(tmp_path / "p")
    assert [n for n in names if n != MANIFEST] == [
        f".part-{folder.run}-0123abcd-000001.jsonl.partial"
    ]
    name = seal(sink)
    assert name == f"part-{folder.run}-0123abcd-000001.jsonl"
    assert sorted(os.listdir(tmp_path / "p")) == [MANIFEST, name]
    rows = [json.loads(line) for line in (tmp_path / "p" / name).read_text().splitlines()]
    assert [(r["index"], r["title"]) for r in rows] == [(1, "T1"), (2, "T2")]
    with pytest.raises(OSError):
        at_node.sealed(name, 2)  # a node cannot list
    folder.sealed(name, 2)
    assert folder.manifest is not None
    folder.manifest.close()
    manifest = (tmp_path / "p" / MANIFEST).read_text().splitlines()
    assert json.loads(manifest[0]) == {"fetcher": "parts", "format": "jsonl"}
    assert json.loads(manifest[1]) == {"part": name, "records": 2}


def test_a_folder_is_used_only_new_empty_or_proven_fetchers(tmp_path: Path) -> None:
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "notes.txt").write_text("mine\n")
    with pytest.raises(OutputError, match="not empty and holds no fetcher parts"):
        open_parts(str(tmp_path / "theirs"), "jsonl", resume=True, warn=no_warning)
    assert os.listdir(tmp_path / "theirs") == ["notes.txt"]  # untouched
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / MANIFEST).write_text('{"some": "thing"}\n')
    with pytest.raises(OutputError, match="not a fetcher parts manifest"):
        open_parts(str(tmp_path / "odd"), "jsonl", resume=True, warn=no_warning)
    assert (tmp_path / "odd" / MANIFEST).read_text() == '{"some": "thing"}\n'
    first, _ = open_parts(str(tmp_path / "ours"), "jsonl", resume=False, warn=no_warning)
    with pytest.raises(OutputError, match="in use by another fetcher run"):
        open_parts(str(tmp_path / "ours"), "jsonl", resume=True, warn=no_warning)
    assert first.manifest is not None
    first.manifest.close()  # a run that ended before any part: the folder is taken over
    again, _ = open_parts(str(tmp_path / "ours"), "csv", resume=False, warn=no_warning)
    sink = pickle.loads(pickle.dumps(again)).sink("0123abcd")
    sink.write(record(1))
    again.sealed(seal(sink), 1)
    assert again.manifest is not None
    again.manifest.close()
    with pytest.raises(OutputError, match="--resume continues it"):
        open_parts(str(tmp_path / "ours"), "csv", resume=False, warn=no_warning)
    with pytest.raises(OutputError, match="holds csv parts, which --resume cannot read"):
        open_parts(str(tmp_path / "ours"), "jsonl", resume=True, warn=no_warning)


def test_resume_reads_the_listed_parts_and_removes_what_a_lost_run_left(tmp_path: Path) -> None:
    path = tmp_path / "p"
    folder, _ = open_parts(str(path), "jsonl", resume=False, warn=no_warning)
    sink = pickle.loads(pickle.dumps(folder)).sink("0123abcd")
    for index in (1, 2, 4):
        sink.write(record(index))
    listed = seal(sink)
    folder.sealed(listed, 3)
    sink.write(record(3))
    unlisted = seal(sink)  # sealed, but its node was lost before the client listed it
    sink.write(record(5))  # partial: its node was killed
    sink.abandon()
    assert folder.manifest is not None
    folder.manifest.write(b'{"part":"part-')  # the client killed while listing
    folder.manifest.close()
    again, finished = open_parts(
        str(path), "jsonl", resume=True, warn=no_warning, lines=lambda: lines_of(5)
    )
    assert isinstance(finished, FinishedIndexes)  # small state: the inputs match
    assert [i for i, url in lines_of(5) if finished.take(url, i)] == [1, 2, 4]
    assert sorted(os.listdir(path)) == sorted([MANIFEST, listed])  # unlisted and partial gone
    assert unlisted not in os.listdir(path)
    assert again.manifest is not None
    again.manifest.close()
    assert (path / MANIFEST).read_text().endswith('"records":3}\n')  # the torn line cut


def test_parts_in_csv_are_written_by_the_format_registry(tmp_path: Path) -> None:
    folder = PartsFolder(str(tmp_path), "csv")
    sink = folder.sink("0123abcd")
    sink.write(record(1))
    name = seal(sink)
    assert name.endswith(".csv")
    assert (tmp_path / name).read_text().splitlines()[0].startswith("url,final_url,status")


def test_a_node_that_cannot_write_its_parts_says_so_before_its_first_url(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder\n")
    parts = PartsFolder(str(tmp_path / "file" / "parts"), "jsonl")
    options = FetchOptions(executor="dask", parts=parts)
    info = start_node(options, b"secret", __version__, None)
    assert info["version"] == __version__ and "port" not in info
    assert info["error"].startswith("cannot write parts: ")


def test_parts_are_an_option_of_the_node_executor_only_and_carry_no_bodies() -> None:
    parts = PartsFolder("/nonexistent/parts", "jsonl")
    with pytest.raises(OptionError, match="applies to the dask executor only"):
        FetchOptions(executor="thread", parts=parts)
    with pytest.raises(OptionError, match="keep_body must be False"):
        FetchOptions(executor="dask", parts=parts, keep_body=True)


def test_the_public_open_parts_locks_a_new_folder_until_closed(tmp_path: Path) -> None:
    """`fetcher.open_parts`: the command line's rules from Python; the manifest is
    locked while the parts are open, and a folder that is not fetcher's is refused and
    left as it was."""
    folder = tmp_path / "parts"
    with fetcher.open_parts(folder) as parts:
        assert parts.fmt == "jsonl" and (folder / MANIFEST).exists()
        with pytest.raises(OutputError, match="in use by another fetcher run"):
            fetcher.open_parts(folder)
        parts.claim()
        with pytest.raises(OSError, match="had a run already"):
            parts.claim()
        sink = parts.sink("0000abcd")
        sink.write(record(1))
        parts.sealed(seal(sink), 1)
    assert parts.manifest is not None and parts.manifest.closed
    assert isinstance(parts, fetcher.PartsFolder)
    with pytest.raises(OSError, match="the parts are closed"):  # a run's start: OutputError
        parts.claim()
    with pytest.raises(OSError, match="the parts are closed"):  # a run ends: OutputError
        parts.sealed(f"part-{parts.run}-0000abcd-000002.jsonl", 1)
    parts.close()  # twice: nothing more
    with pytest.raises(OutputError, match="--resume continues it"):  # it lists a part now
        fetcher.open_parts(folder)
    with pytest.raises(OptionError, match="'yaml' is not one of"):
        fetcher.open_parts(tmp_path / "other", "yaml")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(OutputError, match="not empty"):
        fetcher.open_parts(tmp_path / "mine", "csv")
    assert os.listdir(tmp_path / "mine") == ["notes.txt"]
