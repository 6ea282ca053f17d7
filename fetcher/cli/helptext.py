"""How `--help` reads: one metavar style, defaults as people write them, options in sections.

Every option shows an upper-case metavar (`N`, `SECONDS`, `SIZE`, `FILE`), never click's
type names (`INTEGER RANGE`, `<thread|process>`); its default as it would be typed
(`10M`, not `10485760`; `[default: no limit]`, not `[default: (no limit)]`); and no
range annotations (the help text says the range). The main command's options are
grouped into the sections of `fetcher._core.options.SECTIONS`. The same records feed
the man page (`scripts/gen_docs.py`), so it cannot say anything `--help` does not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .._core.options import SECTIONS, FetchOptions

__all__ = ["COMMANDS", "HelpCommandMixin", "help_record", "option_sections"]

#: The commands beside the main form, with their one-line summaries.
COMMANDS = {
    "fetch": "Fetch URLs (the default: this page).",
    "serve": "Serve a local test site on 127.0.0.1.",
    "bench": "Measure the executors against each other and baselines.",
}

_EXTRA = re.compile(r"\s*\[(?:default: |required|env var: |\S*x[<>=]).*\]$", re.DOTALL)
OTHER = "Other options"


def help_record(param: Any, ctx: Any) -> tuple[str, str] | None:
    """`(names and metavar, help)` for one parameter, or None for a hidden one."""
    record = param.get_help_record(ctx)
    if record is None:
        return None
    names, text = record
    if param.param_type_name == "argument":
        names = param.metavar or param.name.upper()
        text = param.help or ""
    text = _EXTRA.sub("", text)
    extra = _default_text(param)
    if getattr(param, "required", False) and param.param_type_name == "argument":
        extra = "required"
    return names, f"{text}  [{extra}]" if extra else text


def _default_text(param: Any) -> str | None:
    show = getattr(param, "show_default", None)
    if isinstance(show, str):
        return f"default: {show}"
    default = param.default
    if show is False or getattr(param, "is_flag", False) or default in (None, (), []):
        return None
    if hasattr(default, "value"):  # a choice (an enum member)
        default = default.value
    return f"default: {default}"


def option_sections(
    command: Any, ctx: Any, sections: Mapping[str, str]
) -> list[tuple[str, list[tuple[str, str]]]]:
    """The main command's parameters as help sections, in order: arguments, then the
    option sections of `SECTIONS`, then the rest (`--help`). `sections` gives the section
    of each parameter that is not a `FetchOptions` field."""
    section_of = {f.name: cli.section for f, cli in FetchOptions.cli_fields()}
    section_of |= sections
    groups: dict[str, list[tuple[str, str]]] = {"Arguments": []}
    groups |= {title: [] for title in (*SECTIONS, OTHER)}
    for param in command.get_params(ctx):
        record = help_record(param, ctx)
        if record is None:
            continue
        if param.param_type_name == "argument":
            groups["Arguments"].append(record)
        else:
            groups[section_of.get(param.name, OTHER)].append(record)
    return [(title, records) for title, records in groups.items() if records]


class HelpCommandMixin:
    """Options (and arguments) formatted by `help_record`, in one "Options" section."""

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments: list[tuple[str, str]] = []
        options: list[tuple[str, str]] = []
        for param in self.get_params(ctx):  # type: ignore[attr-defined]
            record = help_record(param, ctx)
            if record is not None:
                (arguments if param.param_type_name == "argument" else options).append(record)
        for title, records in (("Arguments", arguments), ("Options", options)):
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)
