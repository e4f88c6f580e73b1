import io

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from deid.guard import Guard, GuardHit
from deid.identifiers import IdentifierKind, Identifiers

STUDY_UID = "1.2.826.0.1.3680043.8.498.1"


def identifiers() -> Identifiers:
    ids = Identifiers()
    ids.add(IdentifierKind.PATIENT_NAME, "Smith^John")
    ids.add(IdentifierKind.PATIENT_ID, "MRN12345")
    ids.add(IdentifierKind.BIRTH_DATE, "19800102")
    ids.add(IdentifierKind.ACCESSION, "ACC987")
    ids.add(IdentifierKind.UID, STUDY_UID)
    return ids


def clean_result(implicit: bool = False) -> Dataset:
    """A de-identified-looking dataset, written and read back so its values are raw."""
    ds = Dataset()
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "S01-00017"
    ds.StudyDate = "20190102"
    ds.StudyInstanceUID = "2.25.1234"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SeriesNumber = "12345"  # IS: numbers are not scanned
    ds.SeriesDescription = "CT/Head w/o"
    ds.ImageComments = "Smithsonian JOHNSON follow-up"
    ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.8.498.12"  # a kept UID sharing a prefix
    inner = Dataset()
    inner.TextValue = "no findings"
    middle = Dataset()
    middle.ContentSequence = Sequence([inner])
    ds.ContentSequence = Sequence([middle])
    ds.add_new(0x00091010, "LO", "ACME 1.0")
    ds.add_new(0x00090010, "LO", "ACME")
    ds.add_new(0x00091011, "OB", b"opaque\x00bytes\x00")
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPInstanceUID = "2.25.99"
    buffer = io.BytesIO()
    ds.preamble = b"\x00" * 128
    ds.save_as(buffer, enforce_file_format=False, implicit_vr=implicit, little_endian=True)
    return dcmread(io.BytesIO(buffer.getvalue()), force=True)


def scan(ds: Dataset) -> GuardHit | None:
    return Guard(identifiers()).scan(ds, ds.file_meta, ds.preamble)


@pytest.mark.parametrize("implicit", [False, True])
def test_a_clean_result_passes(implicit):
    assert scan(clean_result(implicit)) is None


@pytest.mark.parametrize(
    ("inject", "where", "what"),
    [
        (
            lambda ds: setattr(ds.ContentSequence[0].ContentSequence[0], "TextValue", "JOHN SMITH"),
            "ContentSequence[0].ContentSequence[0].TextValue",
            "patient name",
        ),
        (
            lambda ds: ds.add_new(0x00091012, "UN", b"\x01\x02mrn12345\x00"),
            "(0009,1012)",
            "patient ID",
        ),
        (
            lambda ds: ds.file_meta.add_new(0x00020016, "AE", "SMITH"),
            "file meta SourceApplicationEntityTitle",
            "patient name",
        ),
        (
            lambda ds: setattr(ds, "preamble", b"Smith^John".ljust(128, b"\x00")),
            "preamble",
            "patient name",
        ),
        (
            lambda ds: setattr(ds, "preamble", b"\x01" * 128),
            "preamble",
            "non-zero bytes",
        ),
        (lambda ds: setattr(ds, "ImageComments", "DOB 02/01/1980"), "ImageComments", "birth date"),
        (lambda ds: setattr(ds, "AcquisitionDate", "19800102"), "AcquisitionDate", "birth date"),
        (
            lambda ds: setattr(ds, "ReferencedSOPInstanceUID", STUDY_UID),
            "ReferencedSOPInstanceUID",
            "UID",
        ),
        (
            lambda ds: setattr(ds, "ImageComments", f"see {STUDY_UID}"),
            "ImageComments",
            "UID",
        ),
        (lambda ds: setattr(ds, "StudyID", "ACC987"), "StudyID", "accession number"),
    ],
)
def test_injected_leaks_are_caught_with_place_and_kind(inject, where, what):
    ds = clean_result()
    inject(ds)
    hit = scan(ds)
    assert hit == GuardHit(where, what)
    message = hit.message()
    assert where in message and what in message
    for secret in ("Smith", "MRN12345", "1980", STUDY_UID, "ACC987"):
        assert secret.lower() not in message.lower()


def test_numbers_and_pixels_are_not_scanned():
    ds = clean_result()
    ds.InstanceNumber = "12345"
    ds.Rows = 12345
    ds.PixelData = b"MRN12345" * 8
    ds.add_new(0x60003000, "OW", b"MRN12345" * 8)
    assert scan(ds) is None


def test_skipped_tags_are_the_users_responsibility():
    ds = clean_result()
    ds.add_new(0x00420011, "OB", b"%PDF John Smith")
    assert Guard(identifiers(), skip_tags={0x00420011}).scan(ds, ds.file_meta, None) is None
    assert Guard(identifiers()).scan(ds, ds.file_meta, None) == GuardHit(
        "EncapsulatedDocument", "patient name"
    )


def test_a_moved_date_landing_on_the_birth_date_is_chance_not_a_leak():
    """An infant's scan moved back by the offset onto the birth date: the value is the
    old date's arithmetic, not the birth date copied, so it is not a hit; the same
    value where no date was moved, or moved from a value that held it, still is."""
    ds = clean_result()
    ds.StudyDate = "19800102"
    moved_from_other_day = {(id(ds), 0x00080020): "19800403"}
    assert Guard(identifiers(), moved_dates=moved_from_other_day).scan(ds, None, None) is None
    assert Guard(identifiers()).scan(ds, None, None) == GuardHit("StudyDate", "birth date")
    moved_from_itself = {(id(ds), 0x00080020): "19800102"}
    assert Guard(identifiers(), moved_dates=moved_from_itself).scan(ds, None, None) == GuardHit(
        "StudyDate", "birth date"
    )
    ds.StudyDescription = "born 19800102"  # text is never a moved date
    assert Guard(identifiers(), moved_dates=moved_from_other_day).scan(ds, None, None) == (
        GuardHit("StudyDescription", "birth date")
    )
