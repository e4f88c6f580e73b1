"""The console in headless Chromium against a real ``deid-vault serve`` on loopback.

Each test signs people in through the pages and acts as they would; screenshots of
every page, at desktop and phone widths, go to ``test-artifacts/console/``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from tests.console.browser import DESKTOP, crawl, go, leaks, shoot, sign_in
from tests.console.world import PASSWORD, ConsoleWorld, csrf_of, seed
from tests.vault.servers import vault_server
from vault.console.accounts import session_digest
from vault.models import AuditRecord, ConsoleSession, Principal, utcnow
from vault.runtime import VaultRuntime
from vault.services import reidentification as reid_service
from vault.services.callers import caller_named
from vault.services.principals import authenticate, create_token

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
JUSTIFICATION = "MRI follow-up found a lesion that the treating team must be told about"


@dataclass
class Served:
    """The seeded vault, the URL of its uvicorn process, and the backend's name."""

    world: ConsoleWorld
    base: str
    backend: str

    def shot(self, page: Any, name: str) -> None:
        """Screenshots named by backend and page (the docs show SQLite's)."""
        shoot(page, f"{self.backend}-{name}", name if self.backend == "sqlite" else None)


@pytest.fixture(scope="module")
def served(
    runtime: VaultRuntime, backend: str, key_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    world = seed(runtime)
    url = runtime.engine.url.render_as_string(hide_password=False)
    log = tmp_path_factory.mktemp("server") / "vault.log"
    with vault_server(url, key_dir, log) as base:
        yield Served(world, base, backend)


@pytest.fixture
def contexts(chromium: Any, served: Served) -> Iterator[Any]:
    """A factory of fresh browser contexts (one per person), closed after the test."""
    opened: list[Any] = []

    def new() -> Any:
        context = chromium.new_context(
            base_url=served.base, viewport=DESKTOP, accept_downloads=True
        )
        context.on("page", lambda page: page.on("dialog", lambda dialog: dialog.accept()))
        opened.append(context)
        return context

    yield new
    for context in opened:
        context.close()


def _ask(page: Any, served: Served, who_shot: str | None = None) -> str:
    """Fill in and send the request form; return the new request page's URL."""
    world = served.world
    go(page, "New request")
    page.get_by_label("Trial").select_option(world.trial)
    page.get_by_label("Pseudonyms").fill(
        world.pseudonym_lines(world.originals[1], world.originals[2], world.originals[3])
    )
    page.get_by_label("Subject IDs").fill(world.subject_id)
    page.get_by_label("Purpose").select_option("incidental_finding")
    page.get_by_label("Justification").fill(JUSTIFICATION)
    if who_shot:
        served.shot(page, who_shot)
    page.get_by_role("button", name="Send the request").click()
    page.wait_for_url("**/requests/*/*")
    return str(page.url)


def test_four_eyes_flow_reveals_once(served: Served, contexts: Any) -> None:
    world = served.world
    requester = sign_in(contexts(), world, "requester")
    served.shot(requester, "home-requester")
    request_url = _ask(requester, served, "request-form")
    assert "waits for an approver" in requester.get_by_role("status").inner_text()
    assert "pending" in requester.locator(".facts").inner_text()
    served.shot(requester, "request-pending")

    approver = sign_in(contexts(), world, "approver")
    go(approver, "Approvals")
    row = approver.get_by_role("row").filter(has_text=world.names["requester"])
    assert JUSTIFICATION[:40] in row.inner_text()
    served.shot(approver, "approvals")
    row.get_by_role("link").click()
    served.shot(approver, "request-decide")
    approver.get_by_label("Comment for the record").fill("agreed with the treating team")
    approver.get_by_role("button", name="Approve").click()
    approver.wait_for_url("**/approvals")
    assert "approved" in approver.get_by_role("status").inner_text()

    requester.goto(request_url)
    assert "approved" in requester.locator(".facts").inner_text()
    served.shot(requester, "request-approved")
    stale = requester.context.new_page()  # a second tab still showing the reveal button
    stale.goto(request_url)
    requester.get_by_role("button", name="Reveal the originals once").click()
    requester.wait_for_url("**/reveal")
    assert leaks(requester.content(), world.originals) == world.originals
    table = requester.locator("table").first.inner_text()
    for original in world.originals[1:3]:
        assert original in table
    assert world.originals[0] in requester.locator("table").nth(1).inner_text()  # patient key
    with requester.expect_download() as download_info:
        requester.get_by_role("link", name="Download this mapping as CSV").click()
    rows = list(csv.reader(io.StringIO(Path(download_info.value.path()).read_text())))
    assert rows[0] == ["kind", "pseudonym", "original", "date_offset_days"]
    assert {r[2] for r in rows[1:]} >= set(world.originals)
    served.shot(requester, "reveal")

    with stale.expect_response(lambda r: r.url.endswith("/reveal")) as answer:
        stale.get_by_role("button", name="Reveal the originals once").click()
    assert answer.value.status == 410
    assert "already released" in stale.get_by_role("alert").inner_text()
    assert not leaks(stale.content(), world.originals)
    served.shot(stale, "reveal-refused")
    go(requester, "My requests")
    assert "released" in requester.get_by_role("table").inner_text()
    served.shot(requester, "my-requests")


def test_an_approver_is_refused_on_its_own_request(served: Served, contexts: Any) -> None:
    page = sign_in(contexts(), served.world, "requester_approver")
    _ask(page, served)
    assert "another approver must decide" in page.locator("#main").inner_text()
    with page.expect_response(lambda r: r.url.endswith("/approve")) as answer:
        page.get_by_role("button", name="Approve").click()
    assert answer.value.status == 403
    assert "cannot decide your own request" in page.get_by_role("alert").inner_text()
    assert "pending" in page.locator(".facts").inner_text()
    served.shot(page, "own-request-refused")
    with served.world.runtime.sessions() as session:
        refusal = session.scalars(
            select(AuditRecord)
            .where(AuditRecord.action == "reidentification.approve")
            .order_by(AuditRecord.seq.desc())
        ).first()
    assert refusal is not None and refusal.outcome == "denied"
    assert refusal.principal_name == served.world.names["requester_approver"]


def _released_request(world: ConsoleWorld) -> None:
    """A request asked, approved and revealed (so every original was in play)."""
    runtime = world.runtime
    with runtime.transaction() as session:
        callers = {}
        for who in ("requester", "approver"):
            token = create_token(session, runtime, None, world.names[who]).token
            callers[who] = authenticate(session, runtime, token, "127.0.0.1")
        request = reid_service.submit(
            session,
            runtime,
            callers["requester"],
            world.trial,
            "data_correction",
            "the site reported a transposed birth date",
            subject_ids=[world.subject_id],
        )
        reid_service.approve(session, runtime, callers["approver"], world.trial, request.id)
        reid_service.release(session, runtime, callers["requester"], world.trial, request.id)


@pytest.mark.parametrize("who", ["auditor_all", "auditor"])
def test_an_auditor_sees_the_requests_and_no_original(
    served: Served, contexts: Any, who: str
) -> None:
    world = served.world
    _released_request(world)
    page = sign_in(contexts(), world, who)
    go(page, "Audit log")
    page.get_by_label("Action").fill("reidentification.request")
    page.get_by_role("button", name="Apply filters").click()
    records = page.get_by_role("table").inner_text()
    assert records.count("reidentification.request") >= 1 and world.trial in records
    if who == "auditor_all":
        served.shot(page, "audit-log")
        go(page, "Dashboard")
        assert int(page.locator(".totals dd").first.inner_text()) >= 1
        served.shot(page, "dashboard")
        page.goto("/console/audit")
        page.get_by_role("table").get_by_role("link").first.click()
        served.shot(page, "audit-record")
    with world.runtime.sessions() as session:
        reidentifications = session.scalars(
            select(AuditRecord.seq).where(
                AuditRecord.trial_key == world.trial,
                AuditRecord.action.like("reidentification.%"),
            )
        ).all()
    pages = dict(crawl(page.context, served.base, "/console/"))
    assert {f"/console/audit/records/{seq}" for seq in reidentifications} <= set(pages)
    assert {"/console/audit", "/console/audit/dashboard", "/console/audit/verify"} <= set(pages)
    assert any(p.startswith("/console/audit/records/") for p in pages)
    assert any(p.startswith("/console/audit/export") for p in pages)
    found = {path: leaks(body, world.originals) for path, body in pages.items()}
    assert not {path: hits for path, hits in found.items() if hits}


def test_forms_posted_without_the_csrf_token_are_refused(served: Served, contexts: Any) -> None:
    world = served.world
    page = sign_in(contexts(), world, "requester")
    page.goto("/console/requests/new")
    token = csrf_of(page.content())
    cookie = {c["name"]: c["value"] for c in page.context.cookies()}
    assert set(cookie) == {"__Host-deid_console"}
    for stored in page.context.cookies():
        assert stored["secure"] and stored["httpOnly"] and stored["sameSite"] == "Strict"
    headers = {"Cookie": f"__Host-deid_console={cookie['__Host-deid_console']}"}
    form = {
        "trial": world.trial,
        "purpose": "data_correction",
        "justification": "a justification long enough",
        "subject_ids": world.subject_id,
    }
    with httpx.Client(base_url=served.base, headers=headers) as http:
        for sent in ({}, {"csrf_token": "forged" + token[6:]}, {"csrf_token": ""}):
            refused = http.post("/console/requests/new", data={**form, **sent})
            assert refused.status_code == 403, refused.text
            assert "security token" in refused.text
        assert http.post("/console/sign-out", data={}).status_code == 403
        accepted = http.post("/console/requests/new", data={**form, "csrf_token": token})
        assert accepted.status_code == 303  # the same post with the token goes through
    # Without the session cookie the token alone is worth nothing.
    anonymous = httpx.post(
        f"{served.base}/console/requests/new", data={**form, "csrf_token": token}
    )
    assert anonymous.status_code == 403


def test_the_verification_page_turns_red_on_an_altered_record(
    served: Served, contexts: Any
) -> None:
    world = served.world
    # A record of its own to alter: the test does not depend on which tests ran before.
    with world.runtime.transaction() as session:
        reid_service.submit(
            session,
            world.runtime,
            caller_named(session, world.names["requester"]),
            world.trial,
            "data_correction",
            "a justification this test alters",
            subject_ids=[world.subject_id],
        )
    page = sign_in(contexts(), world, "auditor_all")
    go(page, "Verify chain")
    assert "The chain is whole" in page.locator(".verdict").inner_text()
    assert page.get_by_role("table").last.locator("tbody tr").count() >= 1  # checkpoints
    served.shot(page, "verify-ok")
    with world.runtime.transaction() as session:
        target = session.scalars(
            select(AuditRecord)
            .where(AuditRecord.justification == "a justification this test alters")
            .order_by(AuditRecord.seq.desc())
            .limit(1)
        ).one()
        seq, original = target.seq, target.justification
        session.execute(
            update(AuditRecord).where(AuditRecord.seq == seq).values(justification="edited")
        )
    try:
        page.reload()
        verdict = page.get_by_role("alert")
        assert f"broken at record {seq}" in verdict.inner_text()
        assert (
            page.locator(".verdict.broken").evaluate("el => getComputedStyle(el).color")
            == "rgb(164, 22, 26)"
        )
        assert "edited" in page.locator("table.bad-record").inner_text()
        served.shot(page, "verify-broken")
    finally:
        with world.runtime.transaction() as session:
            session.execute(
                update(AuditRecord).where(AuditRecord.seq == seq).values(justification=original)
            )
    page.reload()
    assert "The chain is whole" in page.locator(".verdict").inner_text()


def test_an_idle_session_ends_and_sign_in_returns_to_the_page(
    served: Served, contexts: Any
) -> None:
    world = served.world
    page = sign_in(contexts(), world, "approver")
    go(page, "Approvals")
    cookie = next(c["value"] for c in page.context.cookies())
    idle = world.runtime.console.idle_timeout_seconds
    with world.runtime.transaction() as session:
        session.execute(
            update(ConsoleSession)
            .where(ConsoleSession.id_digest == session_digest(cookie))
            .values(last_seen_at=utcnow() - timedelta(seconds=idle + 5))
        )
    page.reload()
    assert "/console/sign-in" in page.url
    assert "without activity" in page.locator("#main").inner_text()
    served.shot(page, "sign-in-after-idle")
    with world.runtime.transaction() as session:
        assert session.get(ConsoleSession, session_digest(cookie)) is None
    page.get_by_label("Name").fill(world.names["approver"])
    page.get_by_label("Password").fill("not the password at all")
    page.get_by_role("button", name="Sign in").click()
    assert "not right" in page.get_by_role("alert").inner_text()
    # By keyboard alone: the skip link comes first, then the form in order; Enter sends it.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    for _ in range(4):
        if page.evaluate("document.activeElement.id") == "password":
            break
        page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/console/approvals")


def test_sign_out_ends_the_session_on_the_server(served: Served, contexts: Any) -> None:
    page = sign_in(contexts(), served.world, "uploader")
    nav = page.get_by_role("navigation", name="Main").inner_text()
    assert nav.split() == ["Home", "Account"]  # an uploader has nothing else here
    go(page, "Account")
    assert "active" in page.get_by_role("table").nth(1).inner_text()  # its token's status
    served.shot(page, "account-uploader")
    cookie = next(c["value"] for c in page.context.cookies())
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/sign-in?ended=signed_out")
    assert "You are signed out" in page.locator("#main").inner_text()
    served.shot(page, "sign-in")
    page.goto("/console/account")
    assert "/console/sign-in" in page.url
    replayed = httpx.get(
        f"{served.base}/console/account", headers={"Cookie": f"__Host-deid_console={cookie}"}
    )
    assert replayed.status_code == 303 and "/sign-in" in replayed.headers["location"]


def test_an_admin_manages_trials_principals_and_tokens(served: Served, contexts: Any) -> None:
    world = served.world
    page = sign_in(contexts(), world, "admin")
    go(page, "Trials")
    served.shot(page, "admin-trials")
    page.get_by_role("link", name="Create a trial").click()
    key = f"WEB-{served.backend}-{world.trial[-4:]}"
    page.get_by_label("Trial key").fill(key)
    page.get_by_label("Sponsor").fill("<script>alert(1)</script> Pharma")
    page.get_by_label("Bulk limit (subjects)").fill("3")
    page.get_by_label("Released at once (up to the bulk limit)").check()
    page.get_by_label("Sites", exact=True).fill("S01 North\nS02 South")
    served.shot(page, "admin-trial-new")
    page.get_by_role("button", name="Create the trial").click()
    page.wait_for_url(f"**/admin/trials/{key}")
    assert "<script>alert(1)</script> Pharma" in page.locator(".facts").inner_text()
    page.get_by_label("Site ID").fill("S03")
    page.get_by_label("Name", exact=True).fill("East")
    page.get_by_role("button", name="Add the site").click()
    assert "S03" in page.get_by_role("table").inner_text()
    served.shot(page, "admin-trial")

    go(page, "Principals")
    name = f"dr-web-{world.trial[-4:]}"
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Role", exact=True).select_option("reidentify_requester")
    page.get_by_label("Trial", exact=True).select_option(key)
    served.shot(page, "admin-principals")
    page.get_by_role("button", name="Create the principal").click()
    page.wait_for_url(f"**/admin/principals/{name}")
    page.get_by_label("Password", exact=True).fill("a long enough passphrase")
    page.get_by_label("Password again").fill("a long enough passphrase")
    page.get_by_role("button", name="Set the password").click()
    assert f"Password of {name} set" in page.get_by_role("status").inner_text()
    served.shot(page, "admin-principal")
    page.get_by_label("Label").fill("reading room")
    page.get_by_role("button", name="Issue the token").click()
    token = page.locator("#new-token").inner_text()
    assert token.startswith("dvt_")
    assert page.get_by_role("button", name="Copy the token").is_visible()  # script ran
    served.shot(page, "admin-token-issued")
    api = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{served.base}/v1/me", headers=api).json()["principal"] == name
    page.get_by_role("link", name=f"Back to {name}").click()
    assert token not in page.content()
    page.get_by_role("button", name="Revoke token").click()
    assert "revoked" in page.get_by_role("status").inner_text()
    assert httpx.get(f"{served.base}/v1/me", headers=api).status_code == 401
    with world.runtime.transaction() as session:
        assert session.scalars(select(Principal).where(Principal.name == name)).one()


def test_an_admin_changes_a_trials_names_and_sites_receive_them(
    served: Served, contexts: Any
) -> None:
    world = served.world
    with world.runtime.transaction() as session:
        token = create_token(session, world.runtime, None, world.names["uploader"]).token
    info = f"{served.base}/v1/trials/{world.trial}/sites/S01/info"
    api = {"Authorization": f"Bearer {token}"}
    assert httpx.get(info, headers=api).json()["sponsor_name"] == "UNSPECIFIED SPONSOR"
    page = sign_in(contexts(), world, "admin")
    go(page, "Trials")
    page.get_by_role("link", name=world.trial).click()
    page.wait_for_url(f"**/admin/trials/{world.trial}")
    # The trial holds data: its subject ID template is shown but cannot be edited.
    assert page.get_by_label("Subject ID template").is_disabled()
    page.get_by_label("Sponsor").fill("Acme Oncology")
    page.get_by_label("Protocol name").fill("Onco 42 Phase II")
    page.get_by_label("Site names").fill("S01 Halifax Infirmary\nS02 Two")
    served.shot(page, "admin-trial-settings")
    page.get_by_role("button", name="Save the settings").click()
    page.wait_for_load_state()
    done = page.get_by_role("status").inner_text()
    assert "sponsor_name, protocol_name, site S01 renamed" in done
    assert "Acme Oncology" in page.locator(".facts").inner_text()
    assert "Halifax Infirmary" in page.get_by_role("table").inner_text()
    received = httpx.get(info, headers=api).json()
    assert (received["sponsor_name"], received["protocol_name"], received["site_name"]) == (
        "Acme Oncology",
        "Onco 42 Phase II",
        "Halifax Infirmary",
    )


def test_unknown_pages_and_outsiders_get_404(served: Served, contexts: Any) -> None:
    world = served.world
    page = sign_in(contexts(), world, "outsider")
    with page.expect_response(lambda r: "/requests/" in r.url) as answer:
        page.goto(f"/console/requests/{world.trial}/1")
    assert answer.value.status == 404
    served.shot(page, "not-found")
