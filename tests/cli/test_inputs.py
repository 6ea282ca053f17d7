"""INPUT...: URLs as arguments, list files and stdin as one list; format from the name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fetcher.cli.app import app
from tests.support.local import LocalServer

runner = CliRunner()


def records(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_urls_as_arguments(server: LocalServer) -> None:
    one = server.html("/in/one", "<title>One</title>")
    two = server.html("/in/two", "<title>Two</title>")
    result = runner.invoke(app, [one, two, "-f", "jsonl"])
    assert result.exit_code == 0
    assert sorted(r["title"] for r in records(result.stdout)) == ["One", "Two"]  # type: ignore[type-var]
    assert "fetcher: 2 URLs, 2 ok, 0 failed in" in result.stderr


def test_inputs_are_read_in_the_order_given_as_one_list(
    server: LocalServer, tmp_path: Path
) -> None:
    urls = [server.html(f"/in/order/{n}", f"<title>{n}</title>") for n in range(6)]
    first = tmp_path / "first.txt"
    first.write_text(f"# a comment\n{urls[1]}\n\n{urls[2]}\n")
    second = tmp_path / "second.txt"
    second.write_text(f"\n  {urls[4]}  \n")
    result = runner.invoke(
        app,
        [urls[0], str(first), urls[3], str(second), "-", "-w", "1", "-f", "jsonl"],
        input=f"{urls[5]}\n",
    )
    assert result.exit_code == 0
    assert [r["url"] for r in records(result.stdout)] == urls  # one worker: in input order
    # `index` counts URLs across every input, not lines: blank and comment lines are not URLs
    assert [r["index"] for r in records(result.stdout)] == [1, 2, 3, 4, 5, 6]


def test_the_progress_total_counts_every_file_and_argument(
    server: LocalServer, tmp_path: Path
) -> None:
    url = server.html("/in/total", "<title>t</title>")
    listed = tmp_path / "list.txt"
    listed.write_text(f"{url}\n{url}\n")
    result = runner.invoke(app, [str(listed), url, str(listed), "--progress", "-q"])
    assert result.exit_code == 0
    assert "0/5 " in result.stderr  # the total, drawn at the start


def test_stdin_at_most_once() -> None:
    result = runner.invoke(app, ["-", "-"], input="")
    assert result.exit_code == 2
    assert "standard input (-) can be an input only once" in result.stderr


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("example.com", "no such file 'example.com' (to fetch it, write https://example.com)"),
        (
            "example.com:8080/a",
            "no such file 'example.com:8080/a' (to fetch it, write https://example.com:8080/a)",
        ),
        ("serv", "no such file or command 'serv' (did you mean 'serve'?)"),
        ("benhc", "no such file or command 'benhc' (did you mean 'bench'?)"),
        ("missing.txt", "cannot read URL list 'missing.txt': No such file or directory"),
    ],
)
def test_a_missing_input_is_explained(name: str, message: str, tmp_path: Path) -> None:
    result = runner.invoke(app, [name])
    assert result.exit_code == 2
    assert result.stderr == f"fetcher: error: {message} (see 'fetcher --help')\n"


def test_one_unreadable_input_refuses_the_run_before_the_output_is_touched(
    server: LocalServer, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("precious\n")
    url = server.html("/in/refused", "<title>x</title>")
    result = runner.invoke(app, [url, str(tmp_path / "nope.txt"), "-o", str(out)])
    assert result.exit_code == 2
    assert out.read_text() == "precious\n"


def test_the_output_may_not_be_any_of_the_inputs(server: LocalServer, tmp_path: Path) -> None:
    url = server.html("/in/same", "<title>x</title>")
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text(f"{url}\n")
    second.write_text(f"{url}\n")
    result = runner.invoke(app, [str(first), str(second), "-o", str(second)])
    assert result.exit_code == 2
    assert second.read_text() == f"{url}\n"


def test_resume_covers_every_input(server: LocalServer, tmp_path: Path) -> None:
    urls = [server.html(f"/in/resume/{n}", f"<title>{n}</title>") for n in range(4)]
    listed = tmp_path / "list.txt"
    listed.write_text(f"{urls[1]}\n{urls[2]}\n")
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps(_record(urls[0])) + "\n" + json.dumps(_record(urls[2])) + "\n")
    result = runner.invoke(app, [urls[0], str(listed), urls[3], "-o", str(out), "--resume"])
    assert result.exit_code == 0
    assert sorted(r["url"] for r in records(out.read_text())) == sorted(urls)  # type: ignore[type-var]
    assert "2 skipped, finished in an earlier run" in result.stderr


def _record(url: str) -> dict[str, object]:
    from fetcher import FIELDS

    record: dict[str, object] = dict.fromkeys(FIELDS)
    record |= {"url": url, "final_url": url, "status": 200, "bytes": 1, "elapsed": 0.1}
    return record | {"attempts": 1}


@pytest.mark.parametrize(
    ("name", "flags", "kind"),
    [
        ("out.jsonl", [], "jsonl"),
        ("out.NDJSON", [], "jsonl"),
        ("out.csv", [], "csv"),
        ("out.txt", [], "text"),
        ("out", [], "text"),
        ("out.jsonl", ["-f", "csv"], "csv"),  # an explicit -f wins
    ],
)
def test_the_output_format_follows_the_file_name(
    server: LocalServer, tmp_path: Path, name: str, flags: list[str], kind: str
) -> None:
    url = server.html("/in/format", "<title>Format</title>")
    out = tmp_path / name
    result = runner.invoke(app, [url, "-o", str(out), "-q", *flags])
    assert result.exit_code == 0
    text = out.read_text()
    if kind == "jsonl":
        assert records(text)[0]["title"] == "Format"
    elif kind == "csv":
        assert text.startswith("url,final_url,")
    else:
        assert text.startswith("200 ") and text.rstrip().endswith("Format")


def test_resume_into_a_jsonl_file_named_so(server: LocalServer, tmp_path: Path) -> None:
    url = server.html("/in/resume-name", "<title>R</title>")
    out = tmp_path / "out.jsonl"
    assert runner.invoke(app, [url, "-o", str(out), "-q"]).exit_code == 0
    again = runner.invoke(app, [url, url, "-o", str(out), "--resume", "-q"])
    assert again.exit_code == 0
    assert len(records(out.read_text())) == 2


@pytest.mark.parametrize("edited", [False, True])
def test_resume_by_index_holds_only_while_the_inputs_are_unchanged(
    server: LocalServer, tmp_path: Path, edited: bool
) -> None:
    urls = [server.html(f"/in/resume-index/{n}", f"<title>{n}</title>") for n in range(5)]
    listed = tmp_path / "list.txt"
    out = tmp_path / "out.jsonl"
    lines = urls[1:4]  # indexes 2, 3, 4 after the URL argument at 1
    out.write_text("".join(json.dumps(_record(urls[n]) | {"index": n + 1}) + "\n" for n in (0, 2)))
    if edited:
        lines[1] = urls[4]  # line 3 now holds another URL: it needs its own record
    listed.write_text("".join(f"{url}\n" for url in lines))
    result = runner.invoke(app, [urls[0], str(listed), "-o", str(out), "--resume"])
    assert result.exit_code == 0
    new = {(r["index"], r["url"]) for r in records(out.read_text())[2:]}
    listed_now = set(enumerate([urls[0], *lines], 1))
    assert new == listed_now - {(1, urls[0]), (3, urls[2])}  # each line once, old or new
    assert f"{1 if edited else 2} skipped, finished in an earlier run" in result.stderr
