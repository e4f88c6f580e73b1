"""Key rotation: rewrap data keys under a new master key, rotate data keys, re-encrypt.

Old key versions stay readable throughout: a rewrap changes only how a data key
is stored, and rows sealed under an older data key decrypt until the
re-encryption job has moved them. The job works in batches, each its own
transaction, so it can stop anywhere and resume where it left off.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from vault.audit import Outcome
from vault.authz import Caller, require_admin
from vault.crypto import LocalKeyRingProvider, Sealed, WrappedDataKey
from vault.errors import GoneError
from vault.models import TrialStatus
from vault.repositories import mappings as mappings_repo
from vault.repositories import trials as trials_repo
from vault.runtime import VaultRuntime
from vault.services.common import record, trial_cipher
from vault.services.trials import get_trial


@dataclass(frozen=True)
class ReencryptProgress:
    """One batch of the re-encryption job."""

    trial: str
    key_version: int
    reencrypted: int
    remaining: int


def rewrap_data_keys(session: Session, runtime: VaultRuntime, caller: Caller) -> int:
    """Rewrap every data key not yet wrapped by the newest master key version (admin)."""
    require_admin(caller)
    if isinstance(runtime.barrier.provider, LocalKeyRingProvider):
        runtime.barrier.provider.reload()
    current = runtime.barrier.provider.current_version
    rows = trials_repo.data_keys_not_wrapped_by(session, current)
    for data_key, trial_key in rows:
        wrapped = runtime.barrier.rewrap(
            trial_key,
            WrappedDataKey(data_key.version, data_key.master_key_version, data_key.wrapped_key),
        )
        trials_repo.store_rewrapped(session, data_key, wrapped)
    record(
        session,
        runtime,
        caller.event(
            "keys.rewrap",
            Outcome.SUCCESS,
            details={"master_key_version": current, "rewrapped": len(rows)},
        ),
    )
    return len(rows)


def rotate_data_key(session: Session, runtime: VaultRuntime, caller: Caller, trial_key: str) -> int:
    """Give a trial a new data key version for everything sealed from now on (admin)."""
    require_admin(caller)
    trial = get_trial(session, caller, trial_key)
    if trial.status == TrialStatus.SHREDDED:
        raise GoneError(f"trial {trial.key} was closed and its keys destroyed")
    version = trial.current_key_version + 1
    trials_repo.add_data_key(session, trial.id, runtime.barrier.new_data_key(trial.key, version))
    trial.current_key_version = version
    session.flush()
    record(
        session,
        runtime,
        caller.event("keys.rotate", Outcome.SUCCESS, trial=trial, details={"key_version": version}),
    )
    return version


def reencrypt_batch(
    session: Session, runtime: VaultRuntime, caller: Caller, trial_key: str, batch_size: int = 500
) -> ReencryptProgress:
    """Move up to ``batch_size`` rows of a trial to its newest data key (admin)."""
    require_admin(caller)
    trial = get_trial(session, caller, trial_key)
    cipher = trial_cipher(session, runtime, trial)
    version = trial.current_key_version
    batch_size = max(1, min(batch_size, 10_000))
    done = 0
    for mapping in mappings_repo.mappings_below_version(session, trial.id, version, 0, batch_size):
        original = cipher.open_original(
            mapping.kind,
            mapping.blind_index,
            Sealed(mapping.key_version, mapping.original_ciphertext),
        )
        sealed = cipher.seal_original(mapping.kind, mapping.blind_index, original)
        mappings_repo.update_mapping_ciphertext(
            session, mapping.id, sealed.ciphertext, sealed.key_version
        )
        done += 1
    if done < batch_size:
        subjects = mappings_repo.subjects_below_version(
            session, trial.id, version, 0, batch_size - done
        )
        for subject in subjects:
            index = subject.patient_blind_index
            patient = cipher.open_patient_key(
                index, Sealed(subject.key_version, subject.patient_key_ciphertext)
            )
            offset = cipher.open_date_offset(
                index, Sealed(subject.key_version, subject.date_offset_ciphertext)
            )
            resealed = cipher.seal_subject(index, patient, offset)
            subject.patient_key_ciphertext = resealed.patient_key
            subject.date_offset_ciphertext = resealed.date_offset
            subject.key_version = resealed.key_version
            done += 1
        session.flush()
    remaining = mappings_repo.count_below_version(session, trial.id, version)
    record(
        session,
        runtime,
        caller.event(
            "keys.reencrypt",
            Outcome.SUCCESS,
            trial=trial,
            details={"key_version": version, "reencrypted": done, "remaining": remaining},
        ),
    )
    return ReencryptProgress(trial.key, version, done, remaining)
