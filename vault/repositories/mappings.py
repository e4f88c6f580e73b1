"""SQL for mappings and subjects: the hot path of every de-identified file.

Core statements, not the ORM, compiled once. A file's batch of new originals costs
one statement: a multi-row ``INSERT ... ON CONFLICT DO NOTHING`` that also checks
the trial; only rows it did not write are read back, with the trial's state.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import (
    Boolean,
    Insert,
    LargeBinary,
    Row,
    String,
    bindparam,
    exists,
    func,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from vault.db import PLAN_EACH_TIME
from vault.models import Mapping, Subject, Trial, TrialStatus, utcnow
from vault.repositories.dialect import insert_ignoring_conflicts, insert_ignoring_conflicts_on

_MAPPINGS = Mapping.__table__
_SUBJECTS = Subject.__table__
# Stay well under SQLite's bound-parameter limit per statement.
_CHUNK = 400


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# Built once: the hot path only binds parameters to an already compiled statement.
# Every column of the unique index (trial_id, kind, blind_index) is constrained, so
# both databases answer from the index instead of scanning the trial's mappings;
# planned on every execution, so a plan made while the table was small is not kept.
_FIND_PSEUDONYMS = (
    select(_MAPPINGS.c.kind, _MAPPINGS.c.blind_index, _MAPPINGS.c.pseudonym)
    .where(
        _MAPPINGS.c.trial_id == bindparam("trial_id"),
        _MAPPINGS.c.kind.in_(bindparam("kinds", expanding=True)),
        _MAPPINGS.c.blind_index.in_(bindparam("blind_indexes", expanding=True)),
    )
    .execution_options(**{PLAN_EACH_TIME: True})
)


def find_pseudonyms(
    session: Session, trial_id: int, keys: Sequence[tuple[str, bytes]]
) -> dict[tuple[str, bytes], str]:
    """Existing pseudonyms of ``(kind, blind_index)`` pairs."""
    wanted = set(keys)
    found: dict[tuple[str, bytes], str] = {}
    for chunk in _chunks(keys):
        # The session's connection directly: Core rows, no ORM execution layer.
        rows = session.connection().execute(
            _FIND_PSEUDONYMS,
            {
                "trial_id": trial_id,
                "kinds": sorted({kind for kind, _ in chunk}),
                "blind_indexes": [blind_index for _, blind_index in chunk],
            },
        )
        for kind, blind_index, pseudonym in rows:
            # The blind index covers the kind too; the check keeps kinds apart regardless.
            key = (kind, bytes(blind_index))
            if key in wanted:
                found[key] = pseudonym
    return found


_TRIALS = Trial.__table__
# The trial's current state and the batch's existing mappings in one round trip.
_FIND_WITH_TRIAL_STATE = (
    select(
        _TRIALS.c.status,
        _TRIALS.c.current_key_version,
        _MAPPINGS.c.kind,
        _MAPPINGS.c.blind_index,
        _MAPPINGS.c.pseudonym,
    )
    .select_from(
        _TRIALS.outerjoin(
            _MAPPINGS,
            (_MAPPINGS.c.trial_id == _TRIALS.c.id)
            & _MAPPINGS.c.kind.in_(bindparam("kinds", expanding=True))
            & _MAPPINGS.c.blind_index.in_(bindparam("blind_indexes", expanding=True)),
        )
    )
    .where(_TRIALS.c.id == bindparam("trial_id"))
    .execution_options(**{PLAN_EACH_TIME: True})
)


def find_pseudonyms_and_trial_state(
    session: Session, trial_id: int, keys: Sequence[tuple[str, bytes]]
) -> tuple[str, int, dict[tuple[str, bytes], str]] | None:
    """(status, current key version, existing pseudonyms) of a trial; None if it is gone."""
    head, rest = keys[:_CHUNK], keys[_CHUNK:]
    rows = (
        session.connection()
        .execute(
            _FIND_WITH_TRIAL_STATE,
            {
                "trial_id": trial_id,
                "kinds": sorted({kind for kind, _ in head}),
                "blind_indexes": [blind_index for _, blind_index in head],
            },
        )
        .all()
    )
    if not rows:
        return None
    wanted = set(head)
    found: dict[tuple[str, bytes], str] = {}
    for _status, _version, kind, blind_index, pseudonym in rows:
        if kind is not None and (kind, bytes(blind_index)) in wanted:
            found[(kind, bytes(blind_index))] = pseudonym
    if rest:
        found.update(find_pseudonyms(session, trial_id, rest))
    return rows[0][0], rows[0][1], found


class NewMapping(NamedTuple):
    """A mapping to insert; its trial and key version are the statement's."""

    kind: str
    blind_index: bytes
    original_ciphertext: bytes
    pseudonym: str
    identifying: bool


_NEW_COLUMNS = NewMapping._fields
_NEW_TYPES: dict[str, TypeEngine[Any]] = dict(
    zip(_NEW_COLUMNS, (String(), LargeBinary(), LargeBinary(), String(), Boolean()), strict=True)
)
# Rows are written only while the trial is open at the key version that sealed them:
# checked in the INSERT itself, so a batch of new originals is one round trip.
_TRIAL_TAKES_MAPPINGS = exists().where(
    _TRIALS.c.id == bindparam("trial_id"),
    _TRIALS.c.status == TrialStatus.OPEN.value,
    _TRIALS.c.current_key_version == bindparam("key_version"),
)
# Rows per statement on SQLite: seven parameters a row, well under its limit.
_INSERT_ROWS = 100


@lru_cache(maxsize=2 * _INSERT_ROWS)
def _insert_statement(dialect: str, rows: int) -> Insert:
    """INSERT ... SELECT of new rows, trial checked; built once per database and row count."""
    items: Any
    if dialect == "postgresql":
        # One array per column: one short statement for any number of rows.
        items = (
            func.unnest(
                *(bindparam(name, type_=postgresql.ARRAY(t)) for name, t in _NEW_TYPES.items())
            )
            .table_valued(*_NEW_COLUMNS)
            .render_derived(name="item")
        )
    else:
        # SELECT ? AS kind, ... UNION ALL SELECT ?, ...: unlike a VALUES construct,
        # SQLAlchemy caches its compiled form.
        items = union_all(
            *(
                select(
                    *(
                        bindparam(f"{name}_{n}", type_=t).label(name)
                        for name, t in _NEW_TYPES.items()
                    )
                )
                for n in range(rows)
            )
        ).cte("item")
    source = select(
        bindparam("trial_id", type_=_MAPPINGS.c.trial_id.type),
        *(items.c[name] for name in _NEW_COLUMNS),
        bindparam("key_version", type_=_MAPPINGS.c.key_version.type),
        bindparam("created_at", type_=_MAPPINGS.c.created_at.type),
    ).where(_TRIAL_TAKES_MAPPINGS)
    return (
        insert_ignoring_conflicts_on(dialect, _MAPPINGS)  # type: ignore[arg-type]
        .from_select(["trial_id", *_NEW_COLUMNS, "key_version", "created_at"], source)
        .returning(_MAPPINGS.c.kind, _MAPPINGS.c.blind_index, _MAPPINGS.c.pseudonym)
    )


def insert_mappings(
    session: Session, trial_id: int, key_version: int, rows: Sequence[NewMapping]
) -> dict[tuple[str, bytes], str]:
    """Insert new mappings sealed under ``key_version``; the pseudonyms of rows written.

    Nothing is written unless the trial is open and ``key_version`` is still its
    current data key version. Rows that collide with an existing mapping (the same
    original, or the same pseudonym of an identifying kind) are skipped.
    """
    if not rows:
        return {}
    dialect = session.get_bind().dialect.name
    shared = {"trial_id": trial_id, "key_version": key_version, "created_at": utcnow()}
    batches: list[tuple[Insert, dict[str, Any]]] = []
    if dialect == "postgresql":
        columns = dict(zip(_NEW_COLUMNS, (list(c) for c in zip(*rows, strict=True)), strict=True))
        batches.append((_insert_statement(dialect, 0), {**shared, **columns}))
    else:
        for chunk in _chunks(rows, _INSERT_ROWS):
            params = {
                f"{name}_{row}": value
                for row, mapping in enumerate(chunk)
                for name, value in zip(_NEW_COLUMNS, mapping, strict=True)
            }
            batches.append((_insert_statement(dialect, len(chunk)), {**shared, **params}))
    connection = session.connection()
    written: dict[tuple[str, bytes], str] = {}
    for statement, params in batches:
        for kind, blind_index, pseudonym in connection.execute(statement, params):
            written[(kind, bytes(blind_index))] = pseudonym
    return written


@dataclass(frozen=True)
class StoredMapping:
    """A mapping row as re-identification and trial export read it."""

    id: int
    kind: str
    blind_index: bytes
    original_ciphertext: bytes
    key_version: int
    pseudonym: str
    identifying: bool


STORED_COLUMNS = (
    Mapping.id,
    Mapping.kind,
    Mapping.blind_index,
    Mapping.original_ciphertext,
    Mapping.key_version,
    Mapping.pseudonym,
    Mapping.identifying,
)


def stored(row: Row[int, str, bytes, bytes, int, str, bool]) -> StoredMapping:
    """A row of :data:`STORED_COLUMNS` as a :class:`StoredMapping`."""
    return StoredMapping(row[0], row[1], bytes(row[2]), bytes(row[3]), row[4], row[5], row[6])


def find_by_pseudonyms(
    session: Session, trial_id: int, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], StoredMapping]:
    """Mappings of identifying kinds by ``(kind, pseudonym)``."""
    found: dict[tuple[str, str], StoredMapping] = {}
    for chunk in _chunks(keys):
        rows = session.execute(
            select(*STORED_COLUMNS).where(
                Mapping.trial_id == trial_id,
                Mapping.identifying.is_(True),
                tuple_(Mapping.kind, Mapping.pseudonym).in_(chunk),
            )
        )
        for row in rows:
            mapping = stored(row)
            found[(mapping.kind, mapping.pseudonym)] = mapping
    return found


def mappings_below_version(
    session: Session, trial_id: int, version: int, after_id: int, limit: int
) -> list[StoredMapping]:
    """A batch of mappings sealed under an older data key, in id order after ``after_id``."""
    rows = session.execute(
        select(*STORED_COLUMNS)
        .where(Mapping.trial_id == trial_id, Mapping.key_version < version, Mapping.id > after_id)
        .order_by(Mapping.id)
        .limit(limit)
    )
    return [stored(row) for row in rows]


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


def holds_data(session: Session, trial_id: int) -> bool:
    """Whether the trial has enrolled a subject or issued a pseudonym."""
    return bool(
        session.execute(
            select(
                exists().where(Subject.trial_id == trial_id)
                | exists().where(Mapping.trial_id == trial_id)
            )
        ).scalar_one()
    )


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


@dataclass(frozen=True)
class EnrolledSubject:
    """What enrollment reads back: the subject ID and its sealed date offset."""

    subject_id: str
    key_version: int
    date_offset_ciphertext: bytes
    patient_blind_index: bytes


_FIND_ENROLLED = (
    select(
        _SUBJECTS.c.subject_id,
        _SUBJECTS.c.key_version,
        _SUBJECTS.c.date_offset_ciphertext,
        _SUBJECTS.c.patient_blind_index,
    )
    .where(
        _SUBJECTS.c.trial_id == bindparam("trial_id"),
        _SUBJECTS.c.patient_blind_index == bindparam("blind_index"),
    )
    .execution_options(**{PLAN_EACH_TIME: True})
)


def find_enrolled(session: Session, trial_id: int, blind_index: bytes) -> EnrolledSubject | None:
    """The subject of this patient blind index (Core, for the enrollment path)."""
    row = (
        session.connection()
        .execute(_FIND_ENROLLED, {"trial_id": trial_id, "blind_index": blind_index})
        .one_or_none()
    )
    return None if row is None else EnrolledSubject(row[0], row[1], bytes(row[2]), bytes(row[3]))


def insert_subject(session: Session, row: dict[str, Any]) -> bool:
    """Insert a subject unless its patient or subject ID is already enrolled; True if new."""
    statement = insert_ignoring_conflicts(session, _SUBJECTS).returning(  # type: ignore[arg-type]
        _SUBJECTS.c.id
    )
    return session.connection().execute(statement, row).first() is not None


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
