"""SQL for the web console: passwords, sign-in sessions, and the dashboard's audit rows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from vault.models import AuditRecord, ConsolePassword, ConsoleSession, Principal


def password_hash(session: Session, principal_id: int) -> str | None:
    """The stored password hash of a principal, if it has one."""
    return session.scalars(
        select(ConsolePassword.password_hash).where(ConsolePassword.principal_id == principal_id)
    ).one_or_none()


def store_password_hash(
    session: Session, principal_id: int, password_hash: str, now: datetime
) -> None:
    """Set (or replace) a principal's password hash."""
    row = session.get(ConsolePassword, principal_id)
    if row is None:
        session.add(
            ConsolePassword(principal_id=principal_id, password_hash=password_hash, changed_at=now)
        )
    else:
        row.password_hash = password_hash
        row.changed_at = now
    session.flush()


def add_session(session: Session, row: ConsoleSession) -> None:
    """Store a new sign-in session."""
    session.add(row)
    session.flush()


def session_with_principal(
    session: Session, id_digest: bytes
) -> tuple[ConsoleSession, Principal] | None:
    """The sign-in session with this digest and its principal."""
    row = session.execute(
        select(ConsoleSession, Principal)
        .join(Principal, Principal.id == ConsoleSession.principal_id)
        .where(ConsoleSession.id_digest == id_digest)
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def delete_session(session: Session, id_digest: bytes) -> None:
    """End one sign-in session."""
    session.execute(delete(ConsoleSession).where(ConsoleSession.id_digest == id_digest))


def delete_sessions_of(session: Session, principal_id: int, keep: bytes | None = None) -> int:
    """End every sign-in session of a principal (but ``keep``); return how many."""
    statement = delete(ConsoleSession).where(ConsoleSession.principal_id == principal_id)
    if keep is not None:
        statement = statement.where(ConsoleSession.id_digest != keep)
    return int(session.execute(statement).rowcount)  # type: ignore[attr-defined]


def delete_stale_sessions(session: Session, now: datetime, idle_since: datetime) -> int:
    """Remove sessions past their lifetime or idle since before ``idle_since``."""
    result = session.execute(
        delete(ConsoleSession).where(
            or_(ConsoleSession.expires_at <= now, ConsoleSession.last_seen_at < idle_since)
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def audit_events(
    session: Session,
    actions: Iterable[str],
    since: datetime,
    trials: frozenset[str] | None,
    trial: str | None,
) -> list[tuple[str | None, datetime, str, str, dict[str, Any]]]:
    """Trial, time, action, outcome and details of the records of ``actions`` since ``since``."""
    statement = select(
        AuditRecord.trial_key,
        AuditRecord.occurred_at,
        AuditRecord.action,
        AuditRecord.outcome,
        AuditRecord.details,
    ).where(AuditRecord.action.in_(list(actions)), AuditRecord.occurred_at >= since)
    if trials is not None:
        statement = statement.where(AuditRecord.trial_key.in_(trials))
    if trial is not None:
        statement = statement.where(AuditRecord.trial_key == trial)
    return [
        (row[0], row[1], row[2], row[3], row[4])
        for row in session.execute(statement.order_by(AuditRecord.seq))
    ]
