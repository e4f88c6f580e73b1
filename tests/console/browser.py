"""Helpers for driving the console in Chromium: sign-in, screenshots, page checks."""

from __future__ import annotations

import html
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from markupsafe import escape

from tests.console.world import PASSWORD, ConsoleWorld

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
# The pages the console guide (docs/console.md) shows; with DEID_DOCS_SCREENSHOTS=1
# (make docs-screenshots) their desktop screenshots are written there as well.
DOCS_ASSETS = Path(__file__).resolve().parents[2] / "docs" / "assets" / "console"
DOCS_SCREENSHOTS = frozenset(
    {
        "sign-in",
        "home-requester",
        "request-form",
        "request-pending",
        "approvals",
        "request-decide",
        "reveal",
        "my-requests",
        "own-request-refused",
        "audit-log",
        "audit-record",
        "dashboard",
        "verify-ok",
        "verify-broken",
        "admin-trials",
        "admin-trial-new",
        "admin-principal",
        "account-uploader",
    }
)
DESKTOP = {"width": 1280, "height": 900}
NARROW = {"width": 375, "height": 812}
HREF = re.compile(r'href="([^"]+)"')

# Every page: one h1, every control labelled, tables with captions and header cells,
# a skip link first, and nothing wider than the window.
_PAGE_PROBLEMS = """() => {
  const problems = [];
  const h1s = document.querySelectorAll("h1");
  if (h1s.length !== 1) problems.push(`${h1s.length} h1 elements`);
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden") continue;
    if (!(el.labels && el.labels.length) && !el.getAttribute("aria-label"))
      problems.push(`unlabelled ${el.tagName} ${el.name}`);
  }
  for (const table of document.querySelectorAll("table")) {
    if (!table.querySelector("caption")) problems.push("a table without a caption");
    if (!table.querySelector("th")) problems.push("a table without header cells");
  }
  const first = document.querySelector("body a, body button, body input");
  if (!first || !first.classList.contains("skip-link")) problems.push("no skip link first");
  if (document.documentElement.scrollWidth > window.innerWidth + 1) {
    const wide = [...document.querySelectorAll("body *")].find((el) =>
      el.getBoundingClientRect().right > window.innerWidth + 1 && !el.closest(".table-wrap"));
    problems.push(`page wider than the window: ${document.documentElement.scrollWidth}px` +
      (wide ? ` (${wide.tagName.toLowerCase()}#${wide.id}.${wide.className})` : ""));
  }
  return problems;
}"""


def sign_in(context: Any, world: ConsoleWorld, who: str, password: str = PASSWORD) -> Any:
    """A new page of ``context``, signed in as ``who`` through the sign-in form."""
    page = context.new_page()
    page.goto("/console/")
    assert "/console/sign-in" in page.url
    page.get_by_label("Name").fill(world.names[who])
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/")
    return page


def check_page(page: Any) -> None:
    """Fail on the accessibility and layout problems every page must avoid."""
    problems = page.evaluate(_PAGE_PROBLEMS)
    assert not problems, f"{page.url}: {problems}"


def shoot(page: Any, name: str, docs_name: str | None = None) -> None:
    """Screenshots at desktop and phone widths (checked at both) into test-artifacts/.

    ``docs_name``: the page's name in the docs, whose copy of the desktop screenshot
    is renewed when DEID_DOCS_SCREENSHOTS=1 and the guide shows that page.
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("desktop", DESKTOP), ("narrow", NARROW)):
        page.set_viewport_size(size)
        check_page(page)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)
    if docs_name in DOCS_SCREENSHOTS and os.environ.get("DEID_DOCS_SCREENSHOTS") == "1":
        DOCS_ASSETS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ARTIFACTS / f"{name}-desktop.png", DOCS_ASSETS / f"{docs_name}.png")


def leaks(text: str, originals: list[str]) -> list[str]:
    """The originals found in ``text``: as typed, or escaped as a template or a DOM writes it."""
    return [
        o
        for o in originals
        if any(v in text for v in (o, str(escape(o)), html.escape(o), html.escape(o, quote=False)))
    ]


def crawl(context: Any, base: str, start: str, limit: int = 400) -> Iterator[tuple[str, str]]:
    """Every console page (and export) reachable by links from ``start``: (path, body)."""
    queue, seen = [start], {start}
    while queue and len(seen) <= limit:
        path = queue.pop(0)
        response = context.request.get(base + path, max_redirects=0)
        assert response.status < 500, (path, response.status)
        body = response.text()
        yield path, body
        if "text/html" not in response.headers.get("content-type", ""):
            continue
        for href in HREF.findall(body):
            target = urlsplit(urljoin(base + path, html.unescape(href)))
            link = target.path + (f"?{target.query}" if target.query else "")
            if (
                target.netloc == urlsplit(base).netloc
                and target.path.startswith("/console/")
                and not target.path.startswith("/console/static/")
                and link not in seen
            ):
                seen.add(link)
                queue.append(link)


def go(page: Any, label: str) -> None:
    """Follow an entry of the main navigation."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name=label, exact=True).click()
    page.wait_for_load_state()
