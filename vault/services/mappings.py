"""Enrollment and batched get-or-create: how a site obtains subject IDs and pseudonyms.

Correct under any number of concurrent clients and processes: uniqueness lives in
the database (one subject per patient blind index, one mapping per original
blind index, one original per pseudonym of an identifying kind). Every writer
inserts with ``ON CONFLICT DO NOTHING`` and then reads back what won.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from sqlalchemy.orm import Session

from deid.contract.kinds import is_identifying
from deid.contract.store import Enrollment, PseudonymRequest
from deid.contract.subject_ids import SubjectIdTemplate
from vault.authz import Caller, require_site_uploader
from vault.crypto import Sealed, TrialCipher
from vault.errors import ConflictError, InvalidInputError, NotFoundError
from vault.models import MAX_PSEUDONYM_LENGTH, TrialStatus
from vault.repositories import mappings as mappings_repo
from vault.repositories import trials as trials_repo
from vault.repositories.trials import SiteRow, TrialRow
from vault.runtime import VaultRuntime
from vault.services.common import require_open, trial_cipher, upload_scope
from vault.services.trials import trial_config

PATIENT_KIND = "PATIENT"
"""The blind-index namespace of patient keys (subjects, not mappings)."""
KIND_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]{0,31}$")
MAX_SUBJECT_ID_ATTEMPTS = 20
MAX_KEY_VERSION_ATTEMPTS = 3


def _check_kind(kind: str) -> None:
    if not KIND_PATTERN.match(kind) or kind == PATIENT_KIND:
        raise InvalidInputError(
            f"kind {kind[:40]!r} is not a mapping kind (upper-case letters, digits, '_'; "
            "a PSEUDO class name or UID)"
        )


def _check_original(value: str, runtime: VaultRuntime, what: str = "an original") -> None:
    if not value.strip(" \0"):
        raise InvalidInputError(f"{what} is empty")
    if len(value) > runtime.limits.max_value_length:
        raise InvalidInputError(
            f"{what} is longer than {runtime.limits.max_value_length} characters"
        )


@dataclass(frozen=True, slots=True)
class UploadScope:
    """A site's trial and site rows as this process last read them, and its last batch."""

    trial: TrialRow
    site: SiteRow
    read_first: bool = False
    """The last batch met existing mappings: look the next one up before sealing it."""


def get_or_create(
    session: Session,
    runtime: VaultRuntime,
    caller: Caller,
    trial_key: str,
    site_key: str,
    items: Sequence[PseudonymRequest],
) -> list[str | None]:
    """Answer each item with its canonical pseudonym, in order.

    An existing mapping wins over the proposal; ``None`` means the proposal is
    already another original's pseudonym of an identifying kind (propose again).
    """
    if len(items) > runtime.limits.max_batch_items:
        raise InvalidInputError(
            f"a batch holds at most {runtime.limits.max_batch_items} items, got {len(items)}"
        )
    for item in items:
        _check_kind(item.kind)
        _check_original(item.original, runtime)
        if not item.proposal or len(item.proposal) > MAX_PSEUDONYM_LENGTH:
            raise InvalidInputError(
                f"a proposed pseudonym must be 1 to {MAX_PSEUDONYM_LENGTH} characters"
            )
    scope_key = (trial_key, site_key)
    scope: UploadScope | None = runtime.scopes.get(scope_key)
    if scope is None:
        trial, site = upload_scope(session, caller, trial_key, site_key)
        require_open(trial)
        scope = UploadScope(trial, site)
    else:
        require_site_uploader(caller, scope.trial, scope.site)
    cipher = trial_cipher(session, runtime, scope.trial)
    keys = [(item.kind, cipher.blind_index(item.kind, item.original)) for item in items]
    pending: dict[tuple[str, bytes], PseudonymRequest] = {}
    for key, item in zip(keys, items, strict=True):
        pending.setdefault(key, item)
    distinct, created = len(pending), 0
    found: dict[tuple[str, bytes], str] = {}
    read_first = scope.read_first or not pending
    for _ in range(MAX_KEY_VERSION_ATTEMPTS):
        if read_first:
            scope, existing = _read_back(session, runtime, scope_key, scope, list(pending))
            found.update(existing)
            pending = {key: item for key, item in pending.items() if key not in existing}
        # INSERT ... ON CONFLICT DO NOTHING, which also checks that the trial is open
        # at the key version this process knows: for new originals that is the whole
        # request. What it did not write is read back: another client mapped the
        # original first, or the proposal collided, or the trial changed.
        written = _insert_new(session, runtime, scope.trial, pending)
        found.update(written)
        created += len(written)
        skipped = [key for key in pending if key not in written]
        if not skipped:
            break
        version = scope.trial.current_key_version
        scope, existing = _read_back(session, runtime, scope_key, scope, skipped)
        found.update(existing)
        if scope.trial.current_key_version == version:
            break  # what is still missing collided with another original's pseudonym
        # The data key was rotated since this process read the trial: seal the rest
        # under the new version.
        pending = {key: pending[key] for key in skipped if key not in existing}
        read_first = False
    else:
        raise ConflictError("the trial's data key changed during the request; send it again")
    # A batch that met existing mappings (a re-run, another worker's originals)
    # predicts the next: that one is looked up before anything is sealed.
    runtime.scopes[scope_key] = replace(scope, read_first=created < distinct)
    return [found.get(key) for key in keys]


def _read_back(
    session: Session,
    runtime: VaultRuntime,
    scope_key: tuple[str, str],
    scope: UploadScope,
    keys: list[tuple[str, bytes]],
) -> tuple[UploadScope, dict[tuple[str, bytes], str]]:
    """The existing pseudonyms of ``keys``, and the scope with the trial's fresh state.

    Refuses (and forgets the scope) when the trial is gone, closed or shredded.
    """
    state = mappings_repo.find_pseudonyms_and_trial_state(session, scope.trial.id, keys)
    if state is None:
        runtime.scopes.pop(scope_key, None)
        raise NotFoundError("trial not found")
    status, version, existing = state
    if status != TrialStatus.OPEN:
        runtime.scopes.pop(scope_key, None)
        require_open(replace(scope.trial, status=status))
    if version != scope.trial.current_key_version:
        scope = replace(scope, trial=replace(scope.trial, current_key_version=version))
    return scope, existing


def _insert_new(
    session: Session,
    runtime: VaultRuntime,
    trial: TrialRow,
    new: dict[tuple[str, bytes], PseudonymRequest],
) -> dict[tuple[str, bytes], str]:
    cipher = trial_cipher(session, runtime, trial)
    rows: list[mappings_repo.NewMapping] = []
    # A fixed insertion order keeps concurrent batches from deadlocking on PostgreSQL.
    for (kind, blind_index), item in sorted(new.items(), key=lambda entry: entry[0]):
        sealed = cipher.seal_original(kind, blind_index, item.original)
        rows.append(
            mappings_repo.NewMapping(
                kind, blind_index, sealed.ciphertext, item.proposal, is_identifying(kind)
            )
        )
    return mappings_repo.insert_mappings(session, trial.id, cipher.current_version, rows)


def lookup(
    session: Session,
    runtime: VaultRuntime,
    caller: Caller,
    trial_key: str,
    site_key: str,
    items: Sequence[tuple[str, str]],
) -> list[str | None]:
    """Forward lookup: the pseudonyms of ``(kind, original)`` pairs, None when unmapped."""
    if len(items) > runtime.limits.max_batch_items:
        raise InvalidInputError(f"a batch holds at most {runtime.limits.max_batch_items} items")
    trial, _site = upload_scope(session, caller, trial_key, site_key)
    for kind, original in items:
        _check_kind(kind)
        _check_original(original, runtime)
    cipher = trial_cipher(session, runtime, trial)
    keys = [(kind, cipher.blind_index(kind, original)) for kind, original in items]
    found = mappings_repo.find_pseudonyms(session, trial.id, list(dict.fromkeys(keys)))
    return [found.get(key) for key in keys]


@lru_cache(maxsize=64)
def _template(text: str) -> SubjectIdTemplate:
    return SubjectIdTemplate.parse(text)


def _random_offset(low: int, high: int) -> int:
    """A uniformly random offset in [low, high], never 0 (0 would leave dates unchanged)."""
    while True:
        offset = low + secrets.randbelow(high - low + 1)
        if offset != 0:
            return offset


def _as_enrollment(
    cipher: TrialCipher, subject: mappings_repo.EnrolledSubject, created: bool
) -> Enrollment:
    offset = cipher.open_date_offset(
        subject.patient_blind_index, Sealed(subject.key_version, subject.date_offset_ciphertext)
    )
    return Enrollment(subject.subject_id, offset, created)


def enroll(
    session: Session,
    runtime: VaultRuntime,
    caller: Caller,
    trial_key: str,
    site_key: str,
    patient_key: str,
) -> Enrollment:
    """Find or enroll the patient: one subject per patient, whoever asks first."""
    trial, site = upload_scope(session, caller, trial_key, site_key)
    _check_original(patient_key, runtime, "the patient key")
    cipher = trial_cipher(session, runtime, trial)
    blind_index = cipher.blind_index(PATIENT_KIND, patient_key)
    subject = mappings_repo.find_enrolled(session, trial.id, blind_index)
    if subject is not None:
        return _as_enrollment(cipher, subject, created=False)
    require_open(trial)
    config = trial_config(trial)
    template = _template(config.subject_id_template)
    offset = _random_offset(config.date_offset_min_days, config.date_offset_max_days)
    sealed = cipher.seal_subject(blind_index, patient_key, offset)
    for _ in range(MAX_SUBJECT_ID_ATTEMPTS):
        sequence = (
            trials_repo.next_enrollment_number(session, site.id) if template.uses_sequence else None
        )
        subject_id = template.render(site.site_key, sequence or 0)
        inserted = mappings_repo.insert_subject(
            session,
            {
                "trial_id": trial.id,
                "site_id": site.id,
                "patient_blind_index": blind_index,
                "subject_id": subject_id,
                "sequence": sequence,
                "patient_key_ciphertext": sealed.patient_key,
                "date_offset_ciphertext": sealed.date_offset,
                "key_version": sealed.key_version,
            },
        )
        if inserted:
            return Enrollment(subject_id, offset, created=True)
        subject = mappings_repo.find_enrolled(session, trial.id, blind_index)
        if subject is not None:  # another worker or site enrolled the patient first
            return _as_enrollment(cipher, subject, created=False)
        # The patient is not enrolled, so the subject ID was taken: draw another.
    raise ConflictError(
        f"no free subject ID found in {MAX_SUBJECT_ID_ATTEMPTS} attempts; "
        "the trial's subject ID template has too few random digits"
    )
