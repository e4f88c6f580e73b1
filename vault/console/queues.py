"""Re-identification requests as people see them: their own, and those awaiting them.

Thin compositions of :mod:`vault.services.reidentification` over every trial in
which the caller holds the role; the service decides what each caller may see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from vault.authz import Caller
from vault.errors import ForbiddenError
from vault.models import ReidentificationRequest, RequestStatus, Role, Trial
from vault.runtime import VaultRuntime
from vault.services import reidentification as service
from vault.services import trials as trial_service


@dataclass(frozen=True)
class RequestRow:
    """A request with its trial's key and the names of who asked and who decided."""

    request: ReidentificationRequest
    trial: str
    requester: str
    decided_by: str | None


def trials_with_role(session: Session, caller: Caller, role: Role) -> list[Trial]:
    """The trials in which the caller holds ``role`` (403 when there is none)."""
    trials = [
        t for t in trial_service.list_trials(session, caller) if role in caller.roles_in(t.id)
    ]
    if not trials:
        raise ForbiddenError(f"this needs the {role.value} role in a trial")
    return trials


def rows(
    session: Session, trial: str, requests: Sequence[ReidentificationRequest]
) -> list[RequestRow]:
    """Requests with names instead of principal ids."""
    names = service.principal_names(session, requests)
    return [
        RequestRow(
            r,
            trial,
            names.get(r.requester_id, "?"),
            names.get(r.decided_by_id) if r.decided_by_id else None,
        )
        for r in requests
    ]


def own_requests(session: Session, runtime: VaultRuntime, caller: Caller) -> list[RequestRow]:
    """The caller's own requests in every trial where it may ask, newest first."""
    found: list[RequestRow] = []
    for trial in trials_with_role(session, caller, Role.REIDENTIFY_REQUESTER):
        requests = service.list_requests(session, runtime, caller, trial.key)
        found += rows(
            session, trial.key, [r for r in requests if r.requester_id == caller.principal_id]
        )
    return sorted(found, key=lambda row: row.request.created_at, reverse=True)


def awaiting_decision(session: Session, runtime: VaultRuntime, caller: Caller) -> list[RequestRow]:
    """Pending requests in every trial the caller approves for, oldest first."""
    found: list[RequestRow] = []
    for trial in trials_with_role(session, caller, Role.APPROVER):
        pending = service.list_requests(
            session, runtime, caller, trial.key, RequestStatus.PENDING.value
        )
        found += rows(session, trial.key, pending)
    return sorted(found, key=lambda row: row.request.created_at)
