"""What the engine writes into every result: the trial, the markers, the file meta.

* Clinical Trial Subject module (PS3.3 C.7.1.3): Sponsor Name, Protocol ID and
  Name, Site ID and Name from the mapping store's trial info, Subject ID from the
  enrollment; Patient ID is the subject ID.
* Patient Identity Removed = YES, Longitudinal Temporal Information Modified
  (MODIFIED, UNMODIFIED or REMOVED, as the date options say), De-identification
  Method (the profile, each option, the recipe, accepted deviations and payloads,
  and for a run-scoped store "anonymized: no mapping kept") and De-identification
  Method Code Sequence (CID 7050).
* File meta: Media Storage SOP Class/Instance UID copy the (new) SOP Class and
  Instance UID; deid-vault's Implementation Class UID and Version Name; the
  128-byte preamble is zeroed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID

from deid.store.protocol import Enrollment, TrialInfo
from deid.uids import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME

LO_MAX = 64


@dataclass(frozen=True, slots=True)
class MethodCodeItem:
    """One De-identification Method Code Sequence item (CID 7050)."""

    value: str
    scheme: str
    meaning: str


@dataclass(frozen=True, slots=True)
class Markers:
    """The de-identification markers, the same for every file of a run."""

    method: tuple[str, ...]
    """De-identification Method values (LO, one per fact, each at most 64 characters)."""
    codes: tuple[MethodCodeItem, ...]
    temporal: str
    """Longitudinal Temporal Information Modified: MODIFIED, UNMODIFIED or REMOVED."""

    @classmethod
    def build(
        cls,
        facts: Sequence[str],
        codes: Sequence[MethodCodeItem],
        temporal: str,
    ) -> Markers:
        """Markers from facts (each cut to LO's 64 characters), codes and the date state."""
        method = tuple(dict.fromkeys(fact[:LO_MAX].rstrip() for fact in facts if fact.strip()))
        return cls(method, tuple(codes), temporal)


def write_trial(
    dataset: Dataset,
    trial: TrialInfo,
    enrollment: Enrollment,
    markers: Markers,
    extra_facts: Sequence[str] = (),
) -> None:
    """Write the clinical-trial attributes and the de-identification markers."""
    dataset.PatientID = enrollment.subject_id
    if "PatientName" not in dataset:
        dataset.PatientName = ""  # Type 2: present, empty when there was no name
    dataset.ClinicalTrialSponsorName = trial.sponsor_name
    dataset.ClinicalTrialProtocolID = trial.protocol_id
    dataset.ClinicalTrialProtocolName = trial.protocol_name
    dataset.ClinicalTrialSiteID = trial.site_id
    dataset.ClinicalTrialSiteName = trial.site_name
    dataset.ClinicalTrialSubjectID = enrollment.subject_id
    dataset.PatientIdentityRemoved = "YES"
    dataset.LongitudinalTemporalInformationModified = markers.temporal
    method = list(markers.method)
    method += [fact[:LO_MAX].rstrip() for fact in extra_facts if fact not in method]
    if trial.anonymized:
        method.append("anonymized: no mapping kept")
    dataset.DeidentificationMethod = method
    items = []
    for code in markers.codes:
        item = Dataset()
        item.CodeValue = code.value
        item.CodingSchemeDesignator = code.scheme
        item.CodeMeaning = code.meaning
        items.append(item)
    dataset.DeidentificationMethodCodeSequence = DicomSequence(items)


def finish_file_meta(dataset: FileDataset) -> None:
    """Point the file meta at the new instance, describe deid-vault, zero the preamble."""
    meta = dataset.file_meta if hasattr(dataset, "file_meta") else FileMetaDataset()
    meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    dataset.file_meta = meta
    dataset.preamble = b"\x00" * 128
