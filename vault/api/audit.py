"""The audit log for auditors: list, export (JSON lines, CSV), verify; checkpoints (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from vault.api.deps import CallerDep
from vault.api.schemas import AuditPageOut, AuditRecordOut, CheckpointOut, VerificationOut
from vault.dependencies import RuntimeDep, SessionDep
from vault.repositories.audit import AuditFilter
from vault.services import audit as service

router = APIRouter(prefix="/v1/audit", tags=["audit"])
Text = Annotated[str | None, Query(max_length=64)]


def _filter(
    session: SessionDep,
    caller: CallerDep,
    trial: Text = None,
    principal: Text = None,
    action: Text = None,
    outcome: Text = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> AuditFilter:
    return service.audit_filter(
        session,
        caller,
        trial,
        principal=principal,
        action=action,
        outcome=outcome,
        since=since,
        until=until,
    )


@router.get("/records")
def list_records(
    session: SessionDep,
    caller: CallerDep,
    trial: Text = None,
    principal: Text = None,
    action: Text = None,
    outcome: Text = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_seq: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPageOut:
    """A page of audit records in chain order (auditor; scoped to its trials)."""
    f = _filter(session, caller, trial, principal, action, outcome, since, until)
    rows = service.list_records(session, caller, f, after_seq, limit)
    return AuditPageOut(
        records=[AuditRecordOut(**service.as_dict(r)) for r in rows],
        next_after_seq=rows[-1].seq if len(rows) == limit else None,
    )


@router.get("/export")
def export(
    session: SessionDep,
    runtime: RuntimeDep,
    caller: CallerDep,
    format: Literal["jsonl", "csv"] = "jsonl",
    trial: Text = None,
    principal: Text = None,
    action: Text = None,
    outcome: Text = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> StreamingResponse:
    """Every matching record, streamed as JSON lines or CSV (auditor)."""
    f = _filter(session, caller, trial, principal, action, outcome, since, until)
    service.record_access(
        session, runtime, caller, "audit.export", {"format": format, "trial": f.trial}
    )
    media = "text/csv" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(
        service.stream_export(runtime, f, format),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="audit.{format}"'},
    )


@router.get("/verify")
def verify(session: SessionDep, runtime: RuntimeDep, caller: CallerDep) -> VerificationOut:
    """Verify the whole chain and every checkpoint signature (auditor)."""
    report = service.verify(session, runtime, caller)
    service.record_access(
        session,
        runtime,
        caller,
        "audit.verify",
        {"ok": report.ok, "first_bad": report.first_bad_seq},
    )
    return VerificationOut(**vars(report))


@router.post("/checkpoints")
def checkpoint(session: SessionDep, runtime: RuntimeDep, caller: CallerDep) -> CheckpointOut:
    """Sign the chain head now (admin)."""
    c = service.checkpoint_now(session, runtime, caller)
    return CheckpointOut(
        seq=c.seq,
        record_hash=c.record_hash,
        signed_at=c.signed_at,
        key_id=c.key_id,
        signature=c.signature.hex(),
    )
