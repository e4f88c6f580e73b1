"""The re-identification flow as both of its clients speak it, whichever vault answers.

A request names pseudonyms (by kind) and subject IDs, with a purpose and a
justification; the trial's policy approves it at once or leaves it pending for an
approver who is not the requester. Its requester may *release* an approved grant
once: that answer is the only place originals appear, and :class:`Release` keeps
them out of its ``repr``.

Failures are the errors of :mod:`deid.contract.errors` for both implementations:
:class:`~deid.contract.errors.VaultRefusedError` (with the vault's status and code)
and :class:`~deid.contract.errors.VaultUnavailableError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, order=True, slots=True)
class Pseudonym:
    """A value as it stands in a de-identified file, and the mapping kind it belongs to."""

    kind: str
    value: str


@dataclass(frozen=True)
class RequestInfo:
    """A re-identification request as the vault shows it (pseudonyms and subject IDs only)."""

    id: int
    trial: str
    requester: str
    purpose: str
    justification: str
    status: str
    subject_ids: tuple[str, ...]
    pseudonyms: tuple[Pseudonym, ...]
    created_at: str
    decided_by: str | None = None
    decided_at: str | None = None
    decision_comment: str | None = None
    grant_expires_at: str | None = None
    released_at: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RequestInfo:
        """From the vault's JSON (``ReidentificationOut``)."""

        def text(key: str) -> str | None:
            value = data.get(key)
            return None if value is None else str(value)

        return cls(
            id=int(data["id"]),
            trial=str(data["trial"]),
            requester=str(data["requester"]),
            purpose=str(data["purpose"]),
            justification=str(data["justification"]),
            status=str(data["status"]),
            subject_ids=tuple(str(s) for s in data.get("subject_ids", ())),
            pseudonyms=tuple(
                Pseudonym(str(p["kind"]), str(p["pseudonym"])) for p in data.get("pseudonyms", ())
            ),
            created_at=str(data["created_at"]),
            decided_by=text("decided_by"),
            decided_at=text("decided_at"),
            decision_comment=text("decision_comment"),
            grant_expires_at=text("grant_expires_at"),
            released_at=text("released_at"),
        )


@dataclass(frozen=True)
class SubjectRelease:
    """A subject's patient key and date offset (``None`` when the vault has no such subject)."""

    subject_id: str
    patient_key: str | None = field(repr=False)
    date_offset_days: int | None = field(repr=False)


@dataclass(frozen=True)
class Release:
    """What spending a grant returns, once. Holds originals: never log it."""

    request: RequestInfo
    originals: Mapping[Pseudonym, str | None] = field(repr=False)
    """Each requested pseudonym's original; ``None`` when the vault holds no such pseudonym."""
    subjects: Mapping[str, SubjectRelease] = field(repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Release:
        """From the vault's JSON (``ReleaseOut``)."""
        originals = {
            Pseudonym(str(p["kind"]), str(p["pseudonym"])): (
                None if p.get("original") is None else str(p["original"])
            )
            for p in data.get("pseudonyms", ())
        }
        subjects = {
            str(s["subject_id"]): SubjectRelease(
                str(s["subject_id"]),
                None if s.get("patient_key") is None else str(s["patient_key"]),
                None if s.get("date_offset_days") is None else int(s["date_offset_days"]),
            )
            for s in data.get("subjects", ())
        }
        return cls(RequestInfo.from_json(data["request"]), originals, subjects)


class ReidentificationClient(Protocol):
    """The calls of the vault's re-identification flow."""

    def submit(
        self,
        trial: str,
        purpose: str,
        justification: str,
        pseudonyms: Sequence[Pseudonym],
        subject_ids: Sequence[str],
    ) -> RequestInfo:
        """Ask (requester); approved at once or pending, by the trial's policy. Not idempotent."""
        ...

    def list_requests(self, trial: str, status: str | None = None) -> list[RequestInfo]:
        """Requests the caller may see (approver: all; requester: own), newest first."""
        ...

    def get(self, trial: str, request_id: int) -> RequestInfo:
        """One request."""
        ...

    def approve(self, trial: str, request_id: int, comment: str = "") -> RequestInfo:
        """Approve another principal's pending request (approver)."""
        ...

    def deny(self, trial: str, request_id: int, comment: str = "") -> RequestInfo:
        """Deny another principal's pending request (approver)."""
        ...

    def release(self, trial: str, request_id: int) -> Release:
        """Spend the caller's approved grant: the originals, once. Not idempotent."""
        ...

    def close(self) -> None:
        """Let go of connections."""
        ...
