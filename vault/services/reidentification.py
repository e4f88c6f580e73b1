"""Re-identification: request, approve or deny (four eyes), release once, expire.

Originals leave the vault only in the response that spends an approved,
unexpired grant, and only to the principal who asked. Every step is audited with
pseudonyms, subject IDs and counts, never an original; a justification that
holds one of the originals involved is refused rather than stored.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from vault.audit import AuditEvent, Outcome
from vault.authz import Caller
from vault.crypto import Sealed
from vault.errors import ConflictError, ForbiddenError, GoneError, InvalidInputError, NotFoundError
from vault.models import (
    Purpose,
    ReidentificationRequest,
    RequestStatus,
    Role,
    Trial,
    TrialStatus,
    utcnow,
)
from vault.repositories import mappings as mappings_repo
from vault.repositories import principals as principals_repo
from vault.repositories import reidentification as repo
from vault.runtime import VaultRuntime
from vault.services.common import record, trial_cipher
from vault.services.mappings import KIND_PATTERN, is_identifying
from vault.services.trials import require_role_in, trial_config

MIN_JUSTIFICATION = 10
MAX_JUSTIFICATION = 2000
WITHHELD = "[withheld: it contained an identifying value]"


@dataclass(frozen=True)
class PseudonymRef:
    """A pseudonym to take back to its original."""

    kind: str
    pseudonym: str


@dataclass(frozen=True)
class ReleasedPseudonym:
    """A pseudonym and its original (None when the vault holds no such pseudonym)."""

    kind: str
    pseudonym: str
    original: str | None


@dataclass(frozen=True)
class ReleasedSubject:
    """A subject ID with its patient key and date offset (None when unknown)."""

    subject_id: str
    patient_key: str | None
    date_offset_days: int | None


@dataclass(frozen=True)
class Release:
    """What the requester receives, once."""

    request: ReidentificationRequest
    pseudonyms: list[ReleasedPseudonym]
    subjects: list[ReleasedSubject]


def _items_detail(request: ReidentificationRequest) -> dict[str, object]:
    return {
        "request_id": request.id,
        "pseudonyms": [[p["kind"], p["pseudonym"]] for p in request.pseudonyms],
        "subject_ids": list(request.subject_ids),
        "subject_count": request.subject_count,
    }


def _event(
    caller: Caller,
    action: str,
    outcome: str,
    trial: Trial,
    request: ReidentificationRequest,
    **extra: object,
) -> AuditEvent:
    return caller.event(
        action,
        outcome,
        trial=trial,
        purpose=request.purpose,
        justification=request.justification,
        details={**_items_detail(request), "status": request.status, **extra},
    )


def _fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _fragments(kind: str, original: str) -> set[str]:
    """The parts of an original a justification must not contain."""
    folded = _fold(original)
    parts = {folded}
    if kind in ("GIVEN_NAME", "SURNAME", "FULL_NAME", "PATIENT"):
        parts |= {p for p in re.split(r"[\^= ,]+", folded) if len(p) >= 3}
    return {p for p in parts if len(p) >= 3}


def _check_subject_count(pseudonyms: Sequence[PseudonymRef], subject_ids: Sequence[str]) -> int:
    """How many people a request may concern.

    Each subject ID is one subject. Without subject IDs, each pseudonym of a kind
    other than UID may name a different person, and UIDs together count as one.
    """
    if subject_ids:
        return len(set(subject_ids))
    people = {(p.kind, p.pseudonym) for p in pseudonyms if p.kind != "UID"}
    return len(people) + (1 if any(p.kind == "UID" for p in pseudonyms) else 0)


def _validate(
    runtime: VaultRuntime,
    purpose: str,
    justification: str,
    pseudonyms: Sequence[PseudonymRef],
    subject_ids: Sequence[str],
) -> None:
    if purpose not in {p.value for p in Purpose}:
        raise InvalidInputError(f"purpose must be one of: {', '.join(p.value for p in Purpose)}")
    if not MIN_JUSTIFICATION <= len(justification.strip()) <= MAX_JUSTIFICATION:
        raise InvalidInputError(
            f"a justification of {MIN_JUSTIFICATION} to {MAX_JUSTIFICATION} characters is required"
        )
    if not pseudonyms and not subject_ids:
        raise InvalidInputError("name at least one pseudonym or subject ID")
    if len(pseudonyms) + len(subject_ids) > runtime.limits.max_batch_items:
        raise InvalidInputError(
            f"a request names at most {runtime.limits.max_batch_items} pseudonyms and subjects"
        )
    for ref in pseudonyms:
        if not KIND_PATTERN.match(ref.kind):
            raise InvalidInputError(f"kind {ref.kind[:40]!r} is not a mapping kind")
        if not is_identifying(ref.kind):
            raise InvalidInputError(
                f"kind {ref.kind} is not identifying: one of its pseudonyms may stand for "
                "several originals, so it cannot be taken back"
            )
        if not 0 < len(ref.pseudonym) <= 256:
            raise InvalidInputError("a pseudonym is 1 to 256 characters")
    if any(not 0 < len(s) <= 64 for s in subject_ids):
        raise InvalidInputError("a subject ID is 1 to 64 characters")


def _resolve(
    session: Session,
    runtime: VaultRuntime,
    trial: Trial,
    pseudonyms: Sequence[PseudonymRef],
    subject_ids: Sequence[str],
) -> tuple[list[ReleasedPseudonym], list[ReleasedSubject]]:
    """Decrypt the originals behind the pseudonyms and subject IDs (in memory only)."""
    cipher = trial_cipher(session, runtime, trial)
    found = mappings_repo.find_by_pseudonyms(
        session, trial.id, [(p.kind, p.pseudonym) for p in pseudonyms]
    )
    released: list[ReleasedPseudonym] = []
    for ref in pseudonyms:
        mapping = found.get((ref.kind, ref.pseudonym))
        original = None
        if mapping is not None:
            original = cipher.open_original(
                mapping.kind,
                mapping.blind_index,
                Sealed(mapping.key_version, mapping.original_ciphertext),
            )
        released.append(ReleasedPseudonym(ref.kind, ref.pseudonym, original))
    subjects = mappings_repo.find_subjects_by_ids(session, trial.id, list(subject_ids))
    people: list[ReleasedSubject] = []
    for subject_id in subject_ids:
        subject = subjects.get(subject_id)
        if subject is None:
            people.append(ReleasedSubject(subject_id, None, None))
            continue
        index = subject.patient_blind_index
        patient_key = cipher.open_patient_key(
            index, Sealed(subject.key_version, subject.patient_key_ciphertext)
        )
        offset = cipher.open_date_offset(
            index, Sealed(subject.key_version, subject.date_offset_ciphertext)
        )
        people.append(ReleasedSubject(subject_id, patient_key, offset))
    return released, people


def submit(
    session: Session,
    runtime: VaultRuntime,
    caller: Caller,
    trial_key: str,
    purpose: str,
    justification: str,
    pseudonyms: Sequence[PseudonymRef] = (),
    subject_ids: Sequence[str] = (),
) -> ReidentificationRequest:
    """Ask for re-identification; released at once or held for approval by trial policy."""
    trial = require_role_in(session, caller, trial_key, Role.REIDENTIFY_REQUESTER)
    if trial.status == TrialStatus.SHREDDED:
        raise GoneError(f"trial {trial.key} was closed and its keys destroyed")
    pseudonyms = list(dict.fromkeys(pseudonyms))
    subject_ids = list(dict.fromkeys(subject_ids))
    _validate(runtime, purpose, justification, pseudonyms, subject_ids)
    config = trial_config(trial)
    count = _check_subject_count(pseudonyms, subject_ids)
    request = ReidentificationRequest(
        trial_id=trial.id,
        requester_id=caller.principal_id,
        purpose=purpose,
        justification=justification.strip(),
        pseudonyms=[{"kind": p.kind, "pseudonym": p.pseudonym} for p in pseudonyms],
        subject_ids=subject_ids,
        subject_count=count,
        status=RequestStatus.PENDING.value,
        created_at=utcnow(),
    )
    released, people = _resolve(session, runtime, trial, pseudonyms, subject_ids)
    folded = _fold(justification)
    involved = [(p.kind, p.original) for p in released if p.original] + [
        ("PATIENT", s.patient_key) for s in people if s.patient_key
    ]
    if any(f in folded for kind, original in involved for f in _fragments(kind, original)):
        request.justification = WITHHELD
        raise InvalidInputError(
            "the justification contains an identifying value of the requested data; "
            "state the reason without it",
            audit=caller.event(
                "reidentification.request",
                Outcome.REFUSED,
                trial=trial,
                purpose=purpose,
                justification=WITHHELD,
                details={**_items_detail(request), "reason": "identifying value in justification"},
            ),
        )
    immediate = (
        config.reidentification_policy.value == "immediate"
        and count <= config.bulk_reidentification_limit
    )
    if immediate:
        request.status = RequestStatus.APPROVED.value
        request.grant_expires_at = request.created_at + timedelta(hours=config.grant_ttl_hours)
    repo.add(session, request)
    record(
        session,
        runtime,
        _event(
            caller,
            "reidentification.request",
            Outcome.SUCCESS,
            trial,
            request,
            bulk=count > config.bulk_reidentification_limit,
        ),
    )
    return request


def _expire_due(session: Session, runtime: VaultRuntime, caller: Caller, trial: Trial) -> None:
    for request in repo.due_to_expire(session, trial.id, utcnow()):
        request.status = RequestStatus.EXPIRED.value
        record(
            session,
            runtime,
            _event(caller, "reidentification.expire", Outcome.SUCCESS, trial, request),
        )
    session.flush()


def _visible(
    caller: Caller, trial: Trial, request: ReidentificationRequest | None
) -> ReidentificationRequest:
    """Approvers see every request of the trial; requesters only their own."""
    if request is None:
        raise NotFoundError("request not found")
    roles = caller.roles_in(trial.id)
    if Role.APPROVER in roles or request.requester_id == caller.principal_id:
        return request
    raise NotFoundError("request not found")


def list_requests(
    session: Session,
    runtime: VaultRuntime,
    caller: Caller,
    trial_key: str,
    status: str | None = None,
    limit: int = 200,
) -> Sequence[ReidentificationRequest]:
    """The requests the caller may see in a trial, newest first."""
    trial = require_role_in(session, caller, trial_key, Role.REIDENTIFY_REQUESTER, Role.APPROVER)
    _expire_due(session, runtime, caller, trial)
    own_only = Role.APPROVER not in caller.roles_in(trial.id)
    return repo.list_for_trial(
        session, trial.id, caller.principal_id if own_only else None, status, min(limit, 1000)
    )


def get_request(
    session: Session, runtime: VaultRuntime, caller: Caller, trial_key: str, request_id: int
) -> ReidentificationRequest:
    """One request the caller may see."""
    trial = require_role_in(session, caller, trial_key, Role.REIDENTIFY_REQUESTER, Role.APPROVER)
    _expire_due(session, runtime, caller, trial)
    return _visible(caller, trial, repo.get(session, trial.id, request_id))


def _decide(
    session: Session,
    runtime: VaultRuntime,
    caller: Caller,
    trial_key: str,
    request_id: int,
    comment: str,
    approve: bool,
) -> ReidentificationRequest:
    trial = require_role_in(session, caller, trial_key, Role.APPROVER)
    request = repo.get(session, trial.id, request_id, for_update=True)
    if request is None:
        raise NotFoundError("request not found")
    action = "reidentification.approve" if approve else "reidentification.deny"
    if request.requester_id == caller.principal_id:
        raise ForbiddenError(
            "you cannot decide your own request; another approver must",
            audit=_event(caller, action, Outcome.DENIED, trial, request, reason="own request"),
        )
    if request.status != RequestStatus.PENDING.value:
        raise ConflictError(f"request {request.id} is {request.status}, not pending")
    now = utcnow()
    request.decided_by_id = caller.principal_id
    request.decided_at = now
    request.decision_comment = comment.strip()[:MAX_JUSTIFICATION] or None
    if approve:
        hours = trial_config(trial).grant_ttl_hours
        request.status = RequestStatus.APPROVED.value
        request.grant_expires_at = now + timedelta(hours=hours)
    else:
        request.status = RequestStatus.DENIED.value
    session.flush()
    record(
        session,
        runtime,
        _event(caller, action, Outcome.SUCCESS, trial, request, comment=request.decision_comment),
    )
    return request


def approve(
    session: Session,
    runtime: VaultRuntime,
    caller: Caller,
    trial_key: str,
    request_id: int,
    comment: str = "",
) -> ReidentificationRequest:
    """Approve another principal's pending request; its grant starts now."""
    return _decide(session, runtime, caller, trial_key, request_id, comment, approve=True)


def deny(
    session: Session,
    runtime: VaultRuntime,
    caller: Caller,
    trial_key: str,
    request_id: int,
    comment: str = "",
) -> ReidentificationRequest:
    """Deny another principal's pending request."""
    return _decide(session, runtime, caller, trial_key, request_id, comment, approve=False)


def release(
    session: Session, runtime: VaultRuntime, caller: Caller, trial_key: str, request_id: int
) -> Release:
    """Spend the caller's approved, unexpired grant: the originals, once."""
    trial = require_role_in(session, caller, trial_key, Role.REIDENTIFY_REQUESTER)
    request = repo.get(session, trial.id, request_id, for_update=True)
    if request is None or request.requester_id != caller.principal_id:
        raise NotFoundError("request not found")
    if request.status == RequestStatus.RELEASED.value:
        raise GoneError(
            f"request {request.id} was already released; a grant is used once",
            audit=_event(
                caller,
                "reidentification.release",
                Outcome.REFUSED,
                trial,
                request,
                reason="already used",
            ),
        )
    if request.status == RequestStatus.EXPIRED.value:
        raise GoneError(
            f"the grant of request {request.id} has expired; ask again",
            audit=_event(
                caller,
                "reidentification.release",
                Outcome.REFUSED,
                trial,
                request,
                reason="expired",
            ),
        )
    if request.status != RequestStatus.APPROVED.value:
        raise ConflictError(f"request {request.id} is {request.status}; it has no grant to release")
    now = utcnow()
    if request.grant_expires_at is not None and request.grant_expires_at <= now:
        trial_id, request_id_value = trial.id, request.id

        def mark_expired(own: Session) -> None:
            row = repo.get(own, trial_id, request_id_value, for_update=True)
            if row is not None and row.status == RequestStatus.APPROVED.value:
                row.status = RequestStatus.EXPIRED.value
                own.flush()

        request.status = RequestStatus.EXPIRED.value
        raise GoneError(
            f"the grant of request {request.id} has expired; ask again",
            audit=_event(
                caller,
                "reidentification.expire",
                Outcome.REFUSED,
                trial,
                request,
                reason="expired at release",
            ),
            after_rollback=mark_expired,
        )
    if trial.status == TrialStatus.SHREDDED:
        raise GoneError(f"trial {trial.key} was closed and its keys destroyed")
    pseudonyms = [PseudonymRef(p["kind"], p["pseudonym"]) for p in request.pseudonyms]
    released, people = _resolve(session, runtime, trial, pseudonyms, request.subject_ids)
    request.status = RequestStatus.RELEASED.value
    request.released_at = now
    session.flush()
    record(
        session,
        runtime,
        _event(
            caller,
            "reidentification.release",
            Outcome.SUCCESS,
            trial,
            request,
            found=sum(1 for p in released if p.original is not None)
            + sum(1 for s in people if s.patient_key is not None),
        ),
    )
    return Release(request, released, people)


def principal_names(
    session: Session, requests: Sequence[ReidentificationRequest]
) -> dict[int, str]:
    """Names of the requesters and deciders of ``requests``."""
    ids = {r.requester_id for r in requests} | {
        r.decided_by_id for r in requests if r.decided_by_id
    }
    return principals_repo.principal_names(session, ids)
