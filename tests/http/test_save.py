"""Tests for fetcher._http.save: safe, deterministic file names and atomic page writes."""

from __future__ import annotations

import hashlib
import os
import random
import re
from pathlib import Path

import pytest

from fetcher._http.save import save_page, saved_name

SAFE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
DEVICES = {"CON", "PRN", "AUX", "NUL"} | {f"{k}{n}" for k in ("COM", "LPT") for n in range(1, 10)}


def assert_safe(name: str) -> None:
    """Every guarantee saved_name makes about its result."""
    assert SAFE.fullmatch(name), name
    assert ".." not in name
    assert not name.startswith((".", "-"))
    assert not name.endswith((".", " "))
    assert "/" not in name and "\\" not in name and "\0" not in name
    assert 0 < len(name) <= 180
    assert name.split(".")[0].upper() not in DEVICES
    assert re.split(r"[._]", name)[0].upper() not in DEVICES
    assert os.path.basename(name) == name
    assert os.path.normpath(name) == name


def digest(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()[:16]


HOSTILE = [
    "http://h/../../etc/passwd",
    "http://h/%2e%2e/%2e%2e/x",
    "http://h/a\\..\\..\\b",
    "http://h/..",
    "http://h/.",
    "http://h/...",
    "/etc/passwd",
    "file:///etc/passwd",
    "../../x",
    "..",
    ".",
    "http://.hidden/.git/config",
    "http://-/-",
    "http://con/",
    "http://con.example.com/",
    "http://lpt1/aux.txt",
    "http://NUL/",
    "http://com9:8080/",
    "http://bücher.de/straße?ä=ö",
    "http://h\x00st/p\x00th",
    "http://h/\x01\x02\x1f\x7f",
    "http://h/a\ud800b",
    "http://h/tab\there\nnewline",
    "http://[::1",
    "http://[::1]:8080/x",
    "http://h:99999/",
    "http://h:port/",
    "http://user:secret@h/",
    "http://h/" + "a" * 5000,
    "http://h/?" + "q=1&" * 2000,
    "http://" + "x" * 300 + ".com/" + "y." * 300,
    "",
    " ",
    "?",
    "#",
    "\\\\server\\share\\..\\x",
    "C:\\Windows\\system32",
]


@pytest.mark.parametrize("url", HOSTILE)
@pytest.mark.parametrize("content_type", [None, "text/html", "nonsense/;;", ""])
def test_hostile_urls_give_safe_names(url: str, content_type: str | None) -> None:
    assert_safe(saved_name(url, content_type))


def test_fuzz_random_strings() -> None:
    rng = random.Random(20240611)
    alphabet = (
        [chr(c) for c in range(0, 128)]
        + list("././/\\\\%%::@@[[]]??##")
        + ["é", "ß", "ä", "İ", "\u2024", "\uff0e", "\uff0f", "\u202e", "\ud800", "\U0001f600"]
    )
    prefixes = ["", "http://", "https://", "http://[", "file://", "//", "http://con.", "\\\\"]
    names = set()
    for _ in range(4000):
        url = rng.choice(prefixes) + "".join(rng.choices(alphabet, k=rng.randint(0, 300)))
        name = saved_name(url, rng.choice([None, "text/html", "application/ld+json", "x/y"]))
        assert_safe(name)
        names.add(name)
    assert len(names) > 3900  # distinct inputs almost always get distinct names


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://h/../../etc/passwd", "h_etc-passwd"),
        ("http://.hidden/.git/config", "hidden_git-config"),
        ("/etc/passwd", "nohost_etc-passwd"),
        ("file:///etc/passwd", "nohost_etc-passwd"),
        ("../../x", "nohost_x"),
        ("http://h/..", "h"),
        ("", "nohost"),
        ("https://Example.COM:8443/a/b.html?x=1#frag", "example.com_8443_a-b.html-x-1"),
        ("http://con/", "_con"),
        ("http://con.example.com/", "_con.example.com"),
        ("http://lpt1/aux.txt", "_lpt1_aux.txt"),
        ("http://h/aux.txt", "h_aux.txt"),
        ("http://user:secret@h/", "h"),
        ("http://h:99999/", "h"),
        ("http://[::1", "nohost_http-1"),
    ],
)
def test_name_shape(url: str, expected: str) -> None:
    name = saved_name(url, None)
    stem, ext = os.path.splitext(name)
    assert stem == f"{expected}_{digest(url)}"
    assert ext.startswith(".")


def test_length_caps() -> None:
    name = saved_name("http://" + "h" * 500 + ":65535/" + "p" * 500 + "?" + "q" * 500, None)
    host, port, slug, _ = name.split("_")
    assert (len(host), port, len(slug)) == (60, "65535", 80)
    assert len(name) <= 180
    long_ext = saved_name("http://" + "con." * 100 + "/" + "-." * 500 + "x.abcdefgh", None)
    assert long_ext.endswith(".abcdefgh")
    assert_safe(long_ext)


def test_deterministic() -> None:
    url = "https://example.com/some/page?q=1"
    assert saved_name(url, "text/html") == saved_name(url, "text/html")
    assert saved_name(url, "text/html") == f"example.com_some-page-q-1_{digest(url)}.html"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("http://h/a b", "http://h/a%20b"),
        ("http://h/a/b", "http://h/a-b"),
        ("http://h/a..b", "http://h/a.b"),
        ("http://h/ä", "http://h/ö"),
        ("http://h/x#one", "http://h/x#two"),
        ("http://h/", "http://h"),
        ("http://H/", "http://h/"),
    ],
)
def test_urls_that_sanitise_alike_get_different_names(first: str, second: str) -> None:
    assert saved_name(first, None) != saved_name(second, None)


@pytest.mark.parametrize(
    ("url", "content_type", "ext"),
    [
        ("http://h/a.PDF", "text/html", ".pdf"),
        ("http://h/archive.tar.gz", None, ".gz"),
        ("http://h/x.abcdefgh", None, ".abcdefgh"),
        ("http://h/x.abcdefghi", None, ".bin"),
        ("http://h/x.a-b", "text/plain", ".txt"),
        ("http://h/x.", None, ".bin"),
        ("http://h/.htaccess", None, ".bin"),
        ("http://h/dir.d/", "text/html", ".html"),
        ("http://h/page?file=a.pdf", "text/html", ".html"),
        ("http://h/a\\b.png", None, ".png"),
        ("http://h/x.é", None, ".bin"),
        ("http://h/", "text/html; charset=utf-8", ".html"),
        ("http://h/", "TEXT/HTML", ".html"),
        ("http://h/", "application/xhtml+xml", ".html"),
        ("http://h/", "application/json", ".json"),
        ("http://h/", "application/ld+json", ".json"),
        ("http://h/", "text/plain", ".txt"),
        ("http://h/", "application/xml", ".xml"),
        ("http://h/", "text/xml", ".xml"),
        ("http://h/", "application/rss+xml", ".xml"),
        ("http://h/", "text/css", ".css"),
        ("http://h/", "application/javascript", ".js"),
        ("http://h/", "text/javascript", ".js"),
        ("http://h/", "image/png", ".png"),
        ("http://h/", "image/jpeg", ".jpg"),
        ("http://h/", "image/gif", ".gif"),
        ("http://h/", "application/pdf", ".pdf"),
        ("http://h/", "application/octet-stream", ".bin"),
        ("http://h/", "", ".bin"),
        ("http://h/", None, ".bin"),
    ],
)
def test_extension(url: str, content_type: str | None, ext: str) -> None:
    assert saved_name(url, content_type).endswith("_" + digest(url) + ext)


# --- save_page


def test_save_page_writes_the_body(tmp_path: Path) -> None:
    body = bytes(range(256)) * 1000
    path = save_page(str(tmp_path), "http://h/../../etc/passwd", "text/html", body)
    assert path == os.path.join(str(tmp_path), saved_name("http://h/../../etc/passwd", "text/html"))
    assert os.path.dirname(path) == str(tmp_path)
    assert Path(path).read_bytes() == body
    assert os.listdir(tmp_path) == [os.path.basename(path)]


def test_save_page_empty_body(tmp_path: Path) -> None:
    path = save_page(str(tmp_path), "http://h/", None, b"")
    assert Path(path).read_bytes() == b""


def test_saved_page_has_the_usual_permissions(tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    reference.write_bytes(b"")
    path = save_page(str(tmp_path), "http://h/", None, b"x")
    assert os.stat(path).st_mode == reference.stat().st_mode


def test_save_page_replaces_an_existing_file_atomically(tmp_path: Path) -> None:
    path = save_page(str(tmp_path), "http://h/p", "text/html", b"old page")
    with open(path, "rb") as old:
        again = save_page(str(tmp_path), "http://h/p", "text/html", b"new page")
        assert old.read() == b"old page"  # renamed over, not rewritten in place
    assert again == path
    assert Path(path).read_bytes() == b"new page"
    assert os.listdir(tmp_path) == [os.path.basename(path)]


def test_save_page_missing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    with pytest.raises(OSError):
        save_page(str(missing), "http://h/", None, b"body")
    assert not missing.exists()
    assert os.listdir(tmp_path) == []


def test_save_page_failure_removes_the_temporary_file(tmp_path: Path) -> None:
    url = "http://h/p"
    (tmp_path / saved_name(url, None)).mkdir()  # the rename onto a directory fails
    with pytest.raises(OSError):
        save_page(str(tmp_path), url, None, b"body")
    assert os.listdir(tmp_path) == [saved_name(url, None)]
    assert os.listdir(tmp_path / saved_name(url, None)) == []


def test_save_page_failed_rename_removes_the_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(OSError, match="No space"):
        save_page(str(tmp_path), "http://h/p", None, b"body")
    assert os.listdir(tmp_path) == []
