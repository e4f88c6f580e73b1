"""The one way a principal becomes a :class:`~vault.authz.Caller`: with its current roles."""

from __future__ import annotations

from sqlalchemy.orm import Session

from vault.authz import Binding, Caller
from vault.errors import NotFoundError
from vault.models import Role
from vault.repositories import principals as repo


def caller_for(
    session: Session,
    principal_id: int,
    name: str,
    client_address: str,
    token_id: int | None = None,
) -> Caller:
    """The caller principal ``principal_id`` (called ``name``) is, with its roles as stored now."""
    bindings = tuple(
        Binding(Role(role), trial_id, site_id)
        for role, trial_id, site_id in repo.roles_of(session, principal_id)
    )
    return Caller(principal_id, name, bindings, client_address, token_id)


def caller_named(session: Session, name: str, client_address: str = "local") -> Caller:
    """The caller the principal called ``name`` is (404 for an unknown or built-in one)."""
    principal = repo.get_principal(session, name)
    if principal is None or principal.built_in:
        raise NotFoundError(f"principal {name} not found")
    return caller_for(session, principal.id, principal.name, client_address)
