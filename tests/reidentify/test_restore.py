"""Restoring one data set from what the vault released: identity, UIDs, dates, markers."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian

from deid.contract.reidentification import Pseudonym, SubjectRelease
from deid.dicomfile import write_dataset
from deid.reidentify.restore import RestoreError, identity_from_key, restore_dataset
from deid.reidentify.scan import name_kind, pseudonyms_of, text_kinds
from deid.uids import IMPLEMENTATION_CLASS_UID

CT = "1.2.840.10008.5.1.4.1.1.2"
NEW_SOP, OLD_SOP = "2.25.111", "1.2.826.0.1.3680043.8.498.1"
NEW_STUDY, OLD_STUDY = "2.25.222", "1.2.826.0.1.3680043.8.498.2"
NEW_REF, OLD_REF = "2.25.333", "1.2.826.0.1.3680043.8.498.3"
UNKNOWN_UID = "2.25.999"
ORIGINALS: dict[Pseudonym, str | None] = {
    Pseudonym("UID", NEW_SOP): OLD_SOP,
    Pseudonym("UID", NEW_STUDY): OLD_STUDY,
    Pseudonym("UID", NEW_REF): OLD_REF,
    Pseudonym("UID", UNKNOWN_UID): None,
    Pseudonym("FULL_NAME", "Rowe^Tamara"): "Nakamura^Ingrid",
    Pseudonym("FULL_NAME", "Velez^Brian"): "Dabrowski^Benedetta",
    Pseudonym("ID_ALPHANUMERICAL", "R248YJ2HBA"): "A22233795",
    Pseudonym("HEALTH_INSTITUTION", "Lake Meredith District Hospital"): None,
    Pseudonym("HEALTH_INSTITUTION_CA", "Lake Meredith District Hospital"): "St. Wenceslas",
}


def _dataset(*, by_deid: bool = True, temporal: str | None = "MODIFIED") -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CT
    ds.file_meta.MediaStorageSOPInstanceUID = NEW_SOP
    ds.file_meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID if by_deid else "1.2.3.4"
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = NEW_SOP
    ds.StudyInstanceUID = NEW_STUDY
    ds.PatientName = "Rowe^Tamara"
    ds.PatientID = "07-00013"
    ds.ClinicalTrialSubjectID = "07-00013"
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = ["PS3.15 Basic Application Confidentiality Profile"]
    ds.OperatorsName = "Velez^Brian"
    ds.AccessionNumber = "R248YJ2HBA"
    ds.InstitutionName = "Lake Meredith District Hospital"
    ds.StationName = "ANONYMIZED"
    ds.StudyDate = "20221030"
    ds.ContentDate = "20221031"
    ds.AcquisitionDateTime = "20221030235930.000000"
    if temporal:
        ds.LongitudinalTemporalInformationModified = temporal
    ref = Dataset()
    ref.ReferencedSOPClassUID = CT
    ref.ReferencedSOPInstanceUID = NEW_REF
    ref.VerificationDateTime = "20221031002830"
    inner = Dataset()
    inner.ReferencedSOPSequence = DicomSequence([ref])
    ds.ContentSequence = DicomSequence([inner])
    ds.ReferencedImageSequence = DicomSequence([Dataset()])
    ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID = UNKNOWN_UID
    return ds


SUBJECT = SubjectRelease("07-00013", "id:ST. MRN|H7697147", -52)


def test_patient_keys_give_the_identity() -> None:
    assert identity_from_key("id:ST. MRN|H7697147").patient_id == "H7697147"
    assert identity_from_key("id:ST. MRN|H7697147").issuer == "ST. MRN"
    assert identity_from_key("id:|H1").issuer == ""
    by_name = identity_from_key("name:Doe^Jane|19700101")
    assert (by_name.name, by_name.birth_date, by_name.patient_id) == ("Doe^Jane", "19700101", "")
    assert identity_from_key("study:1.2.3").patient_id == ""
    with pytest.raises(RestoreError, match="form"):
        identity_from_key("ssn:123")


def test_kinds_follow_the_stored_forms() -> None:
    assert name_kind("Rowe^Tamara") == "FULL_NAME"
    assert name_kind("^Tamara") == "GIVEN_NAME"
    assert name_kind("Rowe") == "SURNAME"
    assert text_kinds("AccessionNumber", "SH", "R248YJ2HBA") == ("ID_ALPHANUMERICAL",)
    assert text_kinds("StudyID", "SH", "64364797") == ("ID_ALPHANUMERICAL", "ID_NUMERICAL")
    assert "HEALTH_INSTITUTION_CA" in text_kinds("InstitutionName", "LO", "X Hospital")
    assert text_kinds("StationName", "SH", "ANONYMIZED") == ()


def test_scan_finds_every_pseudonym_but_not_the_subject_or_standard_uids() -> None:
    found = pseudonyms_of(_dataset())
    assert Pseudonym("UID", NEW_REF) in found  # two sequences deep
    assert Pseudonym("UID", UNKNOWN_UID) in found
    assert Pseudonym("FULL_NAME", "Velez^Brian") in found
    assert Pseudonym("ID_ALPHANUMERICAL", "R248YJ2HBA") in found
    assert not {p for p in found if p.value in ("07-00013", CT, IMPLEMENTATION_CLASS_UID)}
    assert not {p for p in found if p.value == "ANONYMIZED"}


def test_a_deid_file_gets_identity_uids_and_every_date_back(tmp_path: Path) -> None:
    ds = _dataset()
    result = restore_dataset(ds, SUBJECT, ORIGINALS)
    write_dataset(ds, tmp_path / "out.dcm")  # a real file, read back
    back = dcmread(tmp_path / "out.dcm")
    assert (back.PatientID, back.IssuerOfPatientID) == ("H7697147", "ST. MRN")
    assert back.PatientName == "Nakamura^Ingrid"
    assert back.OperatorsName == "Dabrowski^Benedetta"
    assert back.AccessionNumber == "A22233795"
    assert back.InstitutionName == "St. Wenceslas"  # the one kind the vault knew
    assert back.SOPInstanceUID == back.file_meta.MediaStorageSOPInstanceUID == OLD_SOP
    assert back.StudyInstanceUID == OLD_STUDY
    ref = back.ContentSequence[0].ReferencedSOPSequence[0]
    assert ref.ReferencedSOPInstanceUID == OLD_REF
    assert back.ReferencedImageSequence[0].ReferencedSOPInstanceUID == UNKNOWN_UID
    # Every date moved back by the 52 days, also across midnight and inside sequences.
    assert (back.StudyDate, back.ContentDate) == ("20221221", "20221222")
    assert back.AcquisitionDateTime == "20221221235930.000000"
    assert ref.VerificationDateTime == "20221222002830"
    assert back.PatientIdentityRemoved == "NO"
    assert "DeidentificationMethod" not in back
    assert back.LongitudinalTemporalInformationModified == "UNMODIFIED"
    assert back.StationName == "ANONYMIZED"
    assert result.dates == 4 and result.kept == 1


def test_dates_stay_when_the_file_says_they_were_not_moved() -> None:
    ds = _dataset(temporal="UNMODIFIED")
    restore_dataset(ds, SUBJECT, ORIGINALS)
    assert (ds.StudyDate, ds.ContentDate) == ("20221030", "20221031")


def test_a_new_object_has_only_the_dates_it_copied_moved_back() -> None:
    ds = _dataset(by_deid=False, temporal=None)
    restore_dataset(ds, SUBJECT, ORIGINALS)
    assert ds.StudyDate == "20221221"  # copied from the de-identified images
    assert ds.ContentDate == "20221031"  # the object's own
    assert ds.AcquisitionDateTime == "20221030235930.000000"
    assert "LongitudinalTemporalInformationModified" not in ds


def test_name_keys_subject_id_names_and_non_ascii_originals(tmp_path: Path) -> None:
    ds = _dataset()
    ds.PatientName = "07-00013"  # deid run --patient-name subject-id
    restore_dataset(ds, SubjectRelease("07-00013", "study:1.2.3", -52), ORIGINALS)
    assert ds.PatientName == "" and ds.PatientID == ""
    ds = _dataset()
    originals = {**ORIGINALS, Pseudonym("FULL_NAME", "Velez^Brian"): "Ørsted^Bjørn"}
    restore_dataset(ds, SubjectRelease("07-00013", "name:Øster^Åse|19610203", -52), originals)
    write_dataset(ds, tmp_path / "utf8.dcm")
    back = dcmread(tmp_path / "utf8.dcm")
    assert back.SpecificCharacterSet == "ISO_IR 192"
    assert back.PatientName == "Øster^Åse" and back.PatientBirthDate == "19610203"
    assert back.OperatorsName == "Ørsted^Bjørn"


def test_an_unknown_subject_is_refused() -> None:
    with pytest.raises(RestoreError, match="no subject 07-00013"):
        restore_dataset(_dataset(), SubjectRelease("07-00013", None, None), ORIGINALS)
