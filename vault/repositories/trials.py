"""SQL for trials, sites and data keys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from vault.crypto import WrappedDataKey
from vault.models import DataKey, Site, Trial, utcnow


def get_trial(session: Session, key: str) -> Trial | None:
    """The trial called ``key``."""
    return session.scalars(select(Trial).where(Trial.key == key)).one_or_none()


def get_trial_by_id(session: Session, trial_id: int) -> Trial | None:
    """The trial with primary key ``trial_id``."""
    return session.get(Trial, trial_id)


def list_trials(session: Session, ids: set[int] | None = None) -> Sequence[Trial]:
    """Every trial (or those in ``ids``), by key."""
    statement = select(Trial).order_by(Trial.key)
    if ids is not None:
        statement = statement.where(Trial.id.in_(ids))
    return session.scalars(statement).all()


def add_trial(session: Session, trial: Trial) -> Trial:
    """Insert ``trial`` (flushes, so a duplicate key fails here)."""
    session.add(trial)
    session.flush()
    return trial


def get_site(session: Session, trial_id: int, site_key: str) -> Site | None:
    """Site ``site_key`` of the trial."""
    return session.scalars(
        select(Site).where(Site.trial_id == trial_id, Site.site_key == site_key)
    ).one_or_none()


def list_sites(session: Session, trial_id: int) -> Sequence[Site]:
    """Every site of the trial, by key."""
    return session.scalars(
        select(Site).where(Site.trial_id == trial_id).order_by(Site.site_key)
    ).all()


def add_site(session: Session, site: Site) -> Site:
    """Insert ``site``."""
    session.add(site)
    session.flush()
    return site


def next_enrollment_number(session: Session, site_id: int) -> int:
    """Atomically increment the site's enrollment counter and return the new value."""
    return session.execute(
        update(Site)
        .where(Site.id == site_id)
        .values(enrollment_counter=Site.enrollment_counter + 1)
        .returning(Site.enrollment_counter)
    ).scalar_one()


def get_data_key(session: Session, trial_id: int, version: int) -> WrappedDataKey | None:
    """Data key ``version`` of the trial, wrapped."""
    row = session.execute(
        select(DataKey.version, DataKey.master_key_version, DataKey.wrapped_key).where(
            DataKey.trial_id == trial_id, DataKey.version == version
        )
    ).one_or_none()
    return None if row is None else WrappedDataKey(row[0], row[1], row[2])


def add_data_key(session: Session, trial_id: int, key: WrappedDataKey) -> None:
    """Store a newly generated (wrapped) data key."""
    session.add(
        DataKey(
            trial_id=trial_id,
            version=key.version,
            master_key_version=key.master_version,
            wrapped_key=key.wrapped,
        )
    )
    session.flush()


def data_keys_not_wrapped_by(
    session: Session, master_version: int
) -> Sequence[tuple[DataKey, str]]:
    """Data keys (with their trial's key) wrapped by an older master key version."""
    rows = session.execute(
        select(DataKey, Trial.key)
        .join(Trial, Trial.id == DataKey.trial_id)
        .where(DataKey.master_key_version != master_version)
        .order_by(DataKey.id)
    ).all()
    return [(row[0], row[1]) for row in rows]


def store_rewrapped(session: Session, data_key: DataKey, key: WrappedDataKey) -> None:
    """Replace a data key's wrapped form."""
    data_key.master_key_version = key.master_version
    data_key.wrapped_key = key.wrapped
    data_key.rewrapped_at = utcnow()
    session.flush()


def destroy_keys(session: Session, trial: Trial) -> int:
    """Delete every wrapped data key of the trial and its index salt; return how many keys."""
    result = session.execute(delete(DataKey).where(DataKey.trial_id == trial.id))
    trial.index_salt = None
    session.flush()
    return int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class TrialRow:
    """A trial read as plain columns (the hot path needs no ORM identity map)."""

    id: int
    key: str
    sponsor_name: str
    protocol_id: str
    protocol_name: str
    settings: dict[str, Any]
    index_salt: bytes | None
    status: str
    current_key_version: int


@dataclass(frozen=True, slots=True)
class SiteRow:
    """A site read as plain columns."""

    id: int
    trial_id: int
    site_key: str
    name: str


_TRIALS = Trial.__table__
_SITES = Site.__table__
_TRIAL_COLUMNS = ("id", "key", "sponsor_name", "protocol_id", "protocol_name", "settings",
                  "index_salt", "status", "current_key_version")  # fmt: skip
_SITE_COLUMNS = ("id", "trial_id", "site_key", "name")
# Compiled once: enrolment, trial information and uploads start with this lookup.
_TRIAL_AND_SITE = (
    select(
        *(_TRIALS.c[name] for name in _TRIAL_COLUMNS),
        *(_SITES.c[name].label(f"site_{name}") for name in _SITE_COLUMNS),
    )
    .select_from(
        _TRIALS.outerjoin(
            _SITES,
            (_SITES.c.trial_id == _TRIALS.c.id) & (_SITES.c.site_key == bindparam("site_key")),
        )
    )
    .where(_TRIALS.c.key == bindparam("trial_key"))
)


def trial_and_site_rows(
    session: Session, trial_key: str, site_key: str
) -> tuple[TrialRow | None, SiteRow | None]:
    """Trial ``trial_key`` and its site ``site_key`` as plain rows, in one round trip."""
    row = (
        session.connection()
        .execute(_TRIAL_AND_SITE, {"trial_key": trial_key, "site_key": site_key})
        .one_or_none()
    )
    if row is None:
        return None, None
    trial = TrialRow(*row[: len(_TRIAL_COLUMNS)])
    site = SiteRow(*row[len(_TRIAL_COLUMNS) :]) if row.site_id is not None else None
    return trial, site
