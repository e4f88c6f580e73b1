"""Moving a trial to another vault: out of this barrier into a sealed bundle, and back in.

Export (admin) decrypts the trial's subjects and mappings and writes them, with
the trial's settings and sites, into a :class:`~vault.transfer.bundle.BundleWriter`.
Import (admin) reads a bundle and re-creates the trial under this vault's own
barrier: a new index salt and data key, every original re-encrypted and
re-indexed, the same pseudonyms, subject IDs, date offsets and enrollment
counters. Both are audited with counts and the bundle's hash, never an original;
a refused import is audited too, and leaves nothing behind.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from deid.contract.limits import MAX_ORIGINAL_LENGTH
from deid.contract.subject_ids import MAX_SUBJECT_ID_LENGTH
from deid.contract.trial_config import TRIAL_KEY_PATTERN, TrialConfig
from vault import __version__
from vault.audit import Outcome
from vault.authz import Caller, require_admin
from vault.crypto import Sealed, TrialCipher
from vault.errors import ConflictError, VaultError
from vault.models import MAX_PSEUDONYM_LENGTH, Site, Trial, TrialStatus, utcnow
from vault.repositories import transfer as transfer_repo
from vault.repositories import trials as trials_repo
from vault.runtime import VaultRuntime
from vault.services.common import record, trial_cipher
from vault.services.mappings import KIND_PATTERN, PATIENT_KIND
from vault.services.trials import get_trial, list_sites, new_trial, trial_config
from vault.transfer.bundle import BundleError, BundleReader, BundleWriter

PAGE = 500
"""Rows read per query on export and inserted per statement on import."""
_ORDER = {"site": 0, "subject": 1, "mapping": 2, "end": 3}


@dataclass(frozen=True)
class TransferCounts:
    """What a bundle moves."""

    sites: int
    subjects: int
    mappings: int

    def as_dict(self) -> dict[str, int]:
        """The counts as written into the manifest and the audit records."""
        return {"sites": self.sites, "subjects": self.subjects, "mappings": self.mappings}


@dataclass(frozen=True)
class TransferredTrial:
    """An exported or imported trial: its key, what moved, and the bundle that carried it."""

    trial: str
    counts: TransferCounts
    bundle_sha256: str
    recipient_key_id: str


def _records(
    session: Session,
    trial: Trial,
    cipher: TrialCipher,
    sites: Sequence[Site],
    counts: TransferCounts,
) -> Iterator[dict[str, Any]]:
    yield {
        "type": "manifest",
        "trial": trial.key,
        "exported_at": utcnow().isoformat(),
        "exported_by": f"deid-vault {__version__}",
        "counts": counts.as_dict(),
    }
    yield {
        "type": "trial",
        "config": trial_config(trial).model_dump(mode="json", exclude={"key", "sites"}),
        "status": trial.status,
    }
    for site in sites:
        yield {
            "type": "site",
            "site": site.site_key,
            "name": site.name,
            "enrollment_counter": site.enrollment_counter,
        }
    after = 0
    while subjects := transfer_repo.subjects_after(session, trial.id, after, PAGE):
        for subject in subjects:
            index = subject.patient_blind_index
            patient = Sealed(subject.key_version, subject.patient_key_ciphertext)
            offset = Sealed(subject.key_version, subject.date_offset_ciphertext)
            yield {
                "type": "subject",
                "site": subject.site_key,
                "subject_id": subject.subject_id,
                "sequence": subject.sequence,
                "patient_key": cipher.open_patient_key(index, patient),
                "date_offset_days": cipher.open_date_offset(index, offset),
            }
        after = subjects[-1].id
    after = 0
    while mappings := transfer_repo.mappings_after(session, trial.id, after, PAGE):
        for mapping in mappings:
            sealed = Sealed(mapping.key_version, mapping.original_ciphertext)
            yield {
                "type": "mapping",
                "kind": mapping.kind,
                "original": cipher.open_original(mapping.kind, mapping.blind_index, sealed),
                "pseudonym": mapping.pseudonym,
                "identifying": mapping.identifying,
            }
        after = mappings[-1].id


def export_trial(
    session: Session, runtime: VaultRuntime, caller: Caller, trial_key: str, writer: BundleWriter
) -> TransferredTrial:
    """Write the whole trial into ``writer`` and finish it (admin; a read-only session).

    The session should read one snapshot (see :func:`transfer_repo.begin_snapshot`);
    if the trial still changed under it, the export is refused rather than torn.
    Audit with :func:`record_export` once the bundle is safely written.
    """
    require_admin(caller)
    trial = get_trial(session, caller, trial_key)
    cipher = trial_cipher(session, runtime, trial)  # refuses a crypto-shredded trial
    sites = list_sites(session, trial)
    subjects, mappings = transfer_repo.count_rows(session, trial.id)
    counts = TransferCounts(len(sites), subjects, mappings)
    for item in _records(session, trial, cipher, sites, counts):
        writer.write(item)
    written = TransferCounts(
        writer.counts.get("site", 0),
        writer.counts.get("subject", 0),
        writer.counts.get("mapping", 0),
    )
    if written != counts:
        raise ConflictError(f"trial {trial.key} changed during the export; run the export again")
    return TransferredTrial(trial.key, counts, writer.finish(), writer.recipient_key_id)


def record_export(
    session: Session, runtime: VaultRuntime, caller: Caller, exported: TransferredTrial
) -> None:
    """Audit an export in this (the source) vault: counts and the bundle's hash."""
    require_admin(caller)
    trial = trials_repo.get_trial(session, exported.trial)
    record(
        session,
        runtime,
        caller.event(
            "trial.export",
            Outcome.SUCCESS,
            trial=trial,
            trial_key=exported.trial,
            details={
                **exported.counts.as_dict(),
                "bundle_sha256": exported.bundle_sha256,
                "recipient_key_id": exported.recipient_key_id,
            },
        ),
    )


def _text(
    item: dict[str, Any], field: str, what: str, max_length: int = MAX_ORIGINAL_LENGTH
) -> str:
    value = item.get(field)
    if not isinstance(value, str) or not 0 < len(value) <= max_length:
        raise BundleError(f"a {what} record of the bundle has no valid {field!r}")
    return value


def _integer(item: dict[str, Any], field: str, what: str) -> int:
    value = item.get(field)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BundleError(f"a {what} record of the bundle has no valid {field!r}")
    return value


class _Importer:
    """Re-creates one trial from a bundle's records, batching the inserts."""

    def __init__(self, session: Session, runtime: VaultRuntime, trial: Trial) -> None:
        self.session = session
        self.trial = trial
        self.cipher = trial_cipher(session, runtime, trial)
        self.sites: dict[str, int] = {}
        self.subjects: list[dict[str, Any]] = []
        self.mappings: list[dict[str, Any]] = []
        self.subject_count = 0
        self.mapping_count = 0

    def site(self, item: dict[str, Any]) -> None:
        key = _text(item, "site", "site", 16)
        counter = _integer(item, "enrollment_counter", "site")
        if key in self.sites:
            raise BundleError(f"the bundle holds site {key} twice")
        site = trials_repo.add_site(
            self.session,
            Site(
                trial_id=self.trial.id,
                site_key=key,
                name=_text(item, "name", "site", 64),
                enrollment_counter=counter,
            ),
        )
        self.sites[key] = site.id

    def subject(self, item: dict[str, Any]) -> None:
        site_id = self.sites.get(_text(item, "site", "subject", 16))
        if site_id is None:
            raise BundleError("a subject record of the bundle names a site the bundle lacks")
        patient_key = _text(item, "patient_key", "subject")
        offset = _integer(item, "date_offset_days", "subject")
        index = self.cipher.blind_index(PATIENT_KIND, patient_key)
        sealed = self.cipher.seal_subject(index, patient_key, offset)
        self.subjects.append(
            {
                "trial_id": self.trial.id,
                "site_id": site_id,
                "patient_blind_index": index,
                "subject_id": _text(item, "subject_id", "subject", MAX_SUBJECT_ID_LENGTH),
                "sequence": None
                if item.get("sequence") is None
                else _integer(item, "sequence", "subject"),
                "patient_key_ciphertext": sealed.patient_key,
                "date_offset_ciphertext": sealed.date_offset,
                "key_version": sealed.key_version,
                "created_at": utcnow(),
            }
        )
        self.subject_count += 1
        if len(self.subjects) >= PAGE:
            self.flush_subjects()

    def mapping(self, item: dict[str, Any]) -> None:
        kind = _text(item, "kind", "mapping", 32)
        if not KIND_PATTERN.match(kind) or kind == PATIENT_KIND:
            raise BundleError("a mapping record of the bundle has no valid 'kind'")
        identifying = item.get("identifying")
        if not isinstance(identifying, bool):
            raise BundleError("a mapping record of the bundle has no valid 'identifying'")
        original = _text(item, "original", "mapping")
        index = self.cipher.blind_index(kind, original)
        sealed = self.cipher.seal_original(kind, index, original)
        self.mappings.append(
            {
                "trial_id": self.trial.id,
                "kind": kind,
                "blind_index": index,
                "original_ciphertext": sealed.ciphertext,
                "key_version": sealed.key_version,
                "pseudonym": _text(item, "pseudonym", "mapping", MAX_PSEUDONYM_LENGTH),
                "identifying": identifying,
                "created_at": utcnow(),
            }
        )
        self.mapping_count += 1
        if len(self.mappings) >= PAGE:
            self.flush_mappings()

    def flush_subjects(self) -> None:
        try:
            transfer_repo.insert_subjects(self.session, self.subjects)
        except IntegrityError:
            raise BundleError(
                "the bundle holds two subjects with the same patient or subject ID"
            ) from None
        self.subjects.clear()

    def flush_mappings(self) -> None:
        if self.subjects:
            self.flush_subjects()
        try:
            transfer_repo.insert_mappings(self.session, self.mappings)
        except IntegrityError:
            raise BundleError(
                "the bundle holds two mappings of one original, or one identifying "
                "pseudonym for two originals"
            ) from None
        self.mappings.clear()

    @property
    def counts(self) -> TransferCounts:
        return TransferCounts(len(self.sites), self.subject_count, self.mapping_count)


def _first(records: Iterator[dict[str, Any]], kind: str) -> dict[str, Any]:
    item = next(records, None)
    if item is None or item["type"] != kind:
        raise BundleError(f"the bundle does not start with its {kind} record")
    return item


def _import(
    session: Session, runtime: VaultRuntime, reader: BundleReader, started: list[str]
) -> tuple[TransferredTrial, str]:
    records = reader.records()
    manifest = _first(records, "manifest")
    trial_key = _text(manifest, "trial", "manifest", 64)
    if not re.match(TRIAL_KEY_PATTERN, trial_key):
        raise BundleError("the bundle's manifest has no valid trial key")
    started.append(trial_key)
    if trials_repo.get_trial(session, trial_key) is not None:
        raise ConflictError(
            f"trial {trial_key} already exists in this vault; nothing was imported. "
            "A trial is imported once; check 'deid-vault audit export --action trial.import'"
        )
    described = _first(records, "trial")
    status = described.get("status")
    if status not in (TrialStatus.OPEN.value, TrialStatus.CLOSED.value):
        raise BundleError("the bundle's trial record has no valid status")
    try:
        config = TrialConfig.model_validate({**described.get("config", {}), "key": trial_key})
    except (ValidationError, TypeError):
        raise BundleError("the bundle's trial settings are not valid for this vault") from None
    trial = new_trial(session, runtime, config)
    importer = _Importer(session, runtime, trial)
    handlers = {"site": importer.site, "subject": importer.subject, "mapping": importer.mapping}
    phase = 0
    ended = False
    for item in records:
        kind = item["type"]
        if kind not in _ORDER or _ORDER[kind] < phase or ended:
            raise BundleError(f"the bundle holds a {kind[:20]!r} record out of place")
        phase = _ORDER[kind]
        if kind == "end":
            ended = True
        else:
            handlers[kind](item)
    if not ended:
        raise BundleError("the bundle has no end record (it was not finished)")
    importer.flush_mappings()
    if importer.counts.as_dict() != manifest.get("counts"):
        raise BundleError("the bundle's records do not match the counts in its manifest")
    if status == TrialStatus.CLOSED.value:
        trial.status = status
        trial.closed_at = utcnow()
    session.flush()
    imported = TransferredTrial(trial.key, importer.counts, reader.sha256, reader.recipient_key_id)
    return imported, str(manifest.get("exported_at", ""))[:40]


def import_trial(
    session: Session,
    runtime: VaultRuntime,
    caller: Caller,
    source: IO[bytes],
    private_key: X25519PrivateKey,
) -> TransferredTrial:
    """Re-create the trial in ``source`` under this vault's keys (admin), all or nothing.

    Raises :class:`BundleError` for a bundle that is not whole, not authentic, not
    for ``private_key`` or of a newer format, and :class:`ConflictError` when the
    trial exists here already; the caller's transaction then rolls everything
    back and the refusal is audited in its own transaction.
    """
    require_admin(caller)
    started: list[str] = []
    try:
        reader = BundleReader(source, private_key)
        imported, exported_at = _import(session, runtime, reader, started)
    except VaultError as exc:
        if exc.audit is None:
            exc.audit = caller.event(
                "trial.import",
                Outcome.REFUSED,
                trial_key=started[0] if started else None,
                details={"reason": exc.message},
            )
        raise
    record(
        session,
        runtime,
        caller.event(
            "trial.import",
            Outcome.SUCCESS,
            trial=trials_repo.get_trial(session, imported.trial),
            details={
                **imported.counts.as_dict(),
                "bundle_sha256": imported.bundle_sha256,
                "recipient_key_id": imported.recipient_key_id,
                "exported_at": exported_at,
            },
        ),
    )
    return imported
