"""SQL of the audit log: its head, records and checkpoints, and filtered reading.

The chain's rules (hashing, signing, verifying) live in :mod:`vault.audit`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from vault.models import AuditCheckpoint, AuditHead, AuditRecord

HEAD_ID = 1
"""The one row of ``audit_head``: the newest record's sequence number and hash."""


def head(session: Session, *, for_update: bool = False) -> tuple[int, str]:
    """The chain head's (sequence number, record hash); locked for an append if asked."""
    statement = select(AuditHead.seq, AuditHead.record_hash).where(AuditHead.id == HEAD_ID)
    if for_update:
        statement = statement.with_for_update()
    row = session.execute(statement).one()
    return row.seq, row.record_hash


def add_record(session: Session, record: AuditRecord) -> None:
    """Insert a chained record (flushes, so a sequence clash fails here)."""
    session.add(record)
    session.flush()


def move_head(session: Session, seq: int, record_hash: str) -> None:
    """Point the chain head at the record just added."""
    session.execute(
        update(AuditHead).where(AuditHead.id == HEAD_ID).values(seq=seq, record_hash=record_hash)
    )


def add_checkpoint(session: Session, checkpoint: AuditCheckpoint) -> None:
    """Store a signed checkpoint."""
    session.add(checkpoint)
    session.flush()


def records_in_order(session: Session) -> Iterable[AuditRecord]:
    """Every record in chain order, fetched in batches."""
    return session.scalars(
        select(AuditRecord).order_by(AuditRecord.seq).execution_options(yield_per=1000)
    )


def checkpoints_in_order(session: Session) -> Iterable[AuditCheckpoint]:
    """Every checkpoint, oldest first."""
    return session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq))


def get_record(session: Session, seq: int) -> AuditRecord | None:
    """Record number ``seq``."""
    return session.scalars(select(AuditRecord).where(AuditRecord.seq == seq)).one_or_none()


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
