"""Key rotation, re-encryption and crypto-shredding, on real keys and databases."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from deid.contract.store import PseudonymRequest
from tests.vault import factories
from tests.vault.databases import database_url, make_settings
from vault.crypto import (
    Barrier,
    DecryptionError,
    KeyPaths,
    LocalKeyRingProvider,
    Sealed,
    add_master_key_version,
    load_index_key,
)
from vault.db import create_vault_engine, upgrade
from vault.errors import GoneError
from vault.models import DataKey, Mapping, Subject, Trial
from vault.runtime import VaultRuntime
from vault.services import keys as key_service
from vault.services import mappings as mapping_service
from vault.services import trials as trial_service
from vault.services.common import trial_cipher

ORIGINALS = [f"1.2.826.0.{i}" for i in range(25)]
PATIENTS = [f"MRN-{i}" for i in range(5)]


@pytest.fixture(scope="module")
def own_keys(key_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("rotation") / "keys"
    shutil.copytree(key_dir, target)
    return target


@pytest.fixture(scope="module")
def rt(
    backend: str, own_keys: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[VaultRuntime]:
    with database_url(backend, tmp_path_factory.mktemp("db")) as url:
        engine = create_vault_engine(url)
        upgrade(engine)
        runtime = VaultRuntime.from_settings(make_settings(url, own_keys), engine=engine)
        try:
            yield runtime
        finally:
            runtime.dispose()


def _populate(rt: VaultRuntime) -> tuple[Trial, dict[str, str], dict[str, str]]:
    trial = factories.trial(rt)
    up = factories.uploader(rt, trial)
    with rt.transaction() as session:
        answers = mapping_service.get_or_create(
            session,
            rt,
            up,
            trial.key,
            "S01",
            [PseudonymRequest("UID", o, f"2.25.{i}") for i, o in enumerate(ORIGINALS)],
        )
    subjects = {}
    for patient in PATIENTS:
        with rt.transaction() as session:
            subjects[patient] = mapping_service.enroll(
                session, rt, up, trial.key, "S01", patient
            ).subject_id
    return trial, dict(zip(ORIGINALS, map(str, answers), strict=True)), subjects


def _read_everything(rt: VaultRuntime, trial_key: str) -> tuple[set[str], set[str], set[int]]:
    """Decrypt every mapping and subject of the trial through the barrier."""
    with rt.transaction() as session:
        trial = session.scalars(select(Trial).where(Trial.key == trial_key)).one()
        cipher = trial_cipher(session, rt, trial)
        originals, patients, versions = set(), set(), set()
        for m in session.scalars(select(Mapping).where(Mapping.trial_id == trial.id)):
            context = {"table": "mappings", "kind": m.kind, "blind_index": m.blind_index.hex()}
            originals.add(cipher.decrypt(Sealed(m.key_version, m.original_ciphertext), context))
            versions.add(m.key_version)
        for s in session.scalars(select(Subject).where(Subject.trial_id == trial.id)):
            context = {
                "table": "subjects",
                "field": "patient_key",
                "blind_index": s.patient_blind_index.hex(),
            }
            patients.add(cipher.decrypt(Sealed(s.key_version, s.patient_key_ciphertext), context))
            versions.add(s.key_version)
        return originals, patients, versions


def test_master_rotation_rewraps_and_everything_stays_readable(
    rt: VaultRuntime, own_keys: Path
) -> None:
    trial, _, _ = _populate(rt)
    admin = factories.admin(rt)
    new_version = add_master_key_version(KeyPaths.in_directory(own_keys).master)
    with rt.transaction() as session:
        assert key_service.rewrap_data_keys(session, rt, admin) >= 1
    with rt.transaction() as session:
        masters = set(session.scalars(select(DataKey.master_key_version)))
    assert masters == {new_version}
    # A vault process started afresh (new barrier, nothing cached) reads everything.
    fresh = VaultRuntime.from_settings(
        make_settings(str(rt.engine.url.render_as_string(False)), own_keys), engine=rt.engine
    )
    originals, patients, _ = _read_everything(fresh, trial.key)
    assert originals == set(ORIGINALS) and patients == set(PATIENTS)


def test_data_key_rotation_and_resumable_reencryption(rt: VaultRuntime) -> None:
    trial, pseudonyms, subjects = _populate(rt)
    admin = factories.admin(rt)
    with rt.transaction() as session:
        assert key_service.rotate_data_key(session, rt, admin, trial.key) == 2
    up = factories.uploader(rt, trial)
    with rt.transaction() as session:
        new = mapping_service.get_or_create(
            session, rt, up, trial.key, "S01", [PseudonymRequest("UID", "9.9.9", "2.25.999")]
        )
    assert new == ["2.25.999"]
    originals, patients, versions = _read_everything(rt, trial.key)
    assert versions == {1, 2} and "9.9.9" in originals and patients == set(PATIENTS)
    # One batch, then the job "stops"; a new process resumes where it left off.
    with rt.transaction() as session:
        first = key_service.reencrypt_batch(session, rt, admin, trial.key, batch_size=7)
    assert first.reencrypted == 7 and first.remaining == len(ORIGINALS) + len(PATIENTS) - 7
    resumed = VaultRuntime(rt.engine, rt.sessions, rt.barrier, rt.signer, rt.limits, rt.auth)
    remaining = first.remaining
    while remaining:
        with resumed.transaction() as session:
            remaining = key_service.reencrypt_batch(session, resumed, admin, trial.key, 7).remaining
    originals, patients, versions = _read_everything(rt, trial.key)
    assert versions == {2}
    assert originals == set(ORIGINALS) | {"9.9.9"} and patients == set(PATIENTS)
    with rt.transaction() as session:  # mappings and subjects unchanged
        again = mapping_service.get_or_create(
            session, rt, up, trial.key, "S01", [PseudonymRequest("UID", ORIGINALS[3], "x")]
        )
        enrolled = mapping_service.enroll(session, rt, up, trial.key, "S01", PATIENTS[2])
    assert again == [pseudonyms[ORIGINALS[3]]]
    assert enrolled.subject_id == subjects[PATIENTS[2]] and not enrolled.created


def test_a_shredded_trial_cannot_be_recovered(rt: VaultRuntime, own_keys: Path) -> None:
    trial, _, _ = _populate(rt)
    admin = factories.admin(rt)
    with rt.transaction() as session:
        stored = [
            (m.kind, m.blind_index, m.original_ciphertext, m.key_version)
            for m in session.scalars(select(Mapping).where(Mapping.trial_id == trial.id))
        ]
        closed = trial_service.close_trial(session, rt, admin, trial.key, destroy_keys=True)
    assert closed.status == "shredded" and closed.destroyed_data_keys == 1
    with rt.transaction() as session:
        row = session.scalars(select(Trial).where(Trial.key == trial.key)).one()
        assert row.index_salt is None
        assert not session.scalars(select(DataKey).where(DataKey.trial_id == trial.id)).all()
        with pytest.raises(GoneError, match="destroyed"):
            trial_cipher(session, rt, row)
    # Even a process holding every key file cannot decrypt: the data keys are gone.
    paths = KeyPaths.in_directory(own_keys)
    barrier = Barrier(LocalKeyRingProvider(paths.master), load_index_key(paths.index))
    cipher = barrier.cipher(trial.key, None, 1, lambda version: None)
    for kind, blind_index, ciphertext, version in stored:
        with pytest.raises(DecryptionError, match="does not exist"):
            cipher.decrypt(
                Sealed(version, ciphertext),
                {"table": "mappings", "kind": kind, "blind_index": blind_index.hex()},
            )
    # And a guessed original can no longer be confirmed through its blind index: without
    # the destroyed salt, no index key reproduces the stored indexes.
    stored_indexes = {bytes(b) for _, b, _, _ in stored}
    for salt in (b"", b"\x00" * 32, Barrier.new_index_salt()):
        guesser = barrier.cipher(trial.key, salt, 1, lambda version: None)
        assert not {guesser.blind_index("UID", o) for o in ORIGINALS} & stored_indexes
    up = factories.uploader(rt, trial)
    with rt.transaction() as session, pytest.raises(GoneError):
        mapping_service.get_or_create(
            session, rt, up, trial.key, "S01", [PseudonymRequest("UID", ORIGINALS[0], "x")]
        )
