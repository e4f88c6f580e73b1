"""SQL for trials, sites and data keys."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select, update
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
