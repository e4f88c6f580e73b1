"""The audit log for auditors: table with filters and paging, export, record, verify, dashboard."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, StreamingResponse

from vault.console import forms, reports
from vault.console.web import Page, PageDep
from vault.errors import NotFoundError
from vault.models import AuditRecord
from vault.repositories.audit import AuditFilter
from vault.services import audit as service
from vault.services import trials as trial_service

router = APIRouter(prefix="/audit")
Text = Annotated[str, Query(max_length=64)]
PAGE_SIZE = 50
KNOWN_ACTIONS = (
    "reidentification.request", "reidentification.approve", "reidentification.deny",
    "reidentification.release", "reidentification.expire", "auth.failure", "console.sign_in",
    "console.sign_out", "console.session_expire", "console.csrf", "console.password_change",
    "principal.create", "principal.set_password", "role.grant", "role.revoke", "token.create",
    "token.revoke", "trial.create", "trial.update", "trial.close", "site.create", "keys.rotate",
    "keys.rewrap", "keys.reencrypt", "audit.export", "audit.verify", "audit.checkpoint",
)  # fmt: skip
OUTCOMES = ("success", "denied", "refused", "failed")


@dataclass(frozen=True)
class Filters:
    """The filter form as typed, and the scoped filter it makes."""

    trial: str = ""
    principal: str = ""
    action: str = ""
    outcome: str = ""
    since: str = ""
    until: str = ""

    def query(self) -> dict[str, str]:
        """The non-empty filters, for links that keep them."""
        return {k: v for k, v in vars(self).items() if v}

    def scoped(self, page: Page) -> AuditFilter:
        """The filter within the caller's audit scope (403 for non-auditors, 404 for a
        trial outside it)."""
        return service.audit_filter(
            page.session,
            page.caller,
            self.trial or None,
            principal=self.principal or None,
            action=self.action or None,
            outcome=self.outcome or None,
            since=forms.day_bound(self.since, "from"),
            until=forms.day_bound(self.until, "to", end=True),
        )


def _filters(
    trial: Text = "",
    principal: Text = "",
    action: Text = "",
    outcome: Text = "",
    since: Text = "",
    until: Text = "",
) -> Filters:
    return Filters(trial, principal, action, outcome, since, until)


FiltersDep = Annotated[Filters, Depends(_filters)]


def _trial_keys(page: Page, scope: AuditFilter) -> list[str]:
    """The trials the auditor may filter by."""
    if scope.trials is not None:
        return sorted(scope.trials)
    return [t.key for t in trial_service.list_trials(page.session, page.caller)]


@router.get("")
def audit_log(
    page: PageDep,
    filters: FiltersDep,
    before: Annotated[int | None, Query(ge=1)] = None,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> HTMLResponse:
    """Records newest first, filtered, a page at a time."""
    scope = filters.scoped(page)
    result = reports.audit_page(page.session, scope, before, after, PAGE_SIZE)
    return page.render(
        "audit.html",
        title="Audit log",
        filters=filters,
        result=result,
        trials=_trial_keys(page, scope),
        actions=KNOWN_ACTIONS,
        outcomes=OUTCOMES,
    )


@router.get("/records/{seq}")
def audit_record(page: PageDep, seq: int) -> HTMLResponse:
    """One record with every field and the hashes that chain it."""
    record = reports.audit_record(
        page.session, service.audit_scope(page.session, page.caller, None), seq
    )
    return page.render(
        "audit_record.html",
        title=f"Audit record {seq}",
        record=record,
        fields=service.as_dict(record),
        details=json.dumps(record.details, indent=2, sort_keys=True, ensure_ascii=False),
    )


@router.get("/export")
def export(
    page: PageDep, filters: FiltersDep, format: Literal["csv", "jsonl"] = "csv"
) -> StreamingResponse:
    """Every matching record as CSV or JSON lines (the export is itself audited)."""
    f = filters.scoped(page)
    service.record_access(
        page.session,
        page.runtime,
        page.caller,
        "audit.export",
        {"format": format, "trial": f.trial},
    )
    media = "text/csv" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(
        service.stream_export(page.runtime, f, format),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="audit.{format}"'},
    )


def _displayed(record: AuditRecord) -> dict[str, object]:
    """A record's fields as stored, its details as JSON."""
    fields = service.as_dict(record)
    fields["details"] = json.dumps(record.details, sort_keys=True, ensure_ascii=False)
    return fields


@router.get("/verify")
def verify(page: PageDep) -> HTMLResponse:
    """Verify the whole chain and every signed checkpoint; name the first bad record."""
    scope = service.audit_scope(page.session, page.caller, None)
    report = service.verify(page.session, page.runtime, page.caller)
    service.record_access(
        page.session,
        page.runtime,
        page.caller,
        "audit.verify",
        {"ok": report.ok, "first_bad": report.first_bad_seq},
    )
    bad: AuditRecord | None = None
    if report.first_bad_seq is not None:
        try:  # shown only when the auditor may read that record anyway
            bad = reports.audit_record(page.session, scope, report.first_bad_seq)
        except NotFoundError:
            bad = None
    return page.render(
        "verify.html",
        title="Audit chain verification",
        report=report,
        bad=_displayed(bad) if bad is not None else None,
        checkpoints=reports.checkpoints(page.session, scope),
    )


@router.get("/dashboard")
def dashboard(page: PageDep, trial: Text = "") -> HTMLResponse:
    """Re-identification requests per trial and per week, denials, bulk requests."""
    scope = service.audit_scope(page.session, page.caller, trial or None)
    return page.render(
        "dashboard.html",
        title="Re-identification dashboard",
        board=reports.dashboard(page.session, scope),
        trial=trial,
        trials=_trial_keys(page, scope),
    )
