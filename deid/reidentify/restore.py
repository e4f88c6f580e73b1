"""Putting one de-identified data set back: identity, UIDs, dates and markers.

Given what the vault released for the file's subject (patient key, date offset)
and the originals of the pseudonyms asked about:

* **UIDs** everywhere (sequences at any depth, the file meta) go back to their
  originals; a UID the vault does not know (a SEG's own new UIDs) stays.
* **Names and identifiers** (PN values, IDs, institutions...) go back when exactly
  one of the kinds asked for has an original; otherwise they stay.
* **Patient identity** comes from the patient key: ``id:ISSUER|ID`` gives Patient
  ID and Issuer of Patient ID, ``name:NAME|BIRTHDATE`` Patient's Name and Birth
  Date, ``study:UID`` nothing (Patient ID is emptied: the subject ID is not the
  patient's ID). Patient's Name otherwise comes from its FULL_NAME original; one
  that only holds the subject ID (``--patient-name subject-id``) is emptied.
* **Dates** move back by the subject's offset (the inverse of :mod:`deid.dates`).
  A file ``deid run`` wrote (deid-vault's Implementation Class UID) with
  Longitudinal Temporal Information Modified = MODIFIED has every DA and DT moved,
  at any depth. A new object another program made from such files has only the
  dates it copied from them moved: Study Date and Patient's Birth Date; its own
  dates (Content Date...) are real and stay. Times need nothing: offsets are whole
  days.
* **Markers**: Patient Identity Removed becomes NO; De-identification Method and
  its Code Sequence go (PS3.3 requires them only while the identity is removed,
  and they would describe what is no longer true); Longitudinal Temporal
  Information Modified becomes UNMODIFIED where the dates were moved back. The
  Clinical Trial Subject attributes stay: the patient is still that subject.
* The file meta's Media Storage SOP Instance UID follows the SOP Instance UID.

Nothing here logs or raises an original; :class:`Restored` holds counts only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from pydicom import config
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from deid.contract.errors import DeidError
from deid.contract.reidentification import Pseudonym, SubjectRelease
from deid.dates import DateValueError, shift_da, shift_dt
from deid.handlers.names import normalized_name
from deid.reidentify.scan import element_candidates, subject_of, visit_text, wants_text
from deid.uids import IMPLEMENTATION_CLASS_UID
from deid.walk import Visit, element_text, walk

PATIENT_NAME = 0x00100010
PATIENT_ID = 0x00100020
ISSUER_OF_PATIENT_ID = 0x00100021
PATIENT_BIRTH_DATE = 0x00100030
STUDY_DATE = 0x00080020
SOP_INSTANCE_UID = 0x00080018
MEDIA_STORAGE_SOP_INSTANCE_UID = 0x00020003
SPECIFIC_CHARACTER_SET = 0x00080005
PATIENT_IDENTITY_REMOVED = 0x00120062
DEIDENTIFICATION_METHOD = 0x00120063
DEIDENTIFICATION_METHOD_CODES = 0x00120064
TEMPORAL_MODIFIED = 0x00280303
COPIED_DATES = frozenset({STUDY_DATE, PATIENT_BIRTH_DATE})
"""The dates a new object copies from the de-identified files it was made from."""


class RestoreError(DeidError, ValueError):
    """The data set cannot be fully restored (the message names attributes, not values)."""


@dataclass
class Restored:
    """What :func:`restore_dataset` changed, counted (no values)."""

    values: int = 0
    """UIDs, names and identifiers put back."""
    kept: int = 0
    """Values that may be pseudonyms but which the vault does not know (new UIDs...)."""
    dates: int = 0
    dates_moved_all: bool = False


@dataclass(frozen=True)
class PatientIdentity:
    """The identity a patient key gives (values are originals: never log)."""

    patient_id: str = ""
    issuer: str = ""
    name: str | None = None
    birth_date: str | None = None


def identity_from_key(patient_key: str) -> PatientIdentity:
    """The patient's identity from the key it was enrolled by (:func:`deid.engine.patient_key`)."""
    scheme, _, rest = patient_key.partition(":")
    if scheme == "id":
        issuer, _, patient_id = rest.rpartition("|")
        return PatientIdentity(patient_id=patient_id, issuer=issuer)
    if scheme == "name":
        name, _, birth = rest.rpartition("|")
        return PatientIdentity(name=name, birth_date=birth)
    if scheme == "study":
        return PatientIdentity()
    raise RestoreError("the vault's patient key has a form this version of deid does not know")


def _put(dataset: Dataset, tag: int, vr: str, value: object) -> None:
    dataset[tag] = DataElement(tag, vr, value, validation_mode=config.IGNORE)


class _Restorer:
    def __init__(
        self,
        originals: Mapping[Pseudonym, str | None],
        subject_id: str,
        shift: timedelta | None,
        move_all_dates: bool,
    ) -> None:
        self.originals = originals
        self.subject_id = subject_id
        self.shift = shift
        self.move_all_dates = move_all_dates
        self.result = Restored(dates_moved_all=move_all_dates and shift is not None)
        self.changes: list[tuple[Dataset, int, str, str]] = []

    def visit(self, visit: Visit) -> bool:
        if visit.vr == "SQ":
            return True
        if visit.vr in ("DA", "DT"):
            self._date(visit)
        elif wants_text(visit):
            self._values(visit)
        return False

    def _values(self, visit: Visit) -> None:
        text = visit_text(visit)
        candidates = element_candidates(visit, text, self.subject_id)
        if not candidates:
            return
        back: dict[str, str] = {}
        for candidate in candidates:
            found = {o for p in candidate.pseudonyms() if (o := self.originals.get(p)) is not None}
            if len(found) == 1:
                back[candidate.value] = found.pop()
                self.result.values += 1
            else:
                self.result.kept += 1
        if not back:
            return
        if visit.vr == "UI":
            parts = [back.get(part.strip(" \x00"), part) for part in text.split("\\")]
        elif visit.vr == "PN":
            parts = [back.get(normalized_name(part), part) for part in text.split("\\")]
        else:
            parts = [back.get(part.strip(), part) for part in text.split("\\")]
        self.changes.append((visit.dataset, visit.tag, visit.vr, "\\".join(parts)))

    def _date(self, visit: Visit) -> None:
        if self.shift is None:
            return
        top_level_copy = not visit.path and visit.tag in COPIED_DATES
        if not (self.move_all_dates or top_level_copy):
            return
        text = visit_text(visit)
        if not text:
            return
        try:
            moved = (
                shift_da(text, self.shift.days) if visit.vr == "DA" else shift_dt(text, self.shift)
            )
        except DateValueError:
            raise RestoreError(
                f"{visit.path_text()} holds a {visit.vr} value that cannot be read as a date, "
                "so it cannot be moved back"
            ) from None
        self.changes.append((visit.dataset, visit.tag, visit.vr, moved))
        self.result.dates += 1


def written_by_deid(dataset: Dataset) -> bool:
    """True for a file ``deid run`` wrote (its Implementation Class UID is deid-vault's)."""
    meta = getattr(dataset, "file_meta", None)
    return meta is not None and element_text(meta, 0x00020012) == IMPLEMENTATION_CLASS_UID


def restore_dataset(
    dataset: Dataset,
    subject: SubjectRelease,
    originals: Mapping[Pseudonym, str | None],
) -> Restored:
    """Put ``dataset`` (and its file meta) back in place; see the module docstring."""
    if subject.patient_key is None or subject.date_offset_days is None:
        raise RestoreError(f"the vault knows no subject {subject.subject_id}")
    identity = identity_from_key(subject.patient_key)
    temporal = element_text(dataset, TEMPORAL_MODIFIED).upper()
    by_deid = written_by_deid(dataset)
    if by_deid:
        shift = timedelta(days=-subject.date_offset_days) if temporal == "MODIFIED" else None
    else:
        unmoved = temporal in ("UNMODIFIED", "REMOVED")
        shift = None if unmoved else timedelta(days=-subject.date_offset_days)
    restorer = _Restorer(originals, subject_of(dataset), shift, by_deid)
    meta = getattr(dataset, "file_meta", None)
    if meta is not None:
        walk(meta, restorer.visit)
    walk(dataset, restorer.visit)
    for target, tag, vr, value in restorer.changes:
        _put(target, tag, vr, value)
    _write_identity(dataset, identity, subject.subject_id)
    _write_markers(dataset, restorer.result.dates_moved_all)
    if meta is not None and element_text(dataset, SOP_INSTANCE_UID):
        _put(meta, MEDIA_STORAGE_SOP_INSTANCE_UID, "UI", element_text(dataset, SOP_INSTANCE_UID))
    written = [value for *_, value in restorer.changes]
    _ensure_character_set(
        dataset, [*written, identity.name or "", identity.issuer, identity.patient_id]
    )
    return restorer.result


def _write_identity(dataset: Dataset, identity: PatientIdentity, subject_id: str) -> None:
    _put(dataset, PATIENT_ID, "LO", identity.patient_id)
    if identity.issuer:
        _put(dataset, ISSUER_OF_PATIENT_ID, "LO", identity.issuer)
    elif ISSUER_OF_PATIENT_ID in dataset:
        del dataset[ISSUER_OF_PATIENT_ID]
    if identity.name is not None:
        _put(dataset, PATIENT_NAME, "PN", identity.name)
    elif element_text(dataset, PATIENT_NAME) == subject_id:
        _put(dataset, PATIENT_NAME, "PN", "")
    if identity.birth_date:
        _put(dataset, PATIENT_BIRTH_DATE, "DA", identity.birth_date)


def _write_markers(dataset: Dataset, dates_moved_back: bool) -> None:
    _put(dataset, PATIENT_IDENTITY_REMOVED, "CS", "NO")
    for tag in (DEIDENTIFICATION_METHOD, DEIDENTIFICATION_METHOD_CODES):
        if tag in dataset:
            del dataset[tag]
    if dates_moved_back:
        _put(dataset, TEMPORAL_MODIFIED, "CS", "UNMODIFIED")


def _ensure_character_set(dataset: Dataset, values: list[str]) -> None:
    """Originals may not be ASCII; a data set without a character set then gets UTF-8."""
    if SPECIFIC_CHARACTER_SET not in dataset and not all(v.isascii() for v in values):
        _put(dataset, SPECIFIC_CHARACTER_SET, "CS", "ISO_IR 192")
