"""Command-line parameters built from `FetchOptions`, so that an option lives in one place.

Each `FetchOptions` field with a `CliOption` in its metadata becomes a typer option here:
its flags, metavar, help and shown default come from the metadata, its type from the
field's. Values are not checked here (no `min=`/`max=`): `FetchOptions` checks them, and
`option_error` reports its `OptionError` against the flag of the field it names.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import MISSING, Field
from enum import StrEnum
from typing import Annotated, Any

import typer

from .._compat import click_exceptions
from .._core.errors import OptionError
from .._core.options import CliOption, FetchOptions

__all__ = ["fetch_option_parameters", "flag_of", "option_error", "options_from"]

#: The typer type of each `FetchOptions` field type (annotations are strings here).
_TYPES: dict[str, Any] = {
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "float | None": float | None,
    "str | None": str | None,
    "bytes | None": str | None,  # a file's name (--cacert): FetchOptions reads the file
    "tuple[tuple[str, str], ...]": list[str] | None,
}


def fetch_option_parameters() -> list[inspect.Parameter]:
    """One keyword parameter per `FetchOptions` field, for a typer command's signature."""
    return [_parameter(f, cli) for f, cli in FetchOptions.cli_fields()]


def _parameter(field: Field[Any], cli: CliOption) -> inspect.Parameter:
    default = field.default if field.default is not MISSING else None
    kind: Any = _TYPES[str(field.type)]
    extra: dict[str, Any] = {}
    if cli.kind in ("flag", "inverted"):
        kind, default = bool, False
    elif cli.kind == "repeat":
        default = None
    elif cli.choices:
        kind = _choices(field.name, cli.choices)
        default = kind(default)
    elif cli.parse is not None:
        extra["parser"] = _parser(cli.parse)
    if cli.metavar:
        extra["metavar"] = cli.metavar
    if cli.default_text is not None:
        extra["show_default"] = cli.default_text
    elif default is None or cli.kind in ("flag", "inverted", "repeat"):
        extra["show_default"] = False
    option = typer.Option(*cli.flags, help=cli.help, **extra)
    return inspect.Parameter(
        field.name, inspect.Parameter.KEYWORD_ONLY, default=default,
        annotation=Annotated[kind, option],
    )  # fmt: skip


def _choices(name: str, values: tuple[str, ...]) -> Any:
    """The choices of an option as the enum typer shows and completes them from."""
    enum: Any = StrEnum
    return enum(name.title(), [(value, value) for value in values])


def _parser(parse: Callable[[str], Any]) -> Callable[[Any], Any]:
    """A typer parser that reports a bad value as a usage error (without the field name)."""

    def parser(text: Any) -> Any:
        try:
            return parse(text)
        except OptionError as exc:
            raise typer.BadParameter(exc.reason) from None

    return parser


def options_from(values: dict[str, Any]) -> FetchOptions:
    """`FetchOptions` from the command's values (only fields given differently than the
    default are passed); `click.BadParameter` naming the flag if a value is refused."""
    changes: dict[str, Any] = {}
    for field, cli in FetchOptions.cli_fields():
        value = values.pop(field.name)
        if cli.kind == "inverted":
            if value:
                changes[field.name] = False
        elif cli.kind == "repeat":
            try:
                changes[field.name] = tuple(cli.parse(item) for item in value or ())
            except OptionError as exc:
                raise option_error(exc) from None
        else:
            value = value.value if isinstance(value, StrEnum) else value
            if value != field.default:
                changes[field.name] = value
    try:
        return FetchOptions(**changes)
    except OptionError as exc:
        raise option_error(exc) from None


def flag_of(field_name: str) -> str | None:
    """The long flag of a `FetchOptions` field (`--max-bytes` for `max_bytes`)."""
    for field, cli in FetchOptions.cli_fields():
        if field.name == field_name:
            return cli.flags[0]
    return None


def option_error(exc: OptionError) -> Exception:
    """An `OptionError` as click's usage error, naming the flag of the field."""
    flag = flag_of(exc.field)
    if flag is None:
        usage: Exception = click_exceptions().UsageError(str(exc))
        return usage
    return typer.BadParameter(exc.reason, param_hint=f"'{flag}'")
