"""SQL for moving a whole trial: reading its subjects and mappings in pages, bulk inserts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from vault.models import Mapping, Site, Subject
from vault.repositories.mappings import STORED_COLUMNS, StoredMapping, stored

_SUBJECTS = Subject.__table__
_MAPPINGS = Mapping.__table__
_SITES = Site.__table__


@dataclass(frozen=True)
class StoredSubject:
    """A subject row as an export reads it (its site by key)."""

    id: int
    site_key: str
    patient_blind_index: bytes
    subject_id: str
    sequence: int | None
    patient_key_ciphertext: bytes
    date_offset_ciphertext: bytes
    key_version: int


def begin_snapshot(session: Session) -> None:
    """Make the session read one consistent snapshot (a whole trial, over many queries).

    PostgreSQL's default READ COMMITTED takes a new snapshot per statement; an
    export needs REPEATABLE READ. A SQLite read transaction is a snapshot already.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def count_rows(session: Session, trial_id: int) -> tuple[int, int]:
    """How many subjects and mappings the trial holds."""
    subjects = session.execute(
        select(func.count()).select_from(_SUBJECTS).where(_SUBJECTS.c.trial_id == trial_id)
    ).scalar_one()
    mappings = session.execute(
        select(func.count()).select_from(_MAPPINGS).where(_MAPPINGS.c.trial_id == trial_id)
    ).scalar_one()
    return int(subjects), int(mappings)


def subjects_after(
    session: Session, trial_id: int, after_id: int, limit: int
) -> list[StoredSubject]:
    """The next ``limit`` subjects of the trial in id order."""
    rows = session.execute(
        select(
            _SUBJECTS.c.id,
            _SITES.c.site_key,
            _SUBJECTS.c.patient_blind_index,
            _SUBJECTS.c.subject_id,
            _SUBJECTS.c.sequence,
            _SUBJECTS.c.patient_key_ciphertext,
            _SUBJECTS.c.date_offset_ciphertext,
            _SUBJECTS.c.key_version,
        )
        .join(_SITES, _SITES.c.id == _SUBJECTS.c.site_id)
        .where(_SUBJECTS.c.trial_id == trial_id, _SUBJECTS.c.id > after_id)
        .order_by(_SUBJECTS.c.id)
        .limit(limit)
    )
    return [
        StoredSubject(r[0], r[1], bytes(r[2]), r[3], r[4], bytes(r[5]), bytes(r[6]), r[7])
        for r in rows
    ]


def mappings_after(
    session: Session, trial_id: int, after_id: int, limit: int
) -> list[StoredMapping]:
    """The next ``limit`` mappings of the trial in id order."""
    rows = session.execute(
        select(*STORED_COLUMNS)
        .where(_MAPPINGS.c.trial_id == trial_id, _MAPPINGS.c.id > after_id)
        .order_by(_MAPPINGS.c.id)
        .limit(limit)
    )
    return [stored(row) for row in rows]


def insert_subjects(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert subjects; a duplicate patient or subject ID fails the statement."""
    if rows:
        session.connection().execute(insert(Subject), list(rows))


def insert_mappings(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert mappings; a duplicate original (or identifying pseudonym) fails the statement."""
    if rows:
        session.connection().execute(insert(Mapping), list(rows))
