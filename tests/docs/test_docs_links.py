"""Every relative link of the docs site and the README resolves, anchors included."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown.extensions.toc import slugify

from tests.console.browser import DOCS_SCREENSHOTS
from tests.docs.hook import cli_reference

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.relative_to(DOCS).parts)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6} (.+?)\s*$", re.MULTILINE)


@functools.cache
def _markdown(path: Path) -> str:
    """The page as MkDocs renders it: generated references filled in, code left out."""
    text = cli_reference.on_page_markdown(path.read_text(encoding="utf-8"))
    return FENCE.sub("", text)


def _anchors(path: Path) -> set[str]:
    headings = HEADING.findall(_markdown(path))
    return {slugify(re.sub(r"[`*]|\\(?=.)", "", h), "-") for h in headings}


def _links(path: Path) -> list[str]:
    return [
        target
        for target in LINK.findall(CODE_SPAN.sub("", _markdown(path)))
        if not urlsplit(target).scheme
    ]


@pytest.mark.parametrize(
    "page", [*PAGES, ROOT / "README.md"], ids=lambda p: str(p.relative_to(ROOT))
)
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for link in _links(page):
        target, _, anchor = link.partition("#")
        resolved = (page.parent / unquote(target)).resolve() if target else page
        if not resolved.is_file() or (
            anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved)
        ):
            broken.append(link)
    assert not broken


def test_every_page_is_reachable_from_the_readme() -> None:
    linked = {(ROOT / link.partition("#")[0]).resolve() for link in _links(ROOT / "README.md")}
    assert set(PAGES) <= linked, sorted(str(p) for p in set(PAGES) - linked)


def test_the_console_guide_shows_what_the_browser_tests_keep() -> None:
    shown = {
        Path(link).stem
        for page in PAGES
        for link in _links(page)
        if link.startswith("assets/console/")
    }
    assert shown == DOCS_SCREENSHOTS
    assert {p.stem for p in (DOCS / "assets" / "console").glob("*.png")} == shown
