"""SQL for principals, role bindings, API tokens and failed-authentication counters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import bindparam, case, delete, select, update
from sqlalchemy.orm import Session

from vault.models import ApiToken, AuthFailure, Principal, RoleBinding, Site, Trial
from vault.repositories.dialect import insert_ignoring_conflicts


def get_principal(session: Session, name: str) -> Principal | None:
    """The principal called ``name``."""
    return session.scalars(select(Principal).where(Principal.name == name)).one_or_none()


def get_principal_by_id(session: Session, principal_id: int) -> Principal | None:
    """The principal with primary key ``principal_id``."""
    return session.get(Principal, principal_id)


def principal_names(session: Session, ids: set[int]) -> dict[int, str]:
    """Principal names by id."""
    if not ids:
        return {}
    rows = session.execute(select(Principal.id, Principal.name).where(Principal.id.in_(ids)))
    return {row[0]: row[1] for row in rows}


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


# Authentication runs on every request: its statements are built once, and read
# plain rows rather than ORM objects.
_TOKENS = ApiToken.__table__
_PRINCIPALS = Principal.__table__
_BINDINGS = RoleBinding.__table__
_FAILURES = AuthFailure.__table__
_CREDENTIALS = (
    select(
        _TOKENS.c.id.label("token_id"),
        _TOKENS.c.expires_at,
        _TOKENS.c.revoked_at,
        _TOKENS.c.last_used_at,
        _PRINCIPALS.c.id.label("principal_id"),
        _PRINCIPALS.c.name.label("principal"),
        _PRINCIPALS.c.disabled_at,
        _PRINCIPALS.c.built_in,
    )
    .join(_PRINCIPALS, _PRINCIPALS.c.id == _TOKENS.c.principal_id)
    .where(_TOKENS.c.token_digest == bindparam("digest"))
)
_ROLES_OF = (
    select(_BINDINGS.c.role, _BINDINGS.c.trial_id, _BINDINGS.c.site_id)
    .where(_BINDINGS.c.principal_id == bindparam("principal_id"))
    .order_by(_BINDINGS.c.id)
)
_BLOCKED_UNTIL = select(_FAILURES.c.blocked_until).where(
    _FAILURES.c.client_address == bindparam("client_address")
)
_TOKEN_USED = (
    update(ApiToken)
    .where(ApiToken.id == bindparam("token_id"))
    .values(last_used_at=bindparam("used_at"))
)


class Credentials(NamedTuple):
    """What authentication needs of a token and its principal."""

    token_id: int
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    principal_id: int
    principal: str
    disabled_at: datetime | None
    built_in: bool


def credentials(session: Session, digest: bytes) -> Credentials | None:
    """The token with this digest and its principal, for authentication."""
    row = session.connection().execute(_CREDENTIALS, {"digest": digest}).one_or_none()
    return None if row is None else Credentials(*row)


def roles_of(session: Session, principal_id: int) -> list[tuple[str, int | None, int | None]]:
    """The principal's role bindings as (role, trial id, site id)."""
    rows = session.connection().execute(_ROLES_OF, {"principal_id": principal_id})
    return [(role, trial_id, site_id) for role, trial_id, site_id in rows]


def mark_token_used(session: Session, token_id: int, used_at: datetime) -> None:
    """Record when a token was last used."""
    session.connection().execute(_TOKEN_USED, {"token_id": token_id, "used_at": used_at})


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
    blocked: datetime | None = (
        session.connection()
        .execute(_BLOCKED_UNTIL, {"client_address": client_address})
        .scalar_one_or_none()
    )
    return blocked


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
