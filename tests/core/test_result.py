"""`record_of` builds the same records as `FetchResult(*values)`, frozen as ever."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fetcher._core.result import FetchResult, record_of

_VALUES = st.tuples(
    st.text(), st.none() | st.text(), st.none() | st.integers(), st.none() | st.text(),
    st.integers(), st.floats(allow_nan=False), st.none() | st.text(), st.integers(),
    st.none() | st.text(), st.none() | st.sampled_from(["timeout", "dns"]),
    st.none() | st.text(), st.none() | st.integers(), st.none() | st.binary(),
)  # fmt: skip


@settings(max_examples=50, derandomize=True)
@given(_VALUES)
def test_record_of_is_the_dataclass_built_from_the_same_values(values: tuple[object, ...]) -> None:
    built = record_of(values)
    assert type(built) is FetchResult
    assert built == FetchResult(*values)  # type: ignore[arg-type]
    assert dataclasses.astuple(built) == values


def test_record_of_is_frozen_and_wants_every_field() -> None:
    count = len(dataclasses.fields(FetchResult))
    built = record_of(["u", None, 200, None, 0, 0.0, None, 1, None, None, None, 1, None])
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.status = 404  # type: ignore[misc]
    for wrong in (count - 1, count + 1):
        with pytest.raises(ValueError):
            record_of([None] * wrong)
