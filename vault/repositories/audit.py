"""SQL for reading the audit log (appending lives in :mod:`vault.audit.chain`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from vault.models import AuditCheckpoint, AuditRecord


@dataclass(frozen=True)
class AuditFilter:
    """Which records to list; ``trials`` None means every trial and none."""

    trials: frozenset[str] | None = None
    trial: str | None = None
    principal: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _filtered(f: AuditFilter) -> Select[AuditRecord]:
    statement = select(AuditRecord)
    if f.trials is not None:
        statement = statement.where(AuditRecord.trial_key.in_(f.trials))
    if f.trial is not None:
        statement = statement.where(AuditRecord.trial_key == f.trial)
    if f.principal is not None:
        statement = statement.where(AuditRecord.principal_name == f.principal)
    if f.action is not None:
        statement = statement.where(AuditRecord.action == f.action)
    if f.outcome is not None:
        statement = statement.where(AuditRecord.outcome == f.outcome)
    if f.since is not None:
        statement = statement.where(AuditRecord.occurred_at >= f.since)
    if f.until is not None:
        statement = statement.where(AuditRecord.occurred_at < f.until)
    return statement


def page(session: Session, f: AuditFilter, after_seq: int, limit: int) -> Sequence[AuditRecord]:
    """Up to ``limit`` matching records after ``after_seq``, oldest first."""
    return session.scalars(
        _filtered(f).where(AuditRecord.seq > after_seq).order_by(AuditRecord.seq).limit(limit)
    ).all()


def checkpoints(session: Session, limit: int = 1000) -> Sequence[AuditCheckpoint]:
    """The newest checkpoints."""
    return session.scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(limit)
    ).all()


def page_before(
    session: Session, f: AuditFilter, before_seq: int | None, limit: int
) -> Sequence[AuditRecord]:
    """Up to ``limit`` matching records before ``before_seq`` (None: the newest), newest first."""
    statement = _filtered(f)
    if before_seq is not None:
        statement = statement.where(AuditRecord.seq < before_seq)
    return session.scalars(statement.order_by(AuditRecord.seq.desc()).limit(limit)).all()
