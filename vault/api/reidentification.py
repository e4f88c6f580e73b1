"""Re-identification requests: ask, decide (four eyes), release once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy.orm import Session

from vault.api.deps import CallerDep
from vault.api.schemas import (
    DecisionIn,
    PseudonymRefOut,
    ReidentificationIn,
    ReidentificationOut,
    ReidentificationsOut,
    ReleasedPseudonymOut,
    ReleasedSubjectOut,
    ReleaseOut,
)
from vault.dependencies import RuntimeDep, SessionDep
from vault.models import ReidentificationRequest, RequestStatus
from vault.services import reidentification as service
from vault.services.reidentification import PseudonymRef

router = APIRouter(prefix="/v1/trials/{trial}/reidentifications", tags=["re-identification"])


def request_out(
    session: Session, trial: str, requests: list[ReidentificationRequest]
) -> list[ReidentificationOut]:
    """Requests as JSON (pseudonyms and subject IDs only)."""
    names = service.principal_names(session, requests)
    return [
        ReidentificationOut(
            id=r.id,
            trial=trial,
            requester=names.get(r.requester_id, "?"),
            purpose=r.purpose,
            justification=r.justification,
            status=r.status,
            subject_count=r.subject_count,
            pseudonyms=[PseudonymRefOut(**p) for p in r.pseudonyms],
            subject_ids=list(r.subject_ids),
            created_at=r.created_at,
            decided_by=names.get(r.decided_by_id) if r.decided_by_id else None,
            decided_at=r.decided_at,
            decision_comment=r.decision_comment,
            grant_expires_at=r.grant_expires_at,
            released_at=r.released_at,
        )
        for r in requests
    ]


@router.post("", status_code=status.HTTP_201_CREATED)
def submit(
    trial: str,
    body: ReidentificationIn,
    session: SessionDep,
    runtime: RuntimeDep,
    caller: CallerDep,
) -> ReidentificationOut:
    """Ask for re-identification (requester); approved at once or pending, by trial policy."""
    request = service.submit(
        session,
        runtime,
        caller,
        trial,
        body.purpose.value,
        body.justification,
        [PseudonymRef(p.kind, p.pseudonym) for p in body.pseudonyms],
        body.subject_ids,
    )
    return request_out(session, trial, [request])[0]


@router.get("")
def list_requests(
    trial: str,
    session: SessionDep,
    runtime: RuntimeDep,
    caller: CallerDep,
    status_filter: Annotated[RequestStatus | None, Query(alias="status")] = None,
) -> ReidentificationsOut:
    """Requests of the trial: all for approvers, own ones for requesters."""
    requests = service.list_requests(
        session, runtime, caller, trial, status_filter.value if status_filter else None
    )
    return ReidentificationsOut(requests=request_out(session, trial, list(requests)))


@router.get("/{request_id}")
def get_request(
    trial: str, request_id: int, session: SessionDep, runtime: RuntimeDep, caller: CallerDep
) -> ReidentificationOut:
    """One request (its requester, or an approver of the trial)."""
    request = service.get_request(session, runtime, caller, trial, request_id)
    return request_out(session, trial, [request])[0]


@router.post("/{request_id}/approve")
def approve(
    trial: str,
    request_id: int,
    body: DecisionIn,
    session: SessionDep,
    runtime: RuntimeDep,
    caller: CallerDep,
) -> ReidentificationOut:
    """Approve another principal's pending request (approver)."""
    request = service.approve(session, runtime, caller, trial, request_id, body.comment)
    return request_out(session, trial, [request])[0]


@router.post("/{request_id}/deny")
def deny(
    trial: str,
    request_id: int,
    body: DecisionIn,
    session: SessionDep,
    runtime: RuntimeDep,
    caller: CallerDep,
) -> ReidentificationOut:
    """Deny another principal's pending request (approver)."""
    request = service.deny(session, runtime, caller, trial, request_id, body.comment)
    return request_out(session, trial, [request])[0]


@router.post("/{request_id}/release")
def release(
    trial: str, request_id: int, session: SessionDep, runtime: RuntimeDep, caller: CallerDep
) -> ReleaseOut:
    """Spend an approved, unexpired grant (its requester only): the originals, once."""
    released = service.release(session, runtime, caller, trial, request_id)
    return ReleaseOut(
        request=request_out(session, trial, [released.request])[0],
        pseudonyms=[
            ReleasedPseudonymOut(kind=p.kind, pseudonym=p.pseudonym, original=p.original)
            for p in released.pseudonyms
        ],
        subjects=[
            ReleasedSubjectOut(
                subject_id=s.subject_id,
                patient_key=s.patient_key,
                date_offset_days=s.date_offset_days,
            )
            for s in released.subjects
        ],
    )
