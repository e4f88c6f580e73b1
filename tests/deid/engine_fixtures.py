"""Shared helpers for the engine tests: identifiable files, engines, written results.

Everything goes through real files: a dataset is written with pydicom, read back
by :func:`deid.dicomfile.read_input`, de-identified, written again and re-read.
"""

from __future__ import annotations

import io
import zlib
from pathlib import Path

from pydicom import dcmread, dcmwrite
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, CTImageStorage, DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

from deid.contract.trial_config import TrialConfig
from deid.corpus import TRANSFER_SYNTAXES, CorpusManifest, generate_corpus
from deid.dicomfile import write_dataset
from deid.engine import Engine, EngineSettings
from deid.outcome import Deidentified, Outcome
from deid.profiles import build_rules
from deid.profiles.recipe import Recipe
from deid.store.memory import MemoryStore

PATIENT_NAME = "Kowalczyk^Bartholomew"
PATIENT_ID = "H1234567"
BIRTH_DATE = "19700315"
STUDY_UID = "1.2.826.0.1.3680043.8.498.10001"
SERIES_UID = "1.2.826.0.1.3680043.8.498.10002"
SOP_UID = "1.2.826.0.1.3680043.8.498.10003"
FRAME_UID = "1.2.826.0.1.3680043.8.498.10004"
SCOUT_UID = "1.2.826.0.1.3680043.8.498.10005"
PRIVATE_SOP_CLASS = "1.2.826.0.1.3680043.8.498.1.77"
"""A SOP class in no IOD table: combined codes take the strictest Type of any IOD
(Referenced Image Sequence kept with new UIDs, Operators' Name emptied...)."""


def store(key: str = "ONC-7", **settings: object) -> MemoryStore:
    """A fresh in-memory store for trial ``key`` at site S01."""
    config = TrialConfig.model_validate({"key": key, "sponsor_name": "Acme", **settings})
    return MemoryStore(config, "S01")


def engine(
    options: tuple[str, ...] = ("retain-long-modified-dates",),
    *,
    mapping_store: MemoryStore | None = None,
    trial: bool = True,
    settings: EngineSettings | None = None,
    recipe: Recipe | None = None,
    accept: tuple[str, ...] = (),
) -> Engine:
    """An engine with the options (default: the trial default) and the trial recipe,
    a user recipe on top if given, with its deviations ``accept``ed."""
    rules = build_rules(options, recipe=recipe, accepted_deviations=accept, with_trial_recipe=trial)
    return Engine(rules, mapping_store or store(), settings)


def code_item(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def ct_dataset() -> Dataset:
    """An identifiable CT header with nested references and private tags."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = SOP_UID
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.IssuerOfPatientID = "HOLLOWAY MRN"
    ds.PatientBirthDate = BIRTH_DATE
    ds.PatientSex = "M"
    ds.PatientAge = "049Y"
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = SERIES_UID
    ds.FrameOfReferenceUID = FRAME_UID
    ds.StudyDate, ds.StudyTime = "20191231", "235830"
    ds.SeriesDate, ds.SeriesTime = "20200101", "000130"
    ds.AcquisitionDateTime = "20200101000130.250000"
    ds.AccessionNumber = "A19123456"
    ds.StudyDescription = "Kowalczyk-CT/Head w/o"
    ds.SeriesDescription = "Axial"
    ds.Modality = "CT"
    ds.InstitutionName = "Holloway Crest Infirmary"
    ds.ReferringPhysicianName = "Ballantyne^Aurelio"
    ref = Dataset()
    ref.ReferencedSOPClassUID = CTImageStorage
    ref.ReferencedSOPInstanceUID = SCOUT_UID
    ds.ReferencedImageSequence = Sequence([ref])
    source = Dataset()
    source.ReferencedSOPClassUID = CTImageStorage
    source.ReferencedSOPInstanceUID = SCOUT_UID
    source.PurposeOfReferenceCodeSequence = Sequence([code_item("121322", "DCM", "Source")])
    ds.SourceImageSequence = Sequence([source])
    block = ds.private_block(0x0033, "ACME RIS EXPORT 1.0", create=True)
    block.add_new(0x10, "LO", PATIENT_NAME.upper())
    ds.Rows = ds.Columns = 4
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = bytes(range(32))
    return ds


def write_file(ds: Dataset, path: Path, syntax: str = ExplicitVRLittleEndian) -> Path:
    """Write ``ds`` as a Part 10 file in ``syntax``, with an identifying file meta."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(syntax)
    meta.SourceApplicationEntityTitle = "HOLLOWAY_PACS"
    ds.file_meta = meta
    path.parent.mkdir(parents=True, exist_ok=True)
    dcmwrite(path, ds, enforce_file_format=True)
    return path


def result_bytes(outcome: Outcome) -> bytes:
    """The written result, as the runner would write it."""
    assert isinstance(outcome, Deidentified), outcome
    buffer = io.BytesIO()
    write_dataset(outcome.dataset, buffer)
    return buffer.getvalue()


def reread(outcome: Outcome) -> FileDataset:
    """The result written and read back by pydicom."""
    return dcmread(io.BytesIO(result_bytes(outcome)))


def plain_bytes(data: bytes) -> bytes:
    """A written file's bytes with a deflated data set inflated, for searching."""
    ds = dcmread(io.BytesIO(data))
    if ds.file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian:
        start = data.index(b"DICM") + 4
        meta_length = int.from_bytes(data[start + 8 : start + 12], "little")
        body = data[start + 12 + meta_length :]
        return data[: start + 12 + meta_length] + zlib.decompress(body, -zlib.MAX_WBITS)
    return data


def one_series_corpus(root: Path, syntax: str, seed: int) -> CorpusManifest:
    """Two 16x16 images of one patient in transfer syntax ``syntax`` (a key of
    :data:`deid.corpus.TRANSFER_SYNTAXES`), with an SR and a key object selection."""
    return generate_corpus(
        root,
        patients=1,
        studies_per_patient=1,
        series_per_study=1,
        instances_per_series=2,
        rows=16,
        cols=16,
        seed=seed,
        transfer_syntaxes=[TRANSFER_SYNTAXES[syntax]],
        include_documents=True,
    )
