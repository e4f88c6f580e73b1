"""Helpers every service uses: trial ciphers, audit records, scope lookups."""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from vault.audit import AuditEvent, append
from vault.authz import Caller, require_site_uploader
from vault.crypto import TrialCipher
from vault.errors import AuditUnavailableError, ConflictError, GoneError
from vault.models import AuditRecord, Trial, TrialStatus
from vault.repositories import trials as trials_repo
from vault.repositories.trials import SiteRow, TrialRow
from vault.runtime import VaultRuntime

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


def upload_scope(
    session: Session, caller: Caller, trial_key: str, site_key: str
) -> tuple[TrialRow, SiteRow]:
    """The trial and site a site uploader works in (404 outside its scope)."""
    trial, site = trials_repo.trial_and_site_rows(session, trial_key, site_key)
    site = require_site_uploader(caller, trial, site)
    assert trial is not None
    return trial, site
