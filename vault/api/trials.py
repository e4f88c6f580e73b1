"""Trials and sites (admin), and the site uploader's endpoints."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy.orm import Session

from deid.contract.store import PseudonymRequest
from deid.contract.trial_config import TrialConfig
from vault.api.deps import CallerDep
from vault.api.schemas import (
    ClosedTrialOut,
    CloseTrialIn,
    EnrollIn,
    EnrollmentOut,
    ErrorOut,
    LookupBatchIn,
    PseudonymBatchIn,
    PseudonymsOut,
    SiteIn,
    SiteOut,
    TrialChangeIn,
    TrialInfoOut,
    TrialOut,
    TrialsOut,
)
from vault.authz import Caller
from vault.dependencies import RuntimeDep, SessionDep
from vault.errors import InvalidInputError
from vault.models import Trial
from vault.services import mappings as mapping_service
from vault.services import trials as trial_service

router = APIRouter(prefix="/v1/trials", tags=["trials"])


def trial_out(session: Session, caller: Caller, trial: Trial) -> TrialOut:
    """A trial as the caller may see it."""
    return TrialOut(
        key=trial.key,
        sponsor_name=trial.sponsor_name,
        protocol_id=trial.protocol_id,
        protocol_name=trial.protocol_name,
        status=trial.status,
        settings=trial.settings,
        sites=[
            SiteOut(site_id=s.site_key, name=s.name)
            for s in trial_service.list_sites(session, trial)
        ],
        current_key_version=trial.current_key_version if caller.is_admin else None,
    )


@router.post("", status_code=status.HTTP_201_CREATED)
def create_trial(
    config: TrialConfig, session: SessionDep, runtime: RuntimeDep, caller: CallerDep
) -> TrialOut:
    """Create a trial (admin): its settings, sites, first data key and index salt."""
    trial = trial_service.create_trial(session, runtime, caller, config)
    return trial_out(session, caller, trial)


@router.get("")
def list_trials(session: SessionDep, caller: CallerDep) -> TrialsOut:
    """The trials the caller holds a role in (all, for admins and global auditors)."""
    return TrialsOut(
        trials=[trial_out(session, caller, t) for t in trial_service.list_trials(session, caller)]
    )


@router.get("/{trial}")
def get_trial(trial: str, session: SessionDep, caller: CallerDep) -> TrialOut:
    """A trial the caller holds a role in."""
    return trial_out(session, caller, trial_service.get_trial(session, caller, trial))


@router.patch(
    "/{trial}",
    responses={
        404: {"model": ErrorOut, "description": "no such trial, or none the caller can see"},
        403: {"model": ErrorOut, "description": "the caller is not an admin"},
        409: {"model": ErrorOut, "description": "a setting fixed once the trial holds data"},
        410: {"model": ErrorOut, "description": "the trial's keys were destroyed"},
        422: {"model": ErrorOut, "description": "a value that is not valid"},
    },
)
def change_trial(
    trial: str, body: TrialChangeIn, session: SessionDep, runtime: RuntimeDep, caller: CallerDep
) -> TrialOut:
    """Change a trial's settings, rename and add sites (admin; audited as ``trial.update``).

    What sites receive from then on (sponsor, protocol name, site name) follows at once.
    """
    change = trial_service.change_trial(
        session, runtime, caller, trial, body.model_dump(exclude_unset=True)
    )
    return trial_out(session, caller, change.trial)


@router.post("/{trial}/sites", status_code=status.HTTP_201_CREATED)
def add_site(
    trial: str, body: SiteIn, session: SessionDep, runtime: RuntimeDep, caller: CallerDep
) -> SiteOut:
    """Add a site to a trial (admin)."""
    site = trial_service.add_site(session, runtime, caller, trial, body.site_id, body.name)
    return SiteOut(site_id=site.site_key, name=site.name)


@router.post("/{trial}/close")
def close_trial(
    trial: str, body: CloseTrialIn, session: SessionDep, runtime: RuntimeDep, caller: CallerDep
) -> ClosedTrialOut:
    """Close a trial (admin); ``destroy_keys`` crypto-shreds it. ``confirm`` repeats the key."""
    if body.confirm != trial:
        raise InvalidInputError("to close a trial, set 'confirm' to the trial's key")
    closed = trial_service.close_trial(
        session, runtime, caller, trial, destroy_keys=body.destroy_keys
    )
    return ClosedTrialOut(
        trial=closed.trial, status=closed.status, destroyed_data_keys=closed.destroyed_data_keys
    )


@router.get("/{trial}/sites/{site}/info", tags=["uploads"])
def site_info(trial: str, site: str, session: SessionDep, caller: CallerDep) -> TrialInfoOut:
    """The trial's public information for a site (site uploader)."""
    info = trial_service.site_trial_info(session, caller, trial, site)
    return TrialInfoOut(
        trial=info.trial,
        sponsor_name=info.sponsor_name,
        protocol_id=info.protocol_id,
        protocol_name=info.protocol_name,
        site_id=info.site_id,
        site_name=info.site_name,
    )


@router.post("/{trial}/sites/{site}/enroll", tags=["uploads"])
def enroll(
    trial: str,
    site: str,
    body: EnrollIn,
    session: SessionDep,
    runtime: RuntimeDep,
    caller: CallerDep,
) -> EnrollmentOut:
    """Find or enroll a patient (site uploader): subject ID and date offset."""
    e = mapping_service.enroll(session, runtime, caller, trial, site, body.patient_key)
    return EnrollmentOut(
        subject_id=e.subject_id, date_offset_days=e.date_offset_days, created=e.created
    )


@router.post("/{trial}/sites/{site}/pseudonyms", tags=["uploads"])
def get_or_create(
    trial: str,
    site: str,
    body: PseudonymBatchIn,
    session: SessionDep,
    runtime: RuntimeDep,
    caller: CallerDep,
) -> PseudonymsOut:
    """Batched get-or-create (site uploader): the canonical pseudonym of each item."""
    items = [PseudonymRequest(i.kind, i.original, i.proposal) for i in body.items]
    return PseudonymsOut(
        pseudonyms=mapping_service.get_or_create(session, runtime, caller, trial, site, items)
    )


@router.post("/{trial}/sites/{site}/pseudonyms/lookup", tags=["uploads"])
def lookup(
    trial: str,
    site: str,
    body: LookupBatchIn,
    session: SessionDep,
    runtime: RuntimeDep,
    caller: CallerDep,
) -> PseudonymsOut:
    """Forward lookup (site uploader): existing pseudonyms, null where none exists."""
    items = [(i.kind, i.original) for i in body.items]
    return PseudonymsOut(
        pseudonyms=mapping_service.lookup(session, runtime, caller, trial, site, items)
    )
