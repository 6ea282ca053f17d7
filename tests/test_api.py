"""The public API: exactly what `fetcher` exports, and the promises its types make."""

from __future__ import annotations

import pickle
from dataclasses import fields

import pytest

import fetcher
from fetcher import (
    ERROR_KINDS,
    EXECUTORS,
    FIELDS,
    ExecutorError,
    FetcherError,
    FetchOptions,
    FetchResult,
    InputError,
    OptionError,
    OutputError,
    ResumeError,
    SaveDirError,
)

PUBLIC = {
    "DEFAULT_MAX_BYTES", "DEFAULT_MAX_REDIRECTS", "DEFAULT_TIMEOUT", "DEFAULT_WORKERS",
    "ERROR_KINDS", "EXECUTORS", "FIELDS", "ExecutorError", "ExecutorSpec", "FetchOptions",
    "FetchResult", "FetchRun", "FetcherError", "InputError", "OptionError", "OutputError",
    "ResumeError", "SaveDirError", "__version__", "fetch_all", "fetch_first", "read_urls",
    "afetch_all", "AsyncFetchRun", "OptionChanges", "open_parts", "PartsFolder",
}  # fmt: skip


def test_the_package_exports_exactly_the_public_api() -> None:
    assert set(fetcher.__all__) == PUBLIC
    assert all(hasattr(fetcher, name) for name in PUBLIC)


def test_every_exception_a_caller_can_meet_is_a_fetcher_error() -> None:
    for error in (ExecutorError, InputError, OptionError, OutputError, ResumeError, SaveDirError):
        assert issubclass(error, FetcherError)
    assert issubclass(OptionError, ValueError) and issubclass(ResumeError, OutputError)


def test_an_invalid_option_names_its_field() -> None:
    with pytest.raises(OptionError) as caught:
        FetchOptions(timeout=0)
    assert caught.value.field == "timeout"
    assert str(caught.value) == "timeout must be a finite number above 0 and at most 86400, not 0"


def test_records_append_fields_in_the_order_they_came() -> None:
    assert FIELDS[:9] == (
        "url", "final_url", "status", "title", "bytes", "elapsed", "error", "attempts", "path",
    )  # fmt: skip
    assert FIELDS[9:] == ("error_kind", "location", "index")
    record = FetchResult("u", None, None, None, 0, 0.1, "boom", error_kind="lost")
    assert pickle.loads(pickle.dumps(record)) == record


def test_the_error_kinds_are_a_closed_documented_set() -> None:
    assert ERROR_KINDS == (
        "timeout", "dns", "refused", "connect", "lost", "tls", "protocol", "invalid_url",
        "scheme", "redirects", "too_large", "decode", "retry_after", "save", "crashed",
        "executor", "aborted",
    )  # fmt: skip


def test_the_executor_registry_names_its_modules() -> None:
    assert list(EXECUTORS) == ["thread", "process", "hybrid", "async", "dask", "dask-tasks"]
    assert all(spec.summary and spec.choose_when for spec in EXECUTORS.values())


def test_keyword_options_are_typed_as_the_fields_of_fetch_options() -> None:
    import typing

    from fetcher import OptionChanges

    hints = typing.get_type_hints(OptionChanges)
    option_fields = {f.name: f.type for f in fields(FetchOptions)}
    assert list(hints) == list(option_fields)
    for name in option_fields:
        if name not in ("headers", "cacert"):  # also a mapping or any pairs; a file's name
            assert str(hints[name]).replace("typing.", "") == str(
                typing.get_type_hints(FetchOptions)[name]
            ).replace("typing.", ""), name


def test_the_package_says_it_is_typed() -> None:
    from importlib.resources import files

    assert files("fetcher").joinpath("py.typed").is_file()
