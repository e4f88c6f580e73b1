"""Principals, roles and tokens (admin), and the caller's own identity."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy.orm import Session

from vault.api.deps import CallerDep
from vault.api.schemas import (
    MeOut,
    NewTokenOut,
    PrincipalIn,
    PrincipalOut,
    PrincipalsOut,
    RoleIn,
    RoleOut,
    TokenIn,
    TokenOut,
    TokensOut,
)
from vault.dependencies import RuntimeDep, SessionDep
from vault.models import ApiToken, Principal, Role
from vault.services import principals as service
from vault.services.principals import RoleSpec

router = APIRouter(prefix="/v1", tags=["principals"])


def principal_out(session: Session, principal: Principal) -> PrincipalOut:
    """A principal with its roles."""
    return PrincipalOut(
        name=principal.name,
        description=principal.description,
        roles=[
            RoleOut(role=r.role, trial=r.trial, site=r.site)
            for r in service.roles_of(session, principal)
        ],
        created_at=principal.created_at,
    )


def token_out(token: ApiToken, principal: str) -> TokenOut:
    """A token's metadata."""
    return TokenOut(
        id=token.id,
        principal=principal,
        display_prefix=token.display_prefix,
        label=token.label,
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        last_used_at=token.last_used_at,
    )


@router.get("/me")
def me(session: SessionDep, caller: CallerDep) -> MeOut:
    """The caller's principal and roles (any valid token)."""
    return MeOut(
        principal=caller.name,
        roles=[
            RoleOut(role=r.role, trial=r.trial, site=r.site)
            for r in service.own_roles(session, caller)
        ],
    )


@router.post("/principals", status_code=status.HTTP_201_CREATED)
def create_principal(
    body: PrincipalIn, session: SessionDep, runtime: RuntimeDep, caller: CallerDep
) -> PrincipalOut:
    """Create a principal with roles (admin)."""
    principal = service.create_principal(
        session,
        runtime,
        caller,
        body.name,
        body.description,
        [RoleSpec(r.role, r.trial, r.site) for r in body.roles],
    )
    return principal_out(session, principal)


@router.get("/principals")
def list_principals(session: SessionDep, caller: CallerDep) -> PrincipalsOut:
    """Every principal (admin)."""
    return PrincipalsOut(
        principals=[principal_out(session, p) for p in service.list_principals(session, caller)]
    )


@router.get("/principals/{name}")
def get_principal(name: str, session: SessionDep, caller: CallerDep) -> PrincipalOut:
    """One principal (admin)."""
    return principal_out(session, service.get_principal(session, caller, name))


@router.post("/principals/{name}/roles")
def grant_role(
    name: str, body: RoleIn, session: SessionDep, runtime: RuntimeDep, caller: CallerDep
) -> PrincipalOut:
    """Give a principal a role (admin)."""
    principal = service.grant_role(
        session, runtime, caller, name, RoleSpec(body.role, body.trial, body.site)
    )
    return principal_out(session, principal)


@router.delete("/principals/{name}/roles")
def revoke_role(
    name: str,
    role: Annotated[Role, Query()],
    session: SessionDep,
    runtime: RuntimeDep,
    caller: CallerDep,
    trial: Annotated[str | None, Query(max_length=64)] = None,
    site: Annotated[str | None, Query(max_length=16)] = None,
) -> PrincipalOut:
    """Take a role away from a principal (admin)."""
    principal = service.revoke_role(session, runtime, caller, name, RoleSpec(role, trial, site))
    return principal_out(session, principal)


@router.post("/principals/{name}/tokens", status_code=status.HTTP_201_CREATED)
def create_token(
    name: str, body: TokenIn, session: SessionDep, runtime: RuntimeDep, caller: CallerDep
) -> NewTokenOut:
    """Issue a token (admin); the token is in this response only."""
    issued = service.create_token(session, runtime, caller, name, body.label, body.expires_in_days)
    return NewTokenOut(**token_out(issued.row, name).model_dump(), token=issued.token)


@router.get("/principals/{name}/tokens")
def list_tokens(name: str, session: SessionDep, caller: CallerDep) -> TokensOut:
    """A principal's tokens (admin)."""
    return TokensOut(
        tokens=[token_out(t, name) for t in service.list_tokens(session, caller, name)]
    )


@router.post("/tokens/{token_id}/revoke")
def revoke_token(
    token_id: int, session: SessionDep, runtime: RuntimeDep, caller: CallerDep
) -> TokenOut:
    """Revoke a token (admin)."""
    token = service.revoke_token(session, runtime, caller, token_id)
    return token_out(token, service.token_owner(session, token) or "?")
