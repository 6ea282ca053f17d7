"""Saving a downloaded body in a folder, under a safe file name derived from its URL.

The URL is untrusted (it comes from a stranger's list or a redirect), so the name keeps only
a readable, sanitised form of the host and path: it can never climb out of the folder, hide
itself, or name a Windows device, and no input makes naming fail. A 64-bit hash of the full
URL keeps distinct URLs apart even when they sanitise alike (a collision needs billions of
pages). The body is written to a temporary file and renamed into place, so an interrupted
run never leaves half a page under its final name.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import posixpath
import re
import tempfile
from urllib.parse import urlsplit

__all__ = ["check_save_dir", "save_page", "saved_name"]

_HOST_MAX = 60
_SLUG_MAX = 80
_HOST_UNSAFE = re.compile(r"[^a-z0-9.-]+")
_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_DASHES = re.compile(r"-{2,}")
_DOTS = re.compile(r"\.{2,}")
_EXTENSION = re.compile(r"[A-Za-z0-9]{1,8}")
_DEVICES = frozenset(
    ["con", "prn", "aux", "nul"] + [f"{kind}{n}" for kind in ("com", "lpt") for n in range(1, 10)]
)
_TYPE_EXTENSIONS = {
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "application/json": ".json",
    "text/plain": ".txt",
    "text/xml": ".xml",
    "application/xml": ".xml",
    "text/css": ".css",
    "application/javascript": ".js",
    "text/javascript": ".js",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "application/pdf": ".pdf",
}


def _clean(text: str, unsafe: re.Pattern[str], limit: int) -> str:
    """`text` with unsafe characters as single dashes, no `..`, no leading or trailing `.`/`-`."""
    text = _DOTS.sub(".", _DASHES.sub("-", unsafe.sub("-", text)))
    return text.strip(".-")[:limit].rstrip(".-")


def _extension(path: str, content_type: str | None) -> str:
    """The last path segment's extension if it looks like one, else one for the content type."""
    segment = re.split(r"[/\\]", path)[-1]
    ext = posixpath.splitext(segment)[1][1:]
    if _EXTENSION.fullmatch(ext):
        return "." + ext.lower()
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in _TYPE_EXTENSIONS:
        return _TYPE_EXTENSIONS[media]
    if media.endswith("+json"):
        return ".json"
    return ".xml" if media.endswith("+xml") else ".bin"


def saved_name(url: str, content_type: str | None) -> str:
    """A file name for the body of `url`: safe in any folder, readable, and the same every run.

    Shape: ``{host}[_{port}]_{slug}_{hash}{ext}``, at most 180 characters of
    ``[A-Za-z0-9._-]``, never starting with ``.`` or ``-``, never containing ``..``, and never
    a Windows device name. Never raises, whatever the string.
    """
    host, path, query, port = "", url, "", None  # unparsable (e.g. "http://[::1"): all path
    with contextlib.suppress(ValueError):
        parts = urlsplit(url)
        host, path, query = parts.hostname or "", parts.path, parts.query
        port = parts.port  # raises last, for a port that is not a number from 0 to 65535
    name = _clean(host.lower(), _HOST_UNSAFE, _HOST_MAX) or "nohost"
    if port is not None:
        name += f"_{port}"
    slug = _clean(path + (f"?{query}" if query else ""), _SLUG_UNSAFE, _SLUG_MAX)
    if slug:
        name += f"_{slug}"
    digest = hashlib.sha256(url.encode("utf-8", errors="surrogatepass")).hexdigest()[:16]
    name += f"_{digest}{_extension(path, content_type)}"
    # Stricter than Windows needs ("nul_x.bin" is allowed there): the host alone is checked too.
    if re.split(r"[._]", name, maxsplit=1)[0].lower() in _DEVICES:
        name = "_" + name
    return name


@functools.cache
def _file_mode() -> int:
    """The mode a newly created file gets (mkstemp's files are private: 0600)."""
    with (
        contextlib.suppress(OSError, ValueError, IndexError),
        open("/proc/self/status", encoding="ascii", errors="replace") as status,
    ):
        for line in status:  # read, not set: os.umask would race other threads
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def save_page(directory: str, url: str, content_type: str | None, body: bytes) -> str:
    """Write `body` into the existing `directory` under `saved_name`; return the file's path.

    The file appears complete or not at all, even if the run is killed mid-write (a replaced
    page stays whole until the new one is in place). There is no fsync: one per page would
    dominate a large run, and only a power loss or OS crash, not an interrupted run, could
    leave a page short. Raises `OSError` if the page cannot be written, leaving no temporary
    file behind.
    """
    path = os.path.join(directory, saved_name(url, content_type))
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".fetcher-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(body)
        os.chmod(temporary, _file_mode())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise
    return path


def check_save_dir(directory: str) -> None:
    """Make `directory` if missing and prove a page can be written in it (a probe file is
    created and removed); raise `OSError` if not, before any page is downloaded."""
    os.makedirs(directory, exist_ok=True)
    fd, probe = tempfile.mkstemp(dir=directory, prefix=".fetcher-", suffix=".probe")
    os.close(fd)
    os.remove(probe)
