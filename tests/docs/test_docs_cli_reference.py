"""The generated command-line reference against the parsers it is generated from."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
from pathlib import Path

import markdown
import pytest

from tests.docs.hook import cli_reference

DOCS = Path(__file__).resolve().parents[2] / "docs"
OPTION = re.compile(r"^\s{2}(-[^\s,]+(?:, -[^\s,]+)*)", re.MULTILINE)


def _help_of(program: str, path: tuple[str, ...]) -> str:
    """What ``PROGRAM PATH... --help`` prints, from a freshly built parser."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        cli_reference.build_parser(program).parse_args([*path, "--help"])
    return out.getvalue()


def _sections(markdown: str) -> dict[str, str]:
    """The generated reference split by command heading."""
    parts = re.split(r"^## (.+)$", markdown, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _command_paths(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> set[tuple]:
    paths = {path}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                paths |= _command_paths(sub, (*path, name))
    return paths


@pytest.mark.parametrize("program", sorted(cli_reference.PARSERS))
def test_every_command_and_option_is_in_the_reference(program: str) -> None:
    sections = _sections(cli_reference.render(cli_reference.build_parser(program)))
    paths = _command_paths(cli_reference.build_parser(program))
    assert set(sections) == {" ".join((program, *path)) for path in paths}
    for path in paths:
        section = sections[" ".join((program, *path))]
        printed = {m.split(", ")[-1] for m in OPTION.findall(_help_of(program, path))}
        printed.discard("--help")
        documented = set(re.findall(r"^\| `(?:-\w, )?(--?[\w-]+)", section, re.MULTILINE))
        assert printed <= documented, (path, printed - documented)


@pytest.mark.parametrize("program", sorted(cli_reference.PARSERS))
def test_each_reference_page_is_generated_in_place(program: str) -> None:
    page = (DOCS / "reference" / f"{program}.md").read_text(encoding="utf-8")
    assert page.count(f"<!-- cli-reference: {program} -->") == 1
    built = cli_reference.on_page_markdown(page)
    assert "<!-- cli-reference" not in built
    assert f"\n## {program}\n" in built and f"## {program} " in built


def test_help_text_cannot_break_the_table_or_turn_into_markup() -> None:
    parser = argparse.ArgumentParser(prog="tool")
    parser.add_argument(
        "--mode", default="a|b", help="one of a|b, <b>bold</b> or *x* (%(default)s)"
    )
    html = markdown.markdown(cli_reference.render(parser), extensions=["tables", "fenced_code"])
    row = next(row for row in html.split("<tr>") if "<td><code>--mode" in row)
    assert row.count("<td>") == 3
    assert "<b>" not in row and "<em>" not in row
    assert "one of a|b, &lt;b&gt;bold&lt;/b&gt; or *x* (a|b)" in row  # as --help prints it


def test_an_empty_default_is_shown_as_an_empty_string() -> None:
    parser = argparse.ArgumentParser(prog="tool")
    parser.add_argument("--label", default="", help="a label")
    assert '| `--label LABEL` | `""` | a label |' in cli_reference.render(parser)
