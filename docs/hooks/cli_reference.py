"""MkDocs hook: the command-line reference, generated from the argparse parsers.

A page holding the line ``<!-- cli-reference: deid -->`` gets, in its place, every
command and option of that program as its ``--help`` describes them, so the
reference is rebuilt from the code on every build and cannot drift from it.
"""

from __future__ import annotations

import argparse
import html
import importlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Each program and the public function that builds its parser (no fallback: a
# renamed function must fail the build, not silently document nothing).
PARSERS = {
    "deid": "deid.cli:build_parser",
    "deid-vault": "vault.cli:build_parser",
}
MARKER = re.compile(r"^<!-- cli-reference: (?P<program>[\w-]+) -->$", re.MULTILINE)
# Usage lines are wrapped by argparse at the terminal width; fix it so every build
# renders the same text.
USAGE_COLUMNS = "88"
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|])")


def build_parser(program: str) -> argparse.ArgumentParser:
    """The parser of ``program`` (a key of ``PARSERS``), built by its own code."""
    module_name, function_name = PARSERS[program].split(":")
    parser: argparse.ArgumentParser = getattr(importlib.import_module(module_name), function_name)()
    return parser


def on_page_markdown(markdown: str, **_: Any) -> str:
    """MkDocs event: replace each reference marker with the generated reference."""
    return MARKER.sub(lambda match: render(build_parser(match["program"])), markdown)


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str | None]]:
    """Every command of ``parser``, depth first: (words after the program, parser, help)."""
    yield path, parser, None
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            seen: set[int] = set()
            for name, subparser in action.choices.items():
                if id(subparser) in seen:  # an alias of a command already listed
                    continue
                seen.add(id(subparser))
                for sub_path, sub, sub_help in commands(subparser, (*path, name)):
                    yield sub_path, sub, helps.get(name) if sub is subparser else sub_help


def options(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.Action]]:
    """Every documented argument of one command, with the title of its group."""
    for group in parser._action_groups:
        for action in group._group_actions:
            if action.help == argparse.SUPPRESS or isinstance(
                action, (argparse._SubParsersAction, argparse._HelpAction)
            ):
                continue
            yield group.title or "", action


def render(parser: argparse.ArgumentParser) -> str:
    """Markdown for every command of ``parser``: usage, description, options, exit statuses."""
    program = parser.prog
    blocks: list[str] = []
    with _usage_width():
        for path, command, summary in commands(parser):
            name = " ".join((program, *path))
            blocks.append(f"## {name}\n")
            if summary:
                blocks.append(f"*{_escape(_sentence(summary))}*\n")
            blocks.append(f"```text\n{command.format_usage().strip()}\n```\n")
            if command.description:
                blocks.append(f"{_escape(command.description)}\n")
            blocks.extend(_subcommand_table(program, path, command))
            blocks.extend(_option_tables(command))
            if command.epilog and (not path or command.epilog != parser.epilog):
                blocks.append(f"```text\n{command.epilog.strip()}\n```\n")
    return "\n".join(blocks)


def _subcommand_table(
    program: str, path: tuple[str, ...], parser: argparse.ArgumentParser
) -> Iterator[str]:
    rows = [
        (sub_path, summary)
        for sub_path, _, summary in commands(parser, path)
        if len(sub_path) == len(path) + 1
    ]
    if not rows:
        return
    lines = ["| command | what it does |", "|---|---|"]
    for sub_path, summary in rows:
        name = " ".join((program, *sub_path))
        lines.append(f"| [`{name}`](#{_anchor(name)}) | {_escape(summary or '')} |")
    yield "\n".join(lines) + "\n"


def _option_tables(parser: argparse.ArgumentParser) -> Iterator[str]:
    formatter = parser._get_formatter()
    tables: dict[str, list[str]] = {}
    for title, action in options(parser):
        invocation = formatter._format_action_invocation(action)
        tables.setdefault(title, []).append(
            f"| `{invocation}` | {_default(action)} | {_escape(_help(parser, action))} |"
        )
    for title, rows in tables.items():
        header = ["| argument | default | what it does |", "|---|---|---|"]
        yield f"**{_escape(title)}**\n\n" + "\n".join(header + rows) + "\n"


def _help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """The help text as ``--help`` prints it (``%(default)s`` and the like filled in)."""
    if not action.help:
        return ""
    return parser._get_formatter()._expand_help(action)


def _default(action: argparse.Action) -> str:
    if action.required or action.nargs == 0 or action.default in (None, [], argparse.SUPPRESS):
        return ""
    return '`""`' if action.default == "" else f"`{action.default}`"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _escape(text: str) -> str:
    """Argparse text as literal Markdown (no emphasis, tags or table breaks)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def _anchor(heading: str) -> str:
    """The id MkDocs' table of contents gives a heading made of words, '-' and '_'."""
    return re.sub(r"[\s]+", "-", heading.strip().lower())


@contextmanager
def _usage_width() -> Iterator[None]:
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = USAGE_COLUMNS
    try:
        yield
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before
