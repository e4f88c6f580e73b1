"""Who may do what: principals' role bindings and the few central policy checks.

Every check first asks whether the caller may *see* the trial at all (any role
in it, or a role that spans all trials); if not, the answer is 404, so an outsider
never learns that a trial exists. Only then is the specific role checked (403).
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from vault.audit.events import AuditEvent
from vault.errors import ForbiddenError, NotFoundError
from vault.models import Role


class HasId(Protocol):
    """A trial or site as the policy checks see it: ORM row or plain row."""

    @property
    def id(self) -> int: ...


class TrialLike(HasId, Protocol):
    """A trial: its id and key."""

    @property
    def key(self) -> str: ...


T = TypeVar("T", bound=TrialLike)
S = TypeVar("S", bound=HasId)

LOCAL_PRINCIPAL = "local"
"""The embedded store's built-in principal."""


@dataclass(frozen=True, slots=True)
class Binding:
    """One role of the caller, in a trial (and site), or everywhere (trial_id None)."""

    role: Role
    trial_id: int | None = None
    site_id: int | None = None


@dataclass(frozen=True)
class Caller:
    """An authenticated principal, as the services see it."""

    principal_id: int
    name: str
    bindings: tuple[Binding, ...]
    client_address: str = "-"
    token_id: int | None = None
    roles_cache: dict[int | None, frozenset[Role]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def roles_in(self, trial_id: int) -> frozenset[Role]:
        """The caller's roles that apply in ``trial_id`` (global ones included)."""
        cached = self.roles_cache.get(trial_id)
        if cached is None:
            cached = frozenset(
                b.role for b in self.bindings if b.trial_id is None or b.trial_id == trial_id
            )
            self.roles_cache[trial_id] = cached
        return cached

    def has_global(self, role: Role) -> bool:
        """True when the caller holds ``role`` across all trials."""
        return any(b.role is role and b.trial_id is None for b in self.bindings)

    @property
    def is_admin(self) -> bool:
        """Admins manage trials, principals, tokens and keys (never originals)."""
        return self.has_global(Role.ADMIN)

    def role_label(self, trial_id: int | None = None) -> str:
        """The roles to write into an audit record."""
        roles = (
            self.roles_in(trial_id)
            if trial_id is not None
            else frozenset(b.role for b in self.bindings)
        )
        return ",".join(sorted(r.value for r in roles)) or "-"

    def event(
        self,
        action: str,
        outcome: str,
        *,
        trial: TrialLike | None = None,
        trial_key: str | None = None,
        purpose: str | None = None,
        justification: str | None = None,
        details: dict[str, object] | None = None,
    ) -> AuditEvent:
        """An audit event with this caller as the actor."""
        return AuditEvent(
            principal_id=self.principal_id,
            principal_name=self.name,
            role=self.role_label(trial.id if trial else None),
            client_address=self.client_address,
            trial_key=trial.key if trial else trial_key,
            action=action,
            outcome=outcome,
            purpose=purpose,
            justification=justification,
            details=details or {},
        )


def cli_caller() -> Caller:
    """The operator at the vault host's command line (trusted by access to the key files)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Caller(0, f"cli:{user}"[:64], (Binding(Role.ADMIN),), "local")


def can_see_trial(caller: Caller, trial: TrialLike) -> bool:
    """True when the caller holds any role in ``trial`` (or everywhere)."""
    return bool(caller.roles_in(trial.id))


def require_trial_role(caller: Caller, trial: T | None, *roles: Role) -> T:
    """The trial if the caller holds one of ``roles`` in it; 404 if it cannot see it."""
    if trial is None or not can_see_trial(caller, trial):
        raise NotFoundError("trial not found")
    if not caller.roles_in(trial.id) & set(roles):
        raise ForbiddenError(
            f"this needs the {' or '.join(r.value for r in roles)} role in trial {trial.key}"
        )
    return trial


def require_site_uploader(caller: Caller, trial: TrialLike | None, site: S | None) -> S:
    """The site if the caller uploads for it; 404 if the caller cannot see it."""
    trial = require_trial_role(caller, trial, Role.SITE_UPLOADER)
    if site is None:
        raise NotFoundError("site not found")
    allowed = any(
        b.role is Role.SITE_UPLOADER
        and b.trial_id == trial.id
        and (b.site_id is None or b.site_id == site.id)
        for b in caller.bindings
    )
    if not allowed:
        raise NotFoundError("site not found")
    return site


def require_admin(caller: Caller) -> None:
    """Raise 403 unless the caller is an admin."""
    if not caller.is_admin:
        raise ForbiddenError("this needs the admin role")
