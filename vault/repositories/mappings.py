"""SQL for mappings and subjects: the hot path of every de-identified file.

Core statements, not the ORM: a file's batch costs one SELECT, and for new
originals one multi-row ``INSERT ... ON CONFLICT DO NOTHING`` and one re-SELECT.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, bindparam, func, select, tuple_, update
from sqlalchemy.orm import Session

from vault.models import Mapping, Subject
from vault.repositories.dialect import insert_ignoring_conflicts

_MAPPINGS = Mapping.__table__
_SUBJECTS = Subject.__table__
# Stay well under SQLite's bound-parameter limit per statement.
_CHUNK = 400


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# Built once: the hot path only binds parameters to an already compiled statement.
_FIND_PSEUDONYMS = select(_MAPPINGS.c.kind, _MAPPINGS.c.blind_index, _MAPPINGS.c.pseudonym).where(
    _MAPPINGS.c.trial_id == bindparam("trial_id"),
    _MAPPINGS.c.blind_index.in_(bindparam("blind_indexes", expanding=True)),
)


def find_pseudonyms(
    session: Session, trial_id: int, keys: Sequence[tuple[str, bytes]]
) -> dict[tuple[str, bytes], str]:
    """Existing pseudonyms of ``(kind, blind_index)`` pairs."""
    wanted = set(keys)
    found: dict[tuple[str, bytes], str] = {}
    for chunk in _chunks([blind_index for _, blind_index in keys]):
        rows = session.execute(
            _FIND_PSEUDONYMS, {"trial_id": trial_id, "blind_indexes": list(chunk)}
        )
        for kind, blind_index, pseudonym in rows:
            # The blind index covers the kind too; the check keeps kinds apart regardless.
            key = (kind, bytes(blind_index))
            if key in wanted:
                found[key] = pseudonym
    return found


def insert_mappings(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert new mappings; rows that collide with an existing one are skipped."""
    statement = insert_ignoring_conflicts(session, _MAPPINGS)  # type: ignore[arg-type]
    for chunk in _chunks(rows, 100):
        session.execute(statement, list(chunk))


@dataclass(frozen=True)
class StoredMapping:
    """A mapping row as re-identification reads it."""

    id: int
    kind: str
    blind_index: bytes
    original_ciphertext: bytes
    key_version: int
    pseudonym: str


_STORED_COLUMNS = (
    Mapping.id,
    Mapping.kind,
    Mapping.blind_index,
    Mapping.original_ciphertext,
    Mapping.key_version,
    Mapping.pseudonym,
)


def _stored(row: Row[int, str, bytes, bytes, int, str]) -> StoredMapping:
    return StoredMapping(row[0], row[1], bytes(row[2]), bytes(row[3]), row[4], row[5])


def find_by_pseudonyms(
    session: Session, trial_id: int, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], StoredMapping]:
    """Mappings of identifying kinds by ``(kind, pseudonym)``."""
    found: dict[tuple[str, str], StoredMapping] = {}
    for chunk in _chunks(keys):
        rows = session.execute(
            select(*_STORED_COLUMNS).where(
                Mapping.trial_id == trial_id,
                Mapping.identifying.is_(True),
                tuple_(Mapping.kind, Mapping.pseudonym).in_(chunk),
            )
        )
        for row in rows:
            mapping = _stored(row)
            found[(mapping.kind, mapping.pseudonym)] = mapping
    return found


def mappings_below_version(
    session: Session, trial_id: int, version: int, after_id: int, limit: int
) -> list[StoredMapping]:
    """A batch of mappings sealed under an older data key, in id order after ``after_id``."""
    rows = session.execute(
        select(*_STORED_COLUMNS)
        .where(Mapping.trial_id == trial_id, Mapping.key_version < version, Mapping.id > after_id)
        .order_by(Mapping.id)
        .limit(limit)
    )
    return [_stored(row) for row in rows]


def update_mapping_ciphertext(
    session: Session, mapping_id: int, ciphertext: bytes, key_version: int
) -> None:
    """Store a re-encrypted original."""
    session.execute(
        update(Mapping)
        .where(Mapping.id == mapping_id)
        .values(original_ciphertext=ciphertext, key_version=key_version)
    )


def count_below_version(session: Session, trial_id: int, version: int) -> int:
    """Rows (mappings and subjects) still sealed under an older data key."""
    mappings = session.execute(
        select(func.count())
        .select_from(Mapping)
        .where(Mapping.trial_id == trial_id, Mapping.key_version < version)
    ).scalar_one()
    subjects = session.execute(
        select(func.count())
        .select_from(Subject)
        .where(Subject.trial_id == trial_id, Subject.key_version < version)
    ).scalar_one()
    return int(mappings) + int(subjects)


def find_subject(session: Session, trial_id: int, patient_blind_index: bytes) -> Subject | None:
    """The subject enrolled for this patient key."""
    return session.scalars(
        select(Subject).where(
            Subject.trial_id == trial_id, Subject.patient_blind_index == patient_blind_index
        )
    ).one_or_none()


def find_subjects_by_ids(
    session: Session, trial_id: int, subject_ids: Sequence[str]
) -> dict[str, Subject]:
    """Subjects by their subject IDs."""
    found: dict[str, Subject] = {}
    for chunk in _chunks(subject_ids):
        for subject in session.scalars(
            select(Subject).where(Subject.trial_id == trial_id, Subject.subject_id.in_(chunk))
        ):
            found[subject.subject_id] = subject
    return found


def insert_subject(session: Session, row: dict[str, Any]) -> None:
    """Insert a subject unless its patient or subject ID is already enrolled."""
    session.execute(insert_ignoring_conflicts(session, _SUBJECTS), [row])  # type: ignore[arg-type]


def subjects_below_version(
    session: Session, trial_id: int, version: int, after_id: int, limit: int
) -> Sequence[Subject]:
    """A batch of subjects sealed under an older data key."""
    return session.scalars(
        select(Subject)
        .where(Subject.trial_id == trial_id, Subject.key_version < version, Subject.id > after_id)
        .order_by(Subject.id)
        .limit(limit)
    ).all()
