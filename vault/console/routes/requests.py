"""Re-identification: asking (requester), deciding (approver), revealing once (requester)."""

from __future__ import annotations

import base64
import csv
import io
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response

from vault.console import forms, queues
from vault.console.web import FormPageDep, Page, PageDep
from vault.errors import VaultError
from vault.models import Purpose, ReidentificationRequest, Role
from vault.services import reidentification as service
from vault.services.reidentification import Release

router = APIRouter()
Text = Annotated[str, Form(max_length=200_000)]


def _request_form(
    page: Page, *, error: VaultError | None = None, values: dict[str, str] | None = None
) -> HTMLResponse:
    return page.render(
        "request_new.html",
        title="Ask for re-identification",
        trials=queues.trials_with_role(page.session, page.caller, Role.REIDENTIFY_REQUESTER),
        purposes=[p.value for p in Purpose],
        values=values or {},
        error=error,
    )


@router.get("/requests")
def own_requests(page: PageDep) -> HTMLResponse:
    """The requester's own requests and their status."""
    return page.render(
        "requests.html",
        title="My re-identification requests",
        rows=queues.own_requests(page.session, page.runtime, page.caller),
    )


@router.get("/requests/new")
def new_request(page: PageDep) -> HTMLResponse:
    """The form to ask for re-identification."""
    return _request_form(page)


@router.post("/requests/new")
def submit(
    page: FormPageDep,
    trial: Annotated[str, Form(max_length=64)] = "",
    purpose: Annotated[str, Form(max_length=64)] = "",
    justification: Text = "",
    pseudonyms: Text = "",
    subject_ids: Text = "",
) -> Response:
    """Send the request: released at once or held for an approver, by the trial's policy."""

    def send() -> ReidentificationRequest:
        return service.submit(
            page.session,
            page.runtime,
            page.caller,
            trial,
            purpose,
            justification,
            forms.pseudonym_lines(pseudonyms),
            forms.subject_ids(subject_ids),
        )

    result = page.attempt(send)
    if isinstance(result, VaultError):
        values = {
            "trial": trial,
            "purpose": purpose,
            "justification": justification,
            "pseudonyms": pseudonyms,
            "subject_ids": subject_ids,
        }
        return _request_form(page, error=result, values=values)
    waits = "it waits for an approver" if result.status == "pending" else "it is approved"
    return page.redirect(f"/requests/{trial}/{result.id}", f"Request {result.id} sent: {waits}.")


def _detail(
    page: Page, trial: str, request_id: int, *, error: VaultError | None = None
) -> HTMLResponse:
    request = service.get_request(page.session, page.runtime, page.caller, trial, request_id)
    row = queues.rows(page.session, trial, [request])[0]
    return page.render(
        "request.html",
        title=f"Request {request.id}",
        row=row,
        own=request.requester_id == page.caller.principal_id,
        approver=Role.APPROVER in page.caller.roles_in(request.trial_id),
        error=error,
    )


@router.get("/requests/{trial}/{request_id}")
def request_detail(page: PageDep, trial: str, request_id: int) -> HTMLResponse:
    """One request: what, why, its status, and what the caller may do with it."""
    return _detail(page, trial, request_id)


def _decide(page: Page, trial: str, request_id: int, comment: str, approve: bool) -> Response:
    decide = service.approve if approve else service.deny
    result = page.attempt(
        lambda: decide(page.session, page.runtime, page.caller, trial, request_id, comment)
    )
    if isinstance(result, VaultError):
        return _detail(page, trial, request_id, error=result)
    verb = "approved" if approve else "denied"
    return page.redirect("/approvals", f"Request {request_id} of trial {trial} {verb}.")


@router.post("/requests/{trial}/{request_id}/approve")
def approve(page: FormPageDep, trial: str, request_id: int, comment: Text = "") -> Response:
    """Approve another principal's request; its grant starts now."""
    return _decide(page, trial, request_id, comment, approve=True)


@router.post("/requests/{trial}/{request_id}/deny")
def deny(page: FormPageDep, trial: str, request_id: int, comment: Text = "") -> Response:
    """Deny another principal's request."""
    return _decide(page, trial, request_id, comment, approve=False)


def _csv_cell(value: object) -> object:
    # Spreadsheets run cells starting with = + - @ as formulas; quote them as text.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return "" if value is None else value


def mapping_csv(release: Release) -> str:
    """The released mapping as CSV: kind, pseudonym (or subject ID), original, date offset."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["kind", "pseudonym", "original", "date_offset_days"])
    rows = [(p.kind, p.pseudonym, p.original, None) for p in release.pseudonyms] + [
        ("SUBJECT_ID", s.subject_id, s.patient_key, s.date_offset_days) for s in release.subjects
    ]
    for row in rows:
        writer.writerow([_csv_cell(value) for value in row])
    return buffer.getvalue()


@router.post("/requests/{trial}/{request_id}/reveal")
def reveal(page: FormPageDep, trial: str, request_id: int) -> Response:
    """Spend the grant: the originals, shown in this response only, with its CSV."""
    result = page.attempt(
        lambda: service.release(page.session, page.runtime, page.caller, trial, request_id)
    )
    if isinstance(result, VaultError):
        return _detail(page, trial, request_id, error=result)
    # The CSV travels inside this page (a data: link), so downloading it spends nothing more.
    data = base64.b64encode(mapping_csv(result).encode("utf-8")).decode("ascii")
    return page.render(
        "reveal.html",
        title=f"Originals of request {request_id}",
        trial=trial,
        release=result,
        csv_href=f"data:text/csv;charset=utf-8;base64,{data}",
        csv_name=f"reidentification-{trial}-{request_id}.csv",
    )


@router.get("/approvals")
def approvals(page: PageDep) -> HTMLResponse:
    """Pending requests of the trials the approver serves, oldest first."""
    return page.render(
        "approvals.html",
        title="Requests awaiting a decision",
        rows=queues.awaiting_decision(page.session, page.runtime, page.caller),
    )
