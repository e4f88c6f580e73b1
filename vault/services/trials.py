"""Trials and sites: creation, changing settings, public information, closing (crypto-shredding)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from deid.contract.store import TrialInfo
from deid.contract.trial_config import SITE_ID_PATTERN, TrialConfig
from vault.audit import Outcome
from vault.authz import Caller, can_see_trial, require_admin, require_trial_role
from vault.errors import ConflictError, GoneError, InvalidInputError, NotFoundError
from vault.models import Role, Site, Trial, TrialStatus, utcnow
from vault.repositories import mappings as mappings_repo
from vault.repositories import trials as trials_repo
from vault.runtime import VaultRuntime
from vault.services.common import AnyTrial, record, upload_scope


def trial_config(trial: AnyTrial) -> TrialConfig:
    """The trial's settings as a :class:`TrialConfig` (sites not included)."""
    return TrialConfig.model_validate({**trial.settings, "key": trial.key})


def create_trial(
    session: Session, runtime: VaultRuntime, caller: Caller, config: TrialConfig
) -> Trial:
    """Create a trial with its first data key, index salt and configured sites (admin)."""
    require_admin(caller)
    trial = new_trial(session, runtime, config)
    for site_key, name in config.sites.items():
        trials_repo.add_site(session, Site(trial_id=trial.id, site_key=site_key, name=name))
    record(
        session,
        runtime,
        caller.event(
            "trial.create",
            Outcome.SUCCESS,
            trial=trial,
            details={"sites": sorted(config.sites), "policy": config.reidentification_policy},
        ),
    )
    return trial


def new_trial(session: Session, runtime: VaultRuntime, config: TrialConfig) -> Trial:
    """Insert an open trial with a fresh index salt and data key 1 (no sites, no audit).

    The caller checks the caller's role and records what it did.
    """
    if trials_repo.get_trial(session, config.key) is not None:
        raise ConflictError(f"trial {config.key} already exists")
    trial = trials_repo.add_trial(
        session,
        Trial(
            key=config.key,
            sponsor_name=config.sponsor_name,
            protocol_id=config.effective_protocol_id,
            protocol_name=config.effective_protocol_name,
            settings=config.model_dump(mode="json", exclude={"key", "sites"}),
            index_salt=runtime.barrier.new_index_salt(),
            status=TrialStatus.OPEN.value,
            current_key_version=1,
        ),
    )
    trials_repo.add_data_key(session, trial.id, runtime.barrier.new_data_key(trial.key, 1))
    return trial


def add_site(
    session: Session,
    runtime: VaultRuntime,
    caller: Caller,
    trial_key: str,
    site_key: str,
    name: str,
) -> Site:
    """Add a site to a trial (admin)."""
    require_admin(caller)
    trial = get_trial(session, caller, trial_key)
    if not re.match(SITE_ID_PATTERN, site_key):
        raise InvalidInputError("a site ID is 1-16 letters, digits, '-' or '_'")
    if not 0 < len(name) <= 64:
        raise InvalidInputError("a site name is 1 to 64 characters")
    if trials_repo.get_site(session, trial.id, site_key) is not None:
        raise ConflictError(f"site {site_key} already exists in trial {trial.key}")
    site = trials_repo.add_site(session, Site(trial_id=trial.id, site_key=site_key, name=name))
    record(
        session,
        runtime,
        caller.event("site.create", Outcome.SUCCESS, trial=trial, details={"site": site_key}),
    )
    return site


FIXED_ONCE_IN_USE = {
    "protocol_id": "files already written carry it as their Clinical Trial Protocol ID",
    "subject_id_template": "the subject IDs already issued were made from it",
    "date_offset_min_days": "the date offsets already drawn came from the present range",
    "date_offset_max_days": "the date offsets already drawn came from the present range",
}
"""Settings that stay as they are once a subject is enrolled or a pseudonym issued, and why.

The others (sponsor, protocol name, site names, the re-identification policy, its
bulk limit and grant lifetime) change nothing already written or issued: they
apply from the next file or the next request on.
"""


@dataclass(frozen=True)
class TrialChange:
    """What a change of a trial's settings did (values are settings, never originals)."""

    trial: Trial
    settings: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    """Each changed setting: (old value, new value)."""
    renamed_sites: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Each renamed site: (old name, new name)."""
    added_sites: dict[str, str] = field(default_factory=dict)
    """Each new site: its name."""

    def __bool__(self) -> bool:
        return bool(self.settings or self.renamed_sites or self.added_sites)

    def summary(self) -> list[str]:
        """What changed, in words: setting names, then renamed and added sites."""
        return [
            *self.settings,
            *(f"site {key} renamed" for key in self.renamed_sites),
            *(f"site {key} added" for key in self.added_sites),
        ]


def fixed_settings(session: Session, trial: Trial) -> dict[str, str]:
    """The settings that can no longer change in ``trial``, each with the reason."""
    return dict(FIXED_ONCE_IN_USE) if mappings_repo.holds_data(session, trial.id) else {}


def _changed_config(trial: Trial, changes: Mapping[str, Any]) -> TrialConfig:
    """The trial's settings with ``changes`` applied, checked as a whole (422 if not valid)."""
    if changes.get("key", trial.key) != trial.key:
        raise InvalidInputError(
            "a trial's key cannot change: it names the trial in every encrypted mapping, "
            "in every site's configuration and in the audit log"
        )
    current = trial_config(trial).model_dump(mode="json", exclude={"key", "sites"})
    wanted = {k: v for k, v in changes.items() if k != "key"}
    try:
        return TrialConfig.model_validate({**current, **wanted, "key": trial.key})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidInputError(f"the trial's settings cannot change so: {problems}") from None


def change_trial(
    session: Session,
    runtime: VaultRuntime,
    caller: Caller,
    trial_key: str,
    changes: Mapping[str, Any],
) -> TrialChange:
    """Change an open trial's settings, rename sites, add sites (admin; audited).

    ``changes`` holds any keys of a trial configuration; ``sites`` renames the
    sites it names and adds the new ones (none is removed). The settings in
    :data:`FIXED_ONCE_IN_USE` are refused (409) once the trial holds data.
    """
    trial = get_trial(session, caller, trial_key)
    require_admin(caller)
    if trial.status == TrialStatus.SHREDDED:
        raise GoneError(f"trial {trial.key} was closed and its keys destroyed")
    if trial.status != TrialStatus.OPEN:
        raise ConflictError(f"trial {trial.key} is {trial.status}; its settings no longer change")
    before = trial_config(trial)
    after = _changed_config(trial, changes)
    old, new = (c.model_dump(mode="json", exclude={"key", "sites"}) for c in (before, after))
    settings = {k: (old[k], new[k]) for k in new if old[k] != new[k]}
    fixed = sorted(
        k
        for k in settings
        if k in FIXED_ONCE_IN_USE
        # A protocol ID set to what it already was in effect (the trial key) changes nothing.
        and not (k == "protocol_id" and before.effective_protocol_id == after.effective_protocol_id)
    )
    if fixed and fixed_settings(session, trial):
        reasons = "; ".join(f"{k}: {FIXED_ONCE_IN_USE[k]}" for k in fixed)
        raise ConflictError(
            f"trial {trial.key} already has enrolled subjects or pseudonyms, so "
            f"{', '.join(fixed)} can no longer change ({reasons})"
        )
    existing = {site.site_key: site for site in list_sites(session, trial)}
    renamed = {
        key: (existing[key].name, name)
        for key, name in after.sites.items()
        if key in existing and existing[key].name != name
    }
    added = {key: name for key, name in after.sites.items() if key not in existing}
    change = TrialChange(trial, settings, renamed, added)
    if not change:
        return change
    trial.settings = after.model_dump(mode="json", exclude={"key", "sites"})
    trial.sponsor_name = after.sponsor_name
    trial.protocol_id = after.effective_protocol_id
    trial.protocol_name = after.effective_protocol_name
    for key, (_, name) in renamed.items():
        existing[key].name = name
    for key, name in added.items():
        trials_repo.add_site(session, Site(trial_id=trial.id, site_key=key, name=name))
    session.flush()
    runtime.forget_scopes(trial.key)
    record(
        session,
        runtime,
        caller.event(
            "trial.update",
            Outcome.SUCCESS,
            trial=trial,
            details={
                "settings": {k: list(v) for k, v in settings.items()},
                "renamed_sites": {k: list(v) for k, v in renamed.items()},
                "added_sites": added,
            },
        ),
    )
    return change


def get_trial(session: Session, caller: Caller, trial_key: str) -> Trial:
    """A trial the caller can see (any role in it); 404 otherwise."""
    trial = trials_repo.get_trial(session, trial_key)
    if trial is None or not can_see_trial(caller, trial):
        raise NotFoundError("trial not found")
    return trial


def list_trials(session: Session, caller: Caller) -> Sequence[Trial]:
    """The trials the caller can see."""
    if any(b.trial_id is None for b in caller.bindings):
        return trials_repo.list_trials(session)
    return trials_repo.list_trials(session, {b.trial_id for b in caller.bindings if b.trial_id})


def list_sites(session: Session, trial: Trial) -> Sequence[Site]:
    """The trial's sites."""
    return trials_repo.list_sites(session, trial.id)


def site_trial_info(session: Session, caller: Caller, trial_key: str, site_key: str) -> TrialInfo:
    """What ``deid`` writes into the clinical-trial attributes, for an uploader's site."""
    trial, site = upload_scope(session, caller, trial_key, site_key)
    return TrialInfo(
        trial=trial.key,
        sponsor_name=trial.sponsor_name,
        protocol_id=trial.protocol_id,
        protocol_name=trial.protocol_name,
        site_id=site.site_key,
        site_name=site.name,
    )


@dataclass(frozen=True)
class ClosedTrial:
    """The outcome of closing a trial."""

    trial: str
    status: str
    destroyed_data_keys: int


def close_trial(
    session: Session, runtime: VaultRuntime, caller: Caller, trial_key: str, *, destroy_keys: bool
) -> ClosedTrial:
    """Close a trial (admin); with ``destroy_keys`` crypto-shred it.

    Shredding deletes the wrapped data keys and the blind-index salt: the
    ciphertexts that remain can never be decrypted and the blind indexes can no
    longer confirm a guessed original.
    """
    require_admin(caller)
    trial = get_trial(session, caller, trial_key)
    if trial.status == TrialStatus.SHREDDED:
        raise ConflictError(f"trial {trial.key} is already closed and shredded")
    if trial.status == TrialStatus.CLOSED and not destroy_keys:
        raise ConflictError(f"trial {trial.key} is already closed")
    destroyed = 0
    if destroy_keys:
        destroyed = trials_repo.destroy_keys(session, trial)
        trial.status = TrialStatus.SHREDDED.value
        runtime.barrier.forget(trial.key)
    else:
        trial.status = TrialStatus.CLOSED.value
    trial.closed_at = trial.closed_at or utcnow()
    runtime.forget_scopes(trial.key)
    session.flush()
    record(
        session,
        runtime,
        caller.event(
            "trial.close",
            Outcome.SUCCESS,
            trial=trial,
            details={"destroy_keys": destroy_keys, "destroyed_data_keys": destroyed},
        ),
    )
    return ClosedTrial(trial.key, trial.status, destroyed)


def require_role_in(session: Session, caller: Caller, trial_key: str, *roles: Role) -> Trial:
    """The trial, if the caller holds one of ``roles`` in it (404, then 403)."""
    return require_trial_role(caller, trials_repo.get_trial(session, trial_key), *roles)
