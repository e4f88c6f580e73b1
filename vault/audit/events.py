"""What an audit record says, before it is chained."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Outcome(StrEnum):
    """How an audited action ended."""

    SUCCESS = "success"
    DENIED = "denied"
    REFUSED = "refused"
    FAILED = "failed"


@dataclass(frozen=True)
class AuditEvent:
    """Who did what, when asked from where, in which trial, why, and how it ended.

    Never holds an original value: pseudonyms, subject IDs and counts only.
    """

    principal_id: int | None
    principal_name: str
    role: str
    client_address: str
    trial_key: str | None
    action: str
    outcome: str
    purpose: str | None = None
    justification: str | None = None
    details: dict[str, object] = field(default_factory=dict)


def anonymous_event(
    client_address: str, action: str, outcome: str, details: dict[str, object]
) -> AuditEvent:
    """An event with no authenticated actor (a failed authentication)."""
    return AuditEvent(
        principal_id=None,
        principal_name="-",
        role="-",
        client_address=client_address,
        trial_key=None,
        action=action,
        outcome=outcome,
        details=details,
    )
