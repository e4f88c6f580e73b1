"""SQL for re-identification requests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from vault.models import ReidentificationRequest, RequestStatus


def add(session: Session, request: ReidentificationRequest) -> ReidentificationRequest:
    """Insert a request."""
    session.add(request)
    session.flush()
    return request


def get(
    session: Session, trial_id: int, request_id: int, *, for_update: bool = False
) -> ReidentificationRequest | None:
    """A request of the trial (locked for the decision when ``for_update``)."""
    statement = select(ReidentificationRequest).where(
        ReidentificationRequest.trial_id == trial_id, ReidentificationRequest.id == request_id
    )
    if for_update:
        statement = statement.with_for_update()
    return session.scalars(statement).one_or_none()


def list_for_trial(
    session: Session, trial_id: int, requester_id: int | None, status: str | None, limit: int
) -> Sequence[ReidentificationRequest]:
    """Requests of a trial, newest first (only one requester's, when given)."""
    statement = select(ReidentificationRequest).where(ReidentificationRequest.trial_id == trial_id)
    if requester_id is not None:
        statement = statement.where(ReidentificationRequest.requester_id == requester_id)
    if status is not None:
        statement = statement.where(ReidentificationRequest.status == status)
    return session.scalars(statement.order_by(ReidentificationRequest.id.desc()).limit(limit)).all()


def due_to_expire(
    session: Session, trial_id: int, now: datetime
) -> Sequence[ReidentificationRequest]:
    """Approved grants of the trial whose time ran out."""
    return session.scalars(
        select(ReidentificationRequest).where(
            ReidentificationRequest.trial_id == trial_id,
            ReidentificationRequest.status == RequestStatus.APPROVED.value,
            ReidentificationRequest.grant_expires_at <= now,
        )
    ).all()
