"""Reading inputs into typed quarantines, and writing results in their own syntax."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from engine_fixtures import PATIENT_ID, PATIENT_NAME, ct_dataset, engine, reread, write_file
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
)

from deid.dicomfile import read_input, write_dataset
from deid.outcome import Deidentified, Quarantined, QuarantineError, QuarantineReason


def written(
    tmp_path: Path, syntax: str = ExplicitVRLittleEndian, ds: Dataset | None = None
) -> bytes:
    return write_file(ds or ct_dataset(), tmp_path / "source.dcm", syntax).read_bytes()


def refused(tmp_path: Path, data: bytes) -> QuarantineError:
    path = tmp_path / "bad.dcm"
    path.write_bytes(data)
    with pytest.raises(QuarantineError) as caught:
        read_input(path)
    error = caught.value
    for secret in (PATIENT_NAME, "Kowalczyk", PATIENT_ID, "19700315"):
        assert secret not in error.message
    # the engine turns the same into an outcome, and the file is left as it was
    outcome = engine().process(path)
    assert outcome == Quarantined(error.reason, error.message)
    assert path.read_bytes() == data
    return error


def test_not_dicom(tmp_path):
    error = refused(tmp_path, f"export of {PATIENT_NAME} ({PATIENT_ID})\n".encode())
    assert error.reason is QuarantineReason.NOT_DICOM
    assert refused(tmp_path, b"").reason is QuarantineReason.NOT_DICOM


def test_no_preamble_is_not_read_by_force(tmp_path):
    data = written(tmp_path)
    assert refused(tmp_path, data[132:]).reason is QuarantineReason.NOT_DICOM


@pytest.mark.parametrize("cut", [140, 400, -10], ids=["in-meta", "in-header", "in-pixels"])
def test_truncated(tmp_path, cut):
    data = written(tmp_path)
    error = refused(tmp_path, data[:cut])
    assert error.reason in (QuarantineReason.TRUNCATED, QuarantineReason.MALFORMED)
    if cut < 0:
        assert error.reason is QuarantineReason.TRUNCATED
        assert error.message == "the file ends inside PixelData"


def test_truncated_after_the_file_meta(tmp_path):
    data = written(tmp_path)
    meta_end = 132 + 12 + int.from_bytes(data[140:144], "little")
    error = refused(tmp_path, data[:meta_end])
    assert error.reason is QuarantineReason.TRUNCATED


def test_truncated_inside_a_sequence(tmp_path):
    ds = ct_dataset()
    item = Dataset()
    item.TextValue = "x" * 200
    ds.ContentSequence = Sequence([item])
    ds["ContentSequence"].is_undefined_length = True
    data = written(tmp_path, ds=ds)
    cut = data.index(b"x" * 50)
    assert refused(tmp_path, data[:cut]).reason is QuarantineReason.TRUNCATED


def test_truncated_encapsulated_pixel_data(tmp_path):
    from pydicom import examples

    data = Path(examples.get_path("jpeg2k")).read_bytes()
    assert refused(tmp_path, data[:-500]).reason is QuarantineReason.TRUNCATED


def test_unknown_vr(tmp_path):
    data = bytearray(written(tmp_path))
    at = data.index(b"\x10\x00\x10\x00PN")
    data[at + 4 : at + 6] = b"XX"
    error = refused(tmp_path, bytes(data))
    assert error.reason is QuarantineReason.MALFORMED
    assert error.message == "PatientName has an unknown VR"


def test_huge_short_text_value(tmp_path):
    ds = ct_dataset()
    ds.PatientName = "A" * 100_000
    data = written(tmp_path, ImplicitVRLittleEndian, ds)  # 32-bit lengths: writable
    error = refused(tmp_path, data)
    assert error.reason is QuarantineReason.VALUE_TOO_LONG
    assert error.message == "PatientName holds 100000 bytes, far more than its VR PN allows"


def test_length_field_past_the_end(tmp_path):
    data = bytearray(written(tmp_path, ImplicitVRLittleEndian))
    at = data.index(b"\x10\x00\x20\x00")  # PatientID, implicit VR: 4-byte length
    data[at + 4 : at + 8] = struct.pack("<I", 0x7FFFFFF0)
    assert refused(tmp_path, bytes(data)).reason in (
        QuarantineReason.TRUNCATED,
        QuarantineReason.VALUE_TOO_LONG,
    )


def test_private_transfer_syntax(tmp_path):
    data = written(tmp_path)
    original = ExplicitVRLittleEndian.encode()
    private = b"1.2.3.4.5.6.7.8.9.1"  # same length as 1.2.840.10008.1.2.1
    assert len(private) == len(original)
    error = refused(tmp_path, data.replace(original, private, 1))
    assert error.reason is QuarantineReason.UNSUPPORTED_TRANSFER_SYNTAX


def test_not_an_instance(tmp_path):
    ds = ct_dataset()
    ds.SOPInstanceUID = "1.2.3"
    data = written(tmp_path, ds=ds)
    stripped = dcmread(io.BytesIO(data))
    del stripped.SOPInstanceUID
    buffer = io.BytesIO()
    stripped.save_as(buffer)
    error = refused(tmp_path, buffer.getvalue())
    assert error.reason is QuarantineReason.NOT_AN_INSTANCE


def test_missing_files_are_the_callers_problem(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_input(tmp_path / "absent.dcm")


def test_unparseable_dates_are_never_kept(tmp_path):
    ds = ct_dataset()
    ds.SeriesDate = "yesterday"
    outcome = engine().process(write_file(ds, tmp_path / "in.dcm"))
    assert outcome == Quarantined(
        QuarantineReason.UNPARSEABLE_DATE,
        "SeriesDate holds a DA value that cannot be read as a date or time, so it cannot be moved",
    )


@pytest.mark.parametrize(
    "syntax",
    [
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
        ExplicitVRBigEndian,
        DeflatedExplicitVRLittleEndian,
    ],
)
def test_supported_syntaxes_round_trip(tmp_path, syntax):
    path = write_file(ct_dataset(), tmp_path / "in.dcm", syntax)
    outcome = engine().process(path)
    assert isinstance(outcome, Deidentified)
    result = reread(outcome)
    assert result.file_meta.TransferSyntaxUID == syntax
    original = dcmread(path)
    assert result.PixelData == original.PixelData
    assert result.Rows == 4 and result.BitsAllocated == 16  # binary values in the right order
    assert result.StudyDate != original.StudyDate and len(result.StudyDate) == 8
    assert str(result.PatientName) not in ("", PATIENT_NAME)
    # write_dataset accepts paths as well as file objects
    target = tmp_path / "out.dcm"
    write_dataset(outcome.dataset, target)
    assert dcmread(target).SOPInstanceUID == result.SOPInstanceUID


def test_compressed_pixel_data_is_copied_as_bytes(tmp_path):
    from pydicom import examples

    path = examples.get_path("ybr_color")
    assert dcmread(path).file_meta.TransferSyntaxUID == JPEGBaseline8Bit
    result = reread(engine().process(path))
    assert result.PixelData == dcmread(path).PixelData
