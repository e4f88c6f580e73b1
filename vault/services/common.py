"""Helpers every service uses: trial ciphers, audit records, scope lookups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from vault.audit import AuditEvent, append
from vault.authz import Caller, require_site_uploader
from vault.crypto import TrialCipher
from vault.errors import AuditUnavailableError, ConflictError, GoneError
from vault.models import AuditRecord, Site, Trial, TrialStatus
from vault.repositories import trials as trials_repo
from vault.runtime import VaultRuntime


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


AnyTrial = Trial | TrialRow


def trial_cipher(session: Session, runtime: VaultRuntime, trial: AnyTrial) -> TrialCipher:
    """The trial's cipher; data keys are fetched (and cached unwrapped) on first use."""
    if trial.status == TrialStatus.SHREDDED:
        raise GoneError(f"trial {trial.key} was closed and its keys destroyed")
    return runtime.barrier.cipher(
        trial.key,
        trial.index_salt,
        trial.current_key_version,
        lambda version: trials_repo.get_data_key(session, trial.id, version),
    )


def record(session: Session, runtime: VaultRuntime, event: AuditEvent) -> AuditRecord:
    """Audit ``event`` in the caller's transaction: no audit, no answer."""
    try:
        return append(session, runtime.signer, event)
    except SQLAlchemyError:
        raise AuditUnavailableError(
            "the audit log cannot be written, so the request was not carried out"
        ) from None


def require_open(trial: AnyTrial) -> None:
    """Only open trials take new subjects and mappings."""
    if trial.status == TrialStatus.SHREDDED:
        raise GoneError(f"trial {trial.key} was closed and its keys destroyed")
    if trial.status != TrialStatus.OPEN:
        raise ConflictError(f"trial {trial.key} is {trial.status}; it takes no new mappings")


_TRIALS = Trial.__table__
_SITES = Site.__table__
_TRIAL_COLUMNS = ("id", "key", "sponsor_name", "protocol_id", "protocol_name", "settings",
                  "index_salt", "status", "current_key_version")  # fmt: skip
_SITE_COLUMNS = ("id", "trial_id", "site_key", "name")
# Compiled once: every file's batch starts with this lookup.
_UPLOAD_SCOPE = (
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


def upload_scope(
    session: Session, caller: Caller, trial_key: str, site_key: str
) -> tuple[TrialRow, SiteRow]:
    """The trial and site a site uploader works in (404 outside its scope)."""
    row = (
        session.connection()
        .execute(_UPLOAD_SCOPE, {"trial_key": trial_key, "site_key": site_key})
        .one_or_none()
    )
    trial: TrialRow | None = None
    site: SiteRow | None = None
    if row is not None:
        trial = TrialRow(*row[: len(_TRIAL_COLUMNS)])
        if row.site_id is not None:
            site = SiteRow(*row[len(_TRIAL_COLUMNS) :])
    site = require_site_uploader(caller, trial, site)
    assert trial is not None
    return trial, site
