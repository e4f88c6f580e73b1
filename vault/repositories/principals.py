"""SQL for principals, role bindings, API tokens and failed-authentication counters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import case, delete, select, update
from sqlalchemy.orm import Session

from vault.models import ApiToken, AuthFailure, Principal, RoleBinding, Site, Trial
from vault.repositories.dialect import insert_ignoring_conflicts


def get_principal(session: Session, name: str) -> Principal | None:
    """The principal called ``name``."""
    return session.scalars(select(Principal).where(Principal.name == name)).one_or_none()


def list_principals(session: Session) -> Sequence[Principal]:
    """Every principal, by name."""
    return session.scalars(select(Principal).order_by(Principal.name)).all()


def add(session: Session, row: Principal | RoleBinding | ApiToken) -> None:
    """Insert a row and flush (so constraint violations surface here)."""
    session.add(row)
    session.flush()


def bindings_with_names(
    session: Session, principal_ids: Sequence[int]
) -> Sequence[tuple[RoleBinding, str | None, str | None]]:
    """Role bindings of the principals, each with its trial key and site key."""
    rows = session.execute(
        select(RoleBinding, Trial.key, Site.site_key)
        .outerjoin(Trial, Trial.id == RoleBinding.trial_id)
        .outerjoin(Site, Site.id == RoleBinding.site_id)
        .where(RoleBinding.principal_id.in_(principal_ids))
        .order_by(RoleBinding.id)
    ).all()
    return [(row[0], row[1], row[2]) for row in rows]


def delete_binding(session: Session, binding_id: int) -> None:
    """Remove a role binding."""
    session.execute(delete(RoleBinding).where(RoleBinding.id == binding_id))


def token_with_principal(session: Session, digest: bytes) -> tuple[ApiToken, Principal] | None:
    """The token with this digest and its principal."""
    row = session.execute(
        select(ApiToken, Principal)
        .join(Principal, Principal.id == ApiToken.principal_id)
        .where(ApiToken.token_digest == digest)
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def get_token(session: Session, token_id: int) -> ApiToken | None:
    """A token by id."""
    return session.get(ApiToken, token_id)


def tokens_of(session: Session, principal_id: int) -> Sequence[ApiToken]:
    """A principal's tokens, newest first."""
    return session.scalars(
        select(ApiToken).where(ApiToken.principal_id == principal_id).order_by(ApiToken.id.desc())
    ).all()


def blocked_until(session: Session, client_address: str) -> datetime | None:
    """Until when the address is locked out, if it is."""
    return session.scalars(
        select(AuthFailure.blocked_until).where(AuthFailure.client_address == client_address)
    ).one_or_none()


def count_failure(
    session: Session,
    client_address: str,
    now: datetime,
    window: timedelta,
    limit: int,
    lockout: timedelta,
) -> int:
    """Count one failed authentication atomically; lock the address out at ``limit``."""
    session.execute(
        insert_ignoring_conflicts(session, AuthFailure.__table__).values(  # type: ignore[arg-type]
            client_address=client_address, window_started_at=now, failures=0
        )
    )
    expired = AuthFailure.window_started_at < now - window
    failures = session.execute(
        update(AuthFailure)
        .where(AuthFailure.client_address == client_address)
        .values(
            failures=case((expired, 1), else_=AuthFailure.failures + 1),
            window_started_at=case((expired, now), else_=AuthFailure.window_started_at),
        )
        .returning(AuthFailure.failures)
    ).scalar_one()
    if failures >= limit:
        session.execute(
            update(AuthFailure)
            .where(AuthFailure.client_address == client_address)
            .values(blocked_until=now + lockout, failures=0, window_started_at=now)
        )
    return int(failures)
