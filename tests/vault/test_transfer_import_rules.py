"""Import rules for authentic but inconsistent bundles (anyone with transfer.pub can seal one).

Each forged bundle is refused with its reason and leaves no trace but the audit
record of the refusal; a consistent one imports, a closed trial stays closed, and a
crypto-shredded trial cannot be exported at all. Real SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.vault import factories
from vault.errors import ConflictError, GoneError
from vault.models import AuditRecord, Trial
from vault.runtime import VaultRuntime
from vault.services import mappings as mapping_service
from vault.services import trials as trial_service
from vault.transfer.bundle import BundleError, BundleWriter
from vault.transfer.keys import (
    create_transfer_key,
    load_transfer_private_key,
    load_transfer_public_key,
)
from vault.transfer.operations import export_bundle, import_bundle


def _records(key: str, **changes: Any) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = [
        {"type": "manifest", "trial": key, "counts": {"sites": 1, "subjects": 2, "mappings": 2}},
        {"type": "trial", "config": {"sponsor_name": "ACME"}, "status": "open"},
        {"type": "site", "site": "S01", "name": "General", "enrollment_counter": 2},
        {"type": "subject", "site": "S01", "subject_id": "S01-00011", "sequence": 1,
         "patient_key": "id:|MRN-1", "date_offset_days": -40},
        {"type": "subject", "site": "S01", "subject_id": "S01-00027", "sequence": 2,
         "patient_key": "id:|MRN-2", "date_offset_days": -41},
        {"type": "mapping", "kind": "UID", "original": "1.2.3.4", "pseudonym": "2.25.1",
         "identifying": True},
        {"type": "mapping", "kind": "FULL_NAME", "original": "DOE^JANE", "pseudonym": "ROE^ANN",
         "identifying": True},
    ]  # fmt: skip
    for position, replacement in changes.items():
        index = int(position.removeprefix("r"))
        if replacement is None:
            del records[index]
        else:
            records[index] = {**records[index], **replacement}
    return records


def _seal(path: Path, keys: Path, records: list[dict[str, Any]]) -> Path:
    with path.open("wb") as handle:
        writer = BundleWriter(handle, load_transfer_public_key(keys / "transfer.pub"))
        for record in records:
            writer.write(record)
        writer.finish()
    return path


def _exists(runtime: VaultRuntime, key: str) -> bool:
    with runtime.transaction() as session:
        return session.scalars(select(Trial.id).where(Trial.key == key)).first() is not None


def test_inconsistent_bundles_are_refused_and_consistent_ones_import(
    runtime: VaultRuntime, tmp_path: Path
) -> None:
    keys = tmp_path / "transfer"
    create_transfer_key(keys)
    private = load_transfer_private_key(keys / "transfer.key")
    admin = factories.admin(runtime)
    key = factories.unique("MOVED")
    forged = {
        "duplicate subject ID": ({"r4": {"subject_id": "S01-00011"}}, "two subjects"),
        "same patient twice": ({"r4": {"patient_key": "id:|MRN-1"}}, "two subjects"),
        "unknown site": ({"r3": {"site": "S09"}}, "names a site the bundle lacks"),
        "counts": ({"r0": {"counts": {"sites": 1, "subjects": 3, "mappings": 2}}}, "counts"),
        "missing site": ({"r2": None}, "names a site the bundle lacks"),
        "patient kind": ({"r5": {"kind": "PATIENT"}}, "no valid 'kind'"),
        "pseudonym twice": ({"r6": {"kind": "UID", "pseudonym": "2.25.1"}}, "two mappings"),
        "status": ({"r1": {"status": "shredded"}}, "no valid status"),
        "settings": ({"r1": {"config": {"date_offset_min_days": 5}}}, "settings are not valid"),
        "trial key": ({"r0": {"trial": "../etc"}}, "no valid trial key"),
        "no offset": ({"r3": {"date_offset_days": "-40"}}, "'date_offset_days'"),
    }
    cases = {
        name: (_records(key, **changes), message) for name, (changes, message) in forged.items()
    }
    valid = _records(key)
    cases["out of order"] = (
        [*valid[:3], valid[5], valid[3], *valid[4:5], valid[6]],
        "out of place",
    )
    for name, (records, message) in cases.items():
        path = _seal(tmp_path / f"{name}.bundle", keys, records)
        with pytest.raises(BundleError, match=message):
            import_bundle(runtime, admin, path, private)
        assert not _exists(runtime, key), name
    with runtime.transaction() as session:
        refusals = session.scalars(
            select(AuditRecord).where(
                AuditRecord.action == "trial.import", AuditRecord.principal_id == admin.principal_id
            )
        ).all()
    assert [r.outcome for r in refusals] == ["refused"] * len(cases)
    assert not any("MRN" in str(r.details) or "DOE" in str(r.details) for r in refusals)

    closed = _records(key, r1={"status": "closed"})
    imported = import_bundle(runtime, admin, _seal(tmp_path / "ok.bundle", keys, closed), private)
    assert (imported.trial, imported.counts.as_dict()) == (
        key,
        {"sites": 1, "subjects": 2, "mappings": 2},
    )
    with runtime.transaction() as session:
        trial = session.scalars(select(Trial).where(Trial.key == key)).one()
        assert trial.status == "closed" and trial.sponsor_name == "ACME"
    uploader = factories.uploader(runtime, trial, "S01")
    with runtime.transaction() as session:
        known = mapping_service.enroll(session, runtime, uploader, key, "S01", "id:|MRN-2")
    assert (known.subject_id, known.date_offset_days, known.created) == ("S01-00027", -41, False)
    with pytest.raises(ConflictError, match="is closed"), runtime.transaction() as session:
        mapping_service.enroll(session, runtime, uploader, key, "S01", "id:|MRN-3")


def test_a_crypto_shredded_trial_cannot_be_exported(runtime: VaultRuntime, tmp_path: Path) -> None:
    keys = tmp_path / "transfer"
    create_transfer_key(keys)
    trial = factories.trial(runtime)
    admin = factories.admin(runtime)
    with runtime.transaction() as session:
        trial_service.close_trial(session, runtime, admin, trial.key, destroy_keys=True)
    out = tmp_path / "shredded.bundle"
    with pytest.raises(GoneError, match="keys destroyed"):
        export_bundle(
            runtime, admin, trial.key, load_transfer_public_key(keys / "transfer.pub"), out
        )
    assert not out.exists() and list(tmp_path.iterdir()) == [keys]
