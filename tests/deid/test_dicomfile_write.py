"""Writing results: the fast encoder's bytes are pydicom's ``dcmwrite`` bytes, exactly.

:func:`deid.dicomfile.encode_native` copies elements still holding their bytes and
leaves every other element to pydicom; these tests compare its output with
``dcmwrite(..., enforce_file_format=True)`` byte for byte on every transfer syntax
the corpus generator writes, for inputs as read and for de-identified results
(sequences descended into, values replaced, private tags removed, trial attributes
added), and check where it steps aside for pydicom.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pydicom import dcmread, dcmwrite, examples
from pydicom.dataelem import RawDataElement
from pydicom.dataset import FileDataset
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
)

from deid.corpus import TRANSFER_SYNTAXES, CorpusManifest
from deid.dicomfile import encode_dataset, encode_native, read_input, write_dataset
from deid.outcome import Deidentified
from deid.writing import input_files
from tests.deid.engine_fixtures import (
    PRIVATE_SOP_CLASS,
    ct_dataset,
    engine,
    one_series_corpus,
    write_file,
)


@pytest.fixture(scope="module", params=sorted(TRANSFER_SYNTAXES))
def corpus(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> CorpusManifest:
    return one_series_corpus(
        tmp_path_factory.mktemp(f"write-{request.param}"), request.param, seed=3
    )


def _pydicom_bytes(dataset: FileDataset) -> bytes:
    buffer = io.BytesIO()
    dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()


def _fast_bytes(dataset: FileDataset) -> bytes:
    encoded = encode_native(dataset)
    assert encoded is not None, "the fast encoder stepped aside"
    return encoded


def test_inputs_as_read_encode_to_pydicoms_bytes(corpus: CorpusManifest) -> None:
    paths = [path for path, _ in input_files(corpus.root)]
    assert len(paths) >= 4  # images, an SR and a key object selection
    for path in paths:
        dataset = read_input(path)
        fast = _fast_bytes(dataset)  # first: dcmwrite converts the pixel data element
        assert fast == _pydicom_bytes(dataset), path.name


def test_results_encode_to_pydicoms_bytes(corpus: CorpusManifest) -> None:
    run = engine(("retain-long-modified-dates", "clean-descriptors", "clean-structured-content"))
    for path, _ in input_files(corpus.root):
        outcome = run.process(path)
        assert isinstance(outcome, Deidentified), outcome
        fast = _fast_bytes(outcome.dataset)
        assert fast == _pydicom_bytes(outcome.dataset), path.name
        again = dcmread(io.BytesIO(fast))
        assert again.SOPInstanceUID == outcome.instance_uid


@pytest.mark.parametrize("name", ["ct", "mr", "rt_dose", "rt_plan", "waveform", "overlay"])
def test_pydicom_examples_encode_to_pydicoms_bytes(name: str) -> None:
    """Empty values, multi-level sequences, RT and waveform objects; where the fast
    encoder steps aside (rt_dose, rt_plan inputs), pydicom's bytes come out all the same."""
    path = examples.get_path(name)
    dataset = read_input(path)
    fast = encode_native(dataset)
    assert fast is None or fast == _pydicom_bytes(dataset)
    assert encode_dataset(dataset) == _pydicom_bytes(dataset)
    outcome = engine().process(path)
    assert isinstance(outcome, Deidentified)
    assert _fast_bytes(outcome.dataset) == _pydicom_bytes(outcome.dataset)


def test_write_dataset_writes_the_same_bytes_to_paths_and_handles(tmp_path: Path) -> None:
    source = write_file(ct_dataset(), tmp_path / "in.dcm")
    outcome = engine().process(source)
    assert isinstance(outcome, Deidentified)
    expected = _pydicom_bytes(outcome.dataset)
    write_dataset(outcome.dataset, tmp_path / "out.dcm")
    handle = io.BytesIO()
    write_dataset(outcome.dataset, handle)
    assert (tmp_path / "out.dcm").read_bytes() == handle.getvalue() == expected


@pytest.mark.parametrize(
    "syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian]
)
def test_undefined_length_sequences_and_items_encode_to_pydicoms_bytes(
    tmp_path: Path, syntax: str
) -> None:
    dataset = ct_dataset()
    dataset.SOPClassUID = PRIVATE_SOP_CLASS  # the reference sequences are kept (U)
    for keyword in ("ReferencedImageSequence", "SourceImageSequence"):
        dataset[keyword].is_undefined_length = True
        for item in dataset[keyword].value:
            item.is_undefined_length_sequence_item = True
    source = write_file(dataset, tmp_path / "in.dcm", syntax)
    assert read_input(source)["SourceImageSequence"].is_undefined_length
    outcome = engine().process(source)
    assert isinstance(outcome, Deidentified)
    sequence = outcome.dataset["SourceImageSequence"]
    assert sequence.is_undefined_length and sequence.value[0].is_undefined_length_sequence_item
    fast = _fast_bytes(outcome.dataset)
    assert fast == _pydicom_bytes(outcome.dataset)
    assert b"\xfe\xff\xdd\xe0" in fast or b"\xff\xfe\xe0\xdd" in fast  # a delimiter


def test_odd_cases_are_left_to_pydicom(tmp_path: Path) -> None:
    dataset = read_input(write_file(ct_dataset(), tmp_path / "in.dcm"))
    assert encode_native(dataset) is not None
    dataset.file_meta.MediaStorageSOPInstanceUID = UID("1.2.3.4")  # dcmwrite fixes it
    assert encode_native(dataset) is None
    dataset = read_input(tmp_path / "in.dcm")
    dataset.PixelData = b"\x01\x02\x03"  # odd: pydicom pads it, here too
    assert _fast_bytes(dataset) == _pydicom_bytes(dataset)
    dataset = read_input(tmp_path / "in.dcm")
    dataset.SpecificCharacterSet = "ISO_IR 192"  # pydicom re-encodes every text value
    assert encode_native(dataset) is None
    dataset = read_input(tmp_path / "in.dcm")
    dataset.file_meta.TransferSyntaxUID = JPEGBaseline8Bit  # compressed: pydicom's
    assert encode_native(dataset) is None
    dataset = read_input(tmp_path / "in.dcm")
    dataset.preamble = b"short"
    assert encode_native(dataset) is None
    with pytest.raises(ValueError, match="preamble"):
        write_dataset(dataset, io.BytesIO())


def test_trial_attributes_are_written_as_pydicom_would_encode_them(
    corpus: CorpusManifest,
) -> None:
    path, _ = input_files(corpus.root)[0]
    outcome = engine().process(path)
    assert isinstance(outcome, Deidentified)
    dataset = outcome.dataset
    trial_tags = [0x00100020, 0x00120010, 0x00120040, 0x00120062, 0x00120063, 0x00280303]
    assert all(isinstance(dataset.get_item(tag), RawDataElement) for tag in trial_tags)
    raw = _fast_bytes(dataset)
    for tag in trial_tags:
        element = dataset[tag]  # decoded into a DataElement, which pydicom encodes itself
        assert not isinstance(dataset.get_item(tag), RawDataElement), element.keyword
    assert _pydicom_bytes(dataset) == raw


@pytest.mark.parametrize(
    "syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian]
)
@pytest.mark.parametrize("charset", [None, "ISO_IR 100"])
def test_values_set_by_the_engine_encode_to_pydicoms_bytes(
    tmp_path: Path, syntax: str, charset: str | None
) -> None:
    """Decoded values the fast encoder writes itself (one ASCII string, an unsigned
    number, bytes) and the ones it leaves to pydicom, with odd and even lengths,
    empty values, non-ASCII text and out-of-range numbers, in every byte order."""
    dataset = ct_dataset()
    if charset is None:
        del dataset.SpecificCharacterSet
    source = write_file(dataset, tmp_path / "in.dcm", syntax)
    dataset = read_input(source)
    dataset.StudyInstanceUID = UID("2.25.123")  # odd UI: NUL padding
    dataset.SeriesInstanceUID = UID("2.25.1234")
    dataset.PatientSex = ""  # empty
    dataset.Modality = "CT"  # CS, even
    dataset.PatientAge = "049Y"
    dataset.StudyDate = "2001012"  # odd DA (not valid, written as given)
    dataset.StudyTime = "101010"
    dataset.PatientID = "SUBJ-0001-7"  # LO, odd
    dataset.StationName = "STATION"  # SH, odd
    dataset.StudyDescription = "Tête"  # non-ASCII LO: pydicom's character sets
    dataset.InstitutionName = "A\\B"  # two values in one string
    dataset.ImageComments = "x" * 70_001  # LT beyond 64 KiB: pydicom's
    dataset.Rows = 512  # US
    dataset.add_new(0x00091010, "UL", 7)  # a private UL
    dataset.add_new(0x00091012, "OB", b"\x01\x02\x03")  # odd OB: NUL padding
    assert _fast_bytes(dataset) == _pydicom_bytes(dataset)
    dataset.file_meta.ImplementationVersionName = "DEID_1"  # file meta SH, even
    assert _fast_bytes(dataset) == _pydicom_bytes(dataset)
    dataset.add_new(0x00091011, "US", 70_000)  # out of range: pydicom's own error
    with pytest.raises(OSError, match="format requires"):
        _pydicom_bytes(dataset)
    with pytest.raises(OSError, match="format requires"):
        encode_native(dataset)


@pytest.mark.parametrize(
    "change",
    ["no version name", "empty class UID", "no meta version", "with group length"],
)
def test_file_meta_is_completed_as_pydicom_completes_it(tmp_path: Path, change: str) -> None:
    """A finished file meta is written as it is; one pydicom's validation would add to
    goes the slow way, with the same bytes."""
    dataset = read_input(write_file(ct_dataset(), tmp_path / "in.dcm"))
    meta = dataset.file_meta
    if change == "no version name":
        del meta.ImplementationVersionName
    elif change == "empty class UID":
        meta.ImplementationClassUID = ""
    elif change == "no meta version":
        del meta.FileMetaInformationVersion
    else:
        meta.FileMetaInformationGroupLength = 12345  # rewritten with the real length
    assert _fast_bytes(dataset) == _pydicom_bytes(dataset)
