"""Principals, role bindings, API tokens, and authentication with rate limiting."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from vault.audit import Outcome, anonymous_event
from vault.authz import Binding, Caller, cli_caller, require_admin
from vault.crypto import token_digest
from vault.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
    UnauthenticatedError,
)
from vault.models import ApiToken, Principal, Role, RoleBinding, utcnow
from vault.repositories import principals as repo
from vault.repositories import trials as trials_repo
from vault.runtime import VaultRuntime
from vault.services.callers import caller_for
from vault.services.common import record

TOKEN_PREFIX = "dvt_"  # noqa: S105 - a recognisable prefix, not a secret
"""Every token starts with this, so secret scanners and people recognise one."""
TOKEN_PATTERN = re.compile(r"^dvt_[A-Za-z0-9_-]{43}$")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MAX_TOKEN_DAYS = 3650
_LAST_USED_RESOLUTION = timedelta(minutes=5)


@dataclass(frozen=True)
class RoleSpec:
    """A role as named by an operator: role, trial key, site key."""

    role: Role
    trial: str | None = None
    site: str | None = None


@dataclass(frozen=True)
class RoleView:
    """A role binding with names instead of ids."""

    id: int
    role: str
    trial: str | None
    site: str | None


@dataclass(frozen=True)
class IssuedToken:
    """A new token: ``token`` is shown once and never stored."""

    token: str
    row: ApiToken

    def __repr__(self) -> str:
        return f"IssuedToken(id={self.row.id}, prefix={self.row.display_prefix!r})"


def _resolve(session: Session, spec: RoleSpec) -> Binding:
    """Check a role's scope and turn names into ids."""
    needs_trial = spec.role in (Role.SITE_UPLOADER, Role.REIDENTIFY_REQUESTER, Role.APPROVER)
    if spec.role is Role.ADMIN and (spec.trial or spec.site):
        raise InvalidInputError("the admin role spans all trials; give no trial or site")
    if needs_trial and not spec.trial:
        raise InvalidInputError(f"the {spec.role.value} role needs a trial")
    if spec.role is Role.SITE_UPLOADER and not spec.site:
        raise InvalidInputError("the site_uploader role needs a site")
    if spec.site and spec.role is not Role.SITE_UPLOADER:
        raise InvalidInputError(f"the {spec.role.value} role is not per site")
    trial_id = site_id = None
    if spec.trial:
        trial = trials_repo.get_trial(session, spec.trial)
        if trial is None:
            raise NotFoundError(f"trial {spec.trial} not found")
        trial_id = trial.id
        if spec.site:
            site = trials_repo.get_site(session, trial.id, spec.site)
            if site is None:
                raise NotFoundError(f"site {spec.site} not found in trial {spec.trial}")
            site_id = site.id
    return Binding(spec.role, trial_id, site_id)


def _get(session: Session, name: str) -> Principal:
    principal = repo.get_principal(session, name)
    if principal is None or principal.built_in:
        raise NotFoundError(f"principal {name} not found")
    return principal


def _role_views(session: Session, principal_id: int) -> list[RoleView]:
    return [
        RoleView(b.id, b.role, trial, site)
        for b, trial, site in repo.bindings_with_names(session, [principal_id])
    ]


def roles_of(session: Session, principal: Principal) -> list[RoleView]:
    """A principal's roles, by name."""
    return _role_views(session, principal.id)


def own_roles(session: Session, caller: Caller) -> list[RoleView]:
    """The caller's own roles, by name."""
    return _role_views(session, caller.principal_id)


def create_principal(
    session: Session,
    runtime: VaultRuntime,
    caller: Caller | None,
    name: str,
    description: str = "",
    roles: Sequence[RoleSpec] = (),
) -> Principal:
    """Create a principal with roles (admin; ``caller`` None only for ``deid-vault``'s CLI)."""
    if caller is not None:
        require_admin(caller)
    if not NAME_PATTERN.match(name):
        raise InvalidInputError(
            "a principal name is 1-64 letters, digits or . _ @ - (starting with a letter or digit)"
        )
    if repo.get_principal(session, name) is not None:
        raise ConflictError(f"principal {name} already exists")
    bindings = [_resolve(session, spec) for spec in roles]
    principal = Principal(name=name, description=description[:256])
    repo.add(session, principal)
    for b in bindings:
        repo.add(
            session,
            RoleBinding(
                principal_id=principal.id, role=b.role.value, trial_id=b.trial_id, site_id=b.site_id
            ),
        )
    actor = caller or cli_caller()
    record(
        session,
        runtime,
        actor.event(
            "principal.create",
            Outcome.SUCCESS,
            details={
                "principal": name,
                "roles": [[s.role.value, s.trial, s.site] for s in roles],
            },
        ),
    )
    return principal


def grant_role(
    session: Session, runtime: VaultRuntime, caller: Caller | None, name: str, spec: RoleSpec
) -> Principal:
    """Give a principal one more role (admin)."""
    if caller is not None:
        require_admin(caller)
    principal = _get(session, name)
    binding = _resolve(session, spec)
    repo.add(
        session,
        RoleBinding(
            principal_id=principal.id,
            role=binding.role.value,
            trial_id=binding.trial_id,
            site_id=binding.site_id,
        ),
    )
    record(
        session,
        runtime,
        (caller or cli_caller()).event(
            "role.grant",
            Outcome.SUCCESS,
            trial_key=spec.trial,
            details={"principal": name, "role": spec.role.value, "site": spec.site},
        ),
    )
    return principal


def revoke_role(
    session: Session, runtime: VaultRuntime, caller: Caller, name: str, spec: RoleSpec
) -> Principal:
    """Take a role away from a principal (admin)."""
    require_admin(caller)
    principal = _get(session, name)
    matches = [
        view
        for view in roles_of(session, principal)
        if (view.role, view.trial, view.site) == (spec.role.value, spec.trial, spec.site)
    ]
    if not matches:
        raise NotFoundError(f"principal {name} does not hold that role")
    for view in matches:
        repo.delete_binding(session, view.id)
    record(
        session,
        runtime,
        caller.event(
            "role.revoke",
            Outcome.SUCCESS,
            trial_key=spec.trial,
            details={"principal": name, "role": spec.role.value, "site": spec.site},
        ),
    )
    return principal


def list_principals(session: Session, caller: Caller) -> Sequence[Principal]:
    """Every principal but the built-in one (admin)."""
    require_admin(caller)
    return [p for p in repo.list_principals(session) if not p.built_in]


def get_principal(session: Session, caller: Caller, name: str) -> Principal:
    """One principal (admin)."""
    require_admin(caller)
    return _get(session, name)


def create_token(
    session: Session,
    runtime: VaultRuntime,
    caller: Caller | None,
    name: str,
    label: str = "",
    expires_in_days: int | None = 90,
) -> IssuedToken:
    """Issue a token for a principal (admin): 256 random bits, stored only as a digest."""
    if caller is not None:
        require_admin(caller)
    principal = _get(session, name)
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_TOKEN_DAYS:
        raise InvalidInputError(f"a token expires in 1 to {MAX_TOKEN_DAYS} days")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    row = ApiToken(
        principal_id=principal.id,
        token_digest=token_digest(token),
        display_prefix=token[:12],
        label=label[:64],
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    repo.add(session, row)
    record(
        session,
        runtime,
        (caller or cli_caller()).event(
            "token.create",
            Outcome.SUCCESS,
            details={"principal": name, "token_id": row.id, "prefix": row.display_prefix},
        ),
    )
    return IssuedToken(token, row)


def list_tokens(session: Session, caller: Caller, name: str) -> Sequence[ApiToken]:
    """A principal's tokens (admin); digests are never shown."""
    require_admin(caller)
    return repo.tokens_of(session, _get(session, name).id)


def revoke_token(
    session: Session, runtime: VaultRuntime, caller: Caller | None, token_id: int
) -> ApiToken:
    """Revoke a token (admin); it stops working at once, in every vault process."""
    if caller is not None:
        require_admin(caller)
    row = repo.get_token(session, token_id)
    if row is None:
        raise NotFoundError(f"token {token_id} not found")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
    record(
        session,
        runtime,
        (caller or cli_caller()).event(
            "token.revoke", Outcome.SUCCESS, details={"token_id": token_id}
        ),
    )
    return row


def token_owner(session: Session, token: ApiToken) -> str | None:
    """The name of the principal ``token`` belongs to."""
    owner = repo.get_principal_by_id(session, token.principal_id)
    return owner.name if owner is not None else None


def authenticate(
    session: Session, runtime: VaultRuntime, token: str | None, client_address: str
) -> Caller:
    """The caller a bearer token stands for; failures are counted and audited."""
    now = utcnow()
    require_not_locked_out(session, client_address, now)
    reason = None
    found = None
    if not token:
        reason = "no token"
    elif not TOKEN_PATTERN.match(token):
        reason = "malformed token"
    else:
        found = repo.credentials(session, token_digest(token))
        if found is None:
            reason = "unknown token"
        elif found.revoked_at is not None:
            reason = "revoked token"
        elif found.expires_at is not None and found.expires_at <= now:
            reason = "expired token"
        elif found.disabled_at is not None or found.built_in:
            reason = "disabled principal"
    if reason is not None or found is None:
        _fail(runtime, client_address, reason or "unknown token", found)
    assert found is not None
    if found.last_used_at is None or now - found.last_used_at > _LAST_USED_RESOLUTION:
        repo.mark_token_used(session, found.token_id, now)
    return caller_for(session, found.principal_id, found.principal, client_address, found.token_id)


def require_not_locked_out(session: Session, client_address: str, now: datetime) -> None:
    """Refuse (429, audited) an address locked out by repeated failed authentications."""
    blocked = repo.blocked_until(session, client_address)
    if blocked is not None and blocked > now:
        retry = max(1, int((blocked - now).total_seconds()) + 1)
        raise RateLimitedError(
            f"too many failed authentications from this address; retry in {retry} seconds",
            retry,
            audit=anonymous_event(
                client_address, "auth.failure", Outcome.DENIED, {"reason": "rate limited"}
            ),
        )


def failure_counter(runtime: VaultRuntime, client_address: str) -> Callable[[Session], None]:
    """Work for after the rollback: count one failed authentication of ``client_address``."""
    policy = runtime.auth

    def count(session: Session) -> None:
        repo.count_failure(
            session,
            client_address,
            utcnow(),
            timedelta(seconds=policy.window_seconds),
            policy.failure_limit,
            timedelta(seconds=policy.lockout_seconds),
        )

    return count


def _fail(
    runtime: VaultRuntime,
    client_address: str,
    reason: str,
    found: repo.Credentials | None,
) -> None:
    details: dict[str, object] = {"reason": reason}
    if found is not None:
        details["token_id"] = found.token_id
        details["principal"] = found.principal
    message = {
        "no token": "authentication required: send 'Authorization: Bearer <token>'",
        "malformed token": "the token is not a deid-vault token (they start with 'dvt_')",
    }.get(reason, "the token is not valid (unknown, expired or revoked)")
    raise UnauthenticatedError(
        message,
        audit=anonymous_event(client_address, "auth.failure", Outcome.DENIED, details),
        after_rollback=failure_counter(runtime, client_address),
    )
