"""Identifiable DICOM files for tests, the demo and the benchmark.

:func:`generate_corpus` writes a PACS-export-like folder tree of synthetic but
realistic patients: CT series with pixel data, an SR report and a Key Object
Selection document per study, private tags, nested sequences, the four transfer
syntaxes pydicom writes, and optionally files that must be quarantined. File and
folder names carry names, birth dates and UIDs, the way real exports do.

It returns a :class:`CorpusManifest` that lists, per file, the identifying
originals it contains, so a test can prove that none of them survives
de-identification. Everything is deterministic for a seed.

The names, addresses and institutions are invented and chosen to be disjoint from
the lists the PSEUDO classes draw pseudonyms from, so an original found in an
output file is a leak, never a coincidence.
"""

from __future__ import annotations

import json
import random
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    UID,
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    EncapsulatedPDFStorage,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    generate_uid,
)

from deid.contract.errors import UsageError

# Which transfer syntaxes the corpus rotates through, by the names the CLI accepts.
TRANSFER_SYNTAXES: dict[str, UID] = {
    "explicit-le": ExplicitVRLittleEndian,
    "implicit-le": ImplicitVRLittleEndian,
    "explicit-be": ExplicitVRBigEndian,
    "deflated": DeflatedExplicitVRLittleEndian,
}

BAD_FILE_KINDS = ("not_dicom", "truncated", "encapsulated_pdf", "burned_in")
"""Files that a correct run must quarantine, never write (``include_bad_files``)."""

COMPREHENSIVE_SR = UID("1.2.840.10008.5.1.4.1.1.88.33")
KEY_OBJECT_SELECTION = UID("1.2.840.10008.5.1.4.1.1.88.59")
_STUDY_COMPONENT_CLASS = UID("1.2.840.10008.3.1.2.3.1")  # Detached Study Management (retired)

# Invented names, none of them in Faker's en_US/en_CA/fr_CA lists (a test checks).
# Patients take family names from the first list (unique for the first 40 patients),
# each institution's staff from the second, so no patient shares a name with staff.
_FAMILY_NAMES = (
    "Kowalczyk", "Thorvaldsen", "Okafor", "Vandermeer", "Abernathy", "Castellanos",
    "Fairweather", "Lindqvist", "Nakamura", "Oyelaran", "Pemberton", "Quintanilla",
    "Szymanski", "Whitlock", "Hargreaves", "Achterberg", "Oduya", "Bergstrom", "Iwasaki",
    "Delacroix", "Haverkamp", "Zeleny", "Marchetti", "Oyelowo", "Kristiansen", "Brannigan",
    "Sauvageau", "Thibodeaux", "Wojcik", "Yamaguchi", "Ostrowski", "Ashdown", "Pilkington",
    "Einarsson", "Vukovic", "Halvorsen", "Ouellette", "Grimsditch", "Ravenscroft", "Dunsmuir",
)  # fmt: skip
_STAFF_FAMILY_NAMES = (
    "Ballantyne", "Kilbride", "Strachan", "Urquhart", "Wetherby", "Adebayo", "Holmqvist",
    "Brzezinski", "Dabrowski", "Horvat", "Janssens", "Verbeke",
)  # fmt: skip
_GIVEN_NAMES = (
    "Bartholomew", "Ingrid", "Thaddeus", "Rosalind", "Evander", "Solveig", "Casimir",
    "Ottoline", "Leopold", "Wilhelmina", "Ignatius", "Philippa", "Cornelius", "Henrietta",
    "Augustin", "Perpetua", "Lysander", "Beatrix", "Ambrose", "Seraphina", "Florian",
    "Clementine", "Octavia", "Barnaby", "Isolde", "Ptolemy", "Ermengarde", "Radomir", "Zofia",
    "Tobiah", "Anneliese", "Horatio", "Mirabel", "Evangeline", "Leocadia", "Reinhold",
)  # fmt: skip
_STAFF_GIVEN_NAMES = (
    "Aurelio", "Benedetta", "Crispin", "Desdemona", "Emrys", "Fenella", "Hyacinth",
    "Jessamine", "Kasimir", "Ludovica", "Percival", "Rowena", "Sigrun", "Torvald",
)  # fmt: skip
_STREETS = ("Quillfeather", "Bramblecote", "Wrenhollow", "Ashgrove", "Larkmoor", "Thistledown")
_STREET_KINDS = ("Road", "Lane", "Crescent", "Way")
_TOWNS = (
    ("Port Ardmore", "BC", "V9X 2K4"), ("Glenwick", "ON", "K0L 1T3"),
    ("Saint-Aurele-du-Lac", "QC", "G0R 4H1"), ("Maple Narrows", "AB", "T0M 3E2"),
)  # fmt: skip
_INSTITUTIONS = (  # name, address, switchboard
    ("Holloway Crest Infirmary", "88 Infirmary Hill, Port Ardmore, BC V9X 1A1", "+1 250 747 0100"),
    ("St. Wenceslas Medical Centre", "1200 Abbey Row, Glenwick, ON K0L 1T0", "+1 613 388 2400"),
)
_STATIONS = ("HCI-CT-ORCA", "SWMC-CT02")
_DESCRIPTIONS = (
    ("CT/Head w/o", "HEAD", "70450", "CT HEAD W/O CONTRAST"),
    ("CT/Chest w", "CHEST", "71260", "CT CHEST WITH CONTRAST"),
    ("CT/Abdomen w/o", "ABDOMEN", "74150", "CT ABDOMEN W/O CONTRAST"),
)


@dataclass(frozen=True)
class CorpusStudy:
    """One study of a patient, with the originals a date check needs."""

    study_uid: str
    study_date: str
    study_time: str
    accession_number: str


@dataclass(frozen=True)
class CorpusPatient:
    """One synthetic patient."""

    index: int
    patient_id: str
    issuer_of_patient_id: str
    patient_name: str
    birth_date: str
    sex: str
    folder: str
    """The patient's export folder, relative to the corpus root."""
    studies: tuple[CorpusStudy, ...]


@dataclass(frozen=True)
class CorpusFile:
    """One generated file and what a correct run must do with it."""

    path: str
    """Relative to the corpus root, with ``/`` separators."""
    kind: str
    """``CT``, ``SR``, ``KOS`` or one of :data:`BAD_FILE_KINDS`."""
    expected: str
    """``written`` or ``quarantined``."""
    patient: int
    transfer_syntax: str | None
    study_uid: str | None
    series_uid: str | None
    sop_uid: str | None
    originals: tuple[str, ...]
    """Identifying values in the file (names and their parts, IDs, birth date,
    addresses, phone, institution, UIDs): none may appear in any output."""
    references: tuple[str, ...] = ()
    """SOP Instance UIDs this object references."""


@dataclass
class CorpusManifest:
    """What :func:`generate_corpus` wrote."""

    root: Path
    seed: int
    patients: list[CorpusPatient] = field(default_factory=list)
    files: list[CorpusFile] = field(default_factory=list)

    def file(self, path: str) -> CorpusFile:
        """The entry of the file at ``path`` (relative, ``/`` separators)."""
        for entry in self.files:
            if entry.path == path:
                return entry
        raise KeyError(path)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (it holds the synthetic PHI: keep it with the corpus)."""
        return {
            "root": str(self.root),
            "seed": self.seed,
            "patients": [asdict(p) for p in self.patients],
            "files": [asdict(f) for f in self.files],
        }

    def write(self, path: Path) -> None:
        """Write the manifest as JSON."""
        path.write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")


@dataclass(frozen=True)
class _Person:
    family: str
    given: str

    @property
    def pn(self) -> str:
        return f"{self.family}^{self.given}"

    @property
    def parts(self) -> tuple[str, ...]:
        return (self.pn, self.family, self.given)


class _Ids:
    """Deterministic UIDs and identifiers for one corpus."""

    def __init__(self, seed: int) -> None:
        self.seed = str(seed)

    def uid(self, *parts: object) -> str:
        return str(generate_uid(entropy_srcs=[self.seed, *map(str, parts)]))


_ROLES = ("referring", "performing", "operator")
_DOCUMENT_ROLES = ("referring",)
"""SR, KOS and PDF objects name the referring physician only."""


def _rng(seed: int, *parts: object) -> random.Random:
    """A generator for one part of the corpus, so parts do not depend on each other."""
    return random.Random(":".join(map(str, ("deid-corpus", seed, *parts))))  # noqa: S311


def _staff(seed: int, institution: int) -> dict[str, _Person]:
    """The same physicians and operator for every patient of an institution."""
    rng = _rng(seed, "staff", institution)
    families = rng.sample(_STAFF_FAMILY_NAMES, 3)
    givens = rng.sample(_STAFF_GIVEN_NAMES, 3)
    return {role: _Person(f, g) for role, f, g in zip(_ROLES, families, givens, strict=True)}


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _seq(*items: Dataset) -> DicomSequence:
    return DicomSequence(list(items))


def _sop_ref(sop_class: str, sop_uid: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class
    item.ReferencedSOPInstanceUID = sop_uid
    return item


def _age(birth: date, on: date) -> str:
    years = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    return f"{years:03d}Y"


def _da(moment: date | datetime) -> str:
    return moment.strftime("%Y%m%d")


def _tm(moment: datetime) -> str:
    return moment.strftime("%H%M%S")


def _folder_part(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_").upper()


@cache
def _phantom(rows: int, cols: int) -> np.ndarray:
    """A head-like disc in air, CT numbers stored with intercept -1024."""
    y, x = np.ogrid[:rows, :cols]
    r2 = ((y - rows / 2) / (rows * 0.42)) ** 2 + ((x - cols / 2) / (cols * 0.36)) ** 2
    image = np.zeros((rows, cols), dtype=np.uint16)
    image[r2 < 1.0] = 1024 + 40
    image[(r2 < 1.0) & (r2 > 0.85)] = 1024 + 900  # skull
    image.setflags(write=False)
    return image


def _pixels(rows: int, cols: int, slice_index: int, big_endian: bool) -> bytes:
    image = _phantom(rows, cols) + np.uint16(slice_index % 64)
    return image.astype(">u2" if big_endian else "<u2").tobytes()


@dataclass
class _Series:
    uid: str
    number: int
    start: datetime
    description: str
    frame_of_reference: str
    sop_uids: list[str]
    scout: str | None = None
    source: list[str] = field(default_factory=list)


def _references(series: _Series, instance: int) -> tuple[str | None, str | None]:
    """The scout an image references and the image it was derived from, if any."""
    source = series.source[instance % len(series.source)] if series.source else None
    return series.scout, source


class _Writer:
    """Writes one corpus: patients, their studies, and the manifest entries."""

    def __init__(
        self,
        root: Path,
        seed: int,
        transfer_syntaxes: Sequence[UID],
        on_file: Callable[[], object] | None,
    ) -> None:
        self.root = root
        self.on_file = on_file
        self.ids = _Ids(seed)
        self.transfer_syntaxes = list(transfer_syntaxes)
        self.series_counter = 0
        self.manifest = CorpusManifest(root=root, seed=seed)

    def next_transfer_syntax(self) -> UID:
        syntax = self.transfer_syntaxes[self.series_counter % len(self.transfer_syntaxes)]
        self.series_counter += 1
        return syntax

    def write(self, relative: str, ds: Dataset, syntax: UID) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = syntax
        # PACS exports carry their own AE title in the meta: identifying.
        meta.SourceApplicationEntityTitle = ds.get("StationName", "PACS")[:16]
        ds.file_meta = meta
        dcmwrite(path, ds, enforce_file_format=True)
        self.tick()

    def tick(self) -> None:
        if self.on_file is not None:
            self.on_file()


@dataclass
class _PatientContext:
    index: int
    rng: random.Random
    person: _Person
    patient_id: str
    issuer: str
    other_id: str
    birth: date
    sex: str
    address: str
    phone: str
    mother: _Person
    institution: tuple[str, str, str]
    station: str
    serial: str
    staff: dict[str, _Person]
    folder: str

    def originals(self, staff: Iterable[str] = _ROLES) -> tuple[str, ...]:
        """The identifying values of the patient's files, with the staff roles they name."""
        values = [
            *self.person.parts,
            *self.mother.parts,
            self.patient_id,
            self.other_id,
            _da(self.birth),
            self.address,
            self.phone,
            *self.institution,
            self.station,
            self.serial,
        ]
        for role in staff:
            values.extend(self.staff[role].parts)
        return tuple(values)


def _new_patient(index: int, seed: int) -> _PatientContext:
    rng = _rng(seed, index)
    order = _rng(seed, "families").sample(_FAMILY_NAMES, len(_FAMILY_NAMES))
    family = order[index % len(order)]
    person = _Person(family, rng.choice(_GIVEN_NAMES))
    mother = _Person(rng.choice([f for f in _FAMILY_NAMES if f != family]), person.given)
    # One patient older than 89 (HIPAA ages), the others 20 to 85.
    if index == 2:
        birth = date(1925, 1, 1) + timedelta(days=rng.randrange(900))
    else:
        birth = date(1938, 1, 1) + timedelta(days=rng.randrange(65 * 365))
    street = f"{rng.randrange(10, 9999)} {rng.choice(_STREETS)} {rng.choice(_STREET_KINDS)}"
    town, province, postal = rng.choice(_TOWNS)
    institution_index = index % len(_INSTITUTIONS)
    institution = _INSTITUTIONS[institution_index]
    patient_id = f"H{rng.randrange(10**6, 10**7)}"
    return _PatientContext(
        index=index,
        rng=rng,
        person=person,
        patient_id=patient_id,
        issuer=institution[0].split()[0].upper() + " MRN",
        other_id=f"PHN{rng.randrange(10**8, 10**9)}",
        birth=birth,
        sex=rng.choice("FM"),
        address=f"{street}, {town}, {province} {postal}",
        phone=f"+1 {rng.randrange(200, 999)} {rng.randrange(200, 999)} {rng.randrange(10**4):04d}",
        mother=mother,
        institution=institution,
        station=_STATIONS[index % len(_STATIONS)],
        serial=f"SN{rng.randrange(10**5, 10**6)}",
        staff=_staff(seed, institution_index),
        folder=f"{_folder_part(person.family)}_{_folder_part(person.given)}_{_da(birth)}",
    )


def _patient_module(ds: Dataset, p: _PatientContext, on: date) -> None:
    ds.PatientName = p.person.pn
    ds.PatientID = p.patient_id
    ds.IssuerOfPatientID = p.issuer
    ds.PatientBirthDate = _da(p.birth)
    ds.PatientSex = p.sex
    ds.PatientAge = _age(p.birth, on)
    ds.PatientSize = "1.72"
    ds.PatientWeight = "68"
    ds.PatientAddress = p.address
    ds.PatientTelephoneNumbers = p.phone
    ds.PatientMotherBirthName = p.mother.pn
    other = Dataset()
    other.PatientID = p.other_id
    other.IssuerOfPatientID = "PROVINCIAL HEALTH"
    other.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = _seq(other)
    ds.PatientComments = f"{p.person.family}, {p.person.given} - allergic to iodine contrast"


def _study_module(
    ds: Dataset,
    p: _PatientContext,
    study: CorpusStudy,
    description: tuple[str, str, str, str],
    prior: CorpusStudy | None,
) -> None:
    label, _, code, meaning = description
    ds.StudyInstanceUID = study.study_uid
    ds.StudyDate = study.study_date
    ds.StudyTime = study.study_time
    ds.AccessionNumber = study.accession_number
    ds.StudyID = study.accession_number[-4:]
    ds.StudyDescription = f"{p.person.family}-{label}"
    ds.ReferringPhysicianName = p.staff["referring"].pn
    ds.ReferringPhysicianTelephoneNumbers = p.institution[2]
    ds.NameOfPhysiciansReadingStudy = p.staff["referring"].pn
    ds.ProcedureCodeSequence = _seq(_code(code, "C4", meaning))
    if prior is not None:
        ds.ReferencedStudySequence = _seq(_sop_ref(_STUDY_COMPONENT_CLASS, prior.study_uid))


def _equipment_module(ds: Dataset, p: _PatientContext) -> None:
    ds.Manufacturer = "GE MEDICAL SYSTEMS"
    ds.ManufacturerModelName = "Revolution CT"
    ds.InstitutionName, ds.InstitutionAddress, _ = p.institution
    ds.InstitutionalDepartmentName = "Diagnostic Imaging"
    ds.StationName = p.station
    ds.DeviceSerialNumber = p.serial
    ds.SoftwareVersions = "revo_ct_22mw.12"


def _request_attributes(
    p: _PatientContext, study: CorpusStudy, meaning: str, code: str
) -> DicomSequence:
    """Request Attributes > Scheduled Protocol Code > Protocol Context: three levels."""
    context = _code(code, "C4", meaning)
    context_item = Dataset()
    context_item.ValueType = "PNAME"
    context_item.ConceptNameCodeSequence = _seq(_code("121008", "DCM", "Person Observer Name"))
    context_item.PersonName = p.staff["referring"].pn
    context.ProtocolContextSequence = _seq(context_item)
    request = Dataset()
    request.RequestedProcedureID = f"RP{study.accession_number}"
    request.ScheduledProcedureStepID = f"SPS{study.accession_number}"
    request.RequestedProcedureDescription = meaning
    request.ScheduledProtocolCodeSequence = _seq(context)
    request.AccessionNumber = study.accession_number
    request.StudyInstanceUID = study.study_uid
    return _seq(request)


def _private_tags(ds: Dataset, p: _PatientContext) -> None:
    # On the PS3.15 safe private list (Table E.3.10-1).
    acquisition = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
    acquisition.add_new(0x23, "DS", "39.375")  # table speed
    acquisition.add_new(0x27, "DS", "0.5")  # rotation speed
    acquisition.add_new(0x9C, "LO", "HELICAL")  # not on the list
    parameters = ds.private_block(0x0043, "GEMS_PARM_01", create=True)
    parameters.add_new(0x27, "SH", "/1.375:1")  # scan pitch ratio
    # A RIS export block that copies the patient's identity: never safe.
    ris = ds.private_block(0x0033, "ACME RIS EXPORT 1.0", create=True)
    ris.add_new(0x10, "LO", p.person.pn.upper())
    ris.add_new(0x11, "LO", p.patient_id)
    ris.add_new(0x12, "LT", f"Exported for {p.person.given} {p.person.family}, {_da(p.birth)}")


def _ct(
    p: _PatientContext,
    study: CorpusStudy,
    description: tuple[str, str, str, str],
    prior: CorpusStudy | None,
    series: _Series,
    instance: int,
    rows: int,
    cols: int,
    big_endian: bool,
) -> Dataset:
    ds = Dataset()
    moment: datetime = series.start + timedelta(seconds=2 * instance)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = (
        ["DERIVED", "SECONDARY", "REFORMATTED"]
        if series.source
        else ["ORIGINAL", "PRIMARY", "AXIAL"]
    )
    ds.InstanceCreationDate = _da(moment)
    ds.InstanceCreationTime = _tm(moment)
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = series.sop_uids[instance]
    _patient_module(ds, p, series.start.date())
    _study_module(ds, p, study, description, prior)
    ds.Modality = "CT"
    ds.SeriesInstanceUID = series.uid
    ds.SeriesNumber = series.number
    ds.SeriesDate = _da(series.start)
    ds.SeriesTime = _tm(series.start)
    ds.SeriesDescription = series.description
    ds.ProtocolName = f"{description[1].title()} routine"
    ds.BodyPartExamined = description[1]
    ds.PatientPosition = "HFS"
    ds.PerformingPhysicianName = p.staff["performing"].pn
    ds.OperatorsName = p.staff["operator"].pn
    ds.PerformedProcedureStepStartDate = study.study_date
    ds.PerformedProcedureStepStartTime = study.study_time
    ds.PerformedProcedureStepID = f"PPS{study.accession_number}"
    ds.RequestAttributesSequence = _request_attributes(p, study, description[3], description[2])
    _equipment_module(ds, p)
    ds.FrameOfReferenceUID = series.frame_of_reference
    ds.PositionReferenceIndicator = "OM"
    ds.InstanceNumber = instance + 1
    ds.AcquisitionNumber = 1
    ds.ContentDate = _da(moment)
    ds.ContentTime = _tm(moment)
    ds.AcquisitionDate = _da(moment)
    ds.AcquisitionTime = _tm(moment)
    ds.AcquisitionDateTime = moment.strftime("%Y%m%d%H%M%S.000000")
    ds.SliceThickness = "2.5"
    ds.KVP = "120"
    ds.ImagePositionPatient = [-125.0, -125.0, 2.5 * instance]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.SliceLocation = 2.5 * instance
    ds.PixelSpacing = [250.0 / rows, 250.0 / cols]
    scout, source_uid = _references(series, instance)
    if scout is not None:
        ds.ReferencedImageSequence = _seq(_sop_ref(CTImageStorage, scout))
    if source_uid is not None:
        source = _sop_ref(CTImageStorage, source_uid)
        source.PurposeOfReferenceCodeSequence = _seq(
            _code("121322", "DCM", "Source image for image processing operation")
        )
        ds.SourceImageSequence = _seq(source)
        ds.DerivationDescription = f"MPR of series 1 for {p.person.family}"
    _private_tags(ds, p)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "-1024", "1", "HU"
    ds.WindowCenter, ds.WindowWidth = "40", "80"
    ds.PixelData = _pixels(rows, cols, instance, big_endian)
    return ds


def _content_item(relationship: str, value_type: str, concept: Dataset, **values: Any) -> Dataset:
    item = Dataset()
    item.RelationshipType = relationship
    item.ValueType = value_type
    item.ConceptNameCodeSequence = _seq(concept)
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def _image_item(sop_uid: str) -> Dataset:
    return _content_item(
        "CONTAINS",
        "IMAGE",
        _code("121200", "DCM", "Illustration of ROI"),
        ReferencedSOPSequence=_seq(_sop_ref(CTImageStorage, sop_uid)),
    )


def _evidence(study_uid: str, series: Iterable[tuple[str, Sequence[str]]]) -> DicomSequence:
    """Current Requested Procedure Evidence: study > series > instances."""
    study = Dataset()
    study.StudyInstanceUID = study_uid
    items = []
    for series_uid, sop_uids in series:
        item = Dataset()
        item.SeriesInstanceUID = series_uid
        item.ReferencedSOPSequence = _seq(*(_sop_ref(CTImageStorage, uid) for uid in sop_uids))
        items.append(item)
    study.ReferencedSeriesSequence = _seq(*items)
    return _seq(study)


def _document(
    p: _PatientContext,
    study: CorpusStudy,
    description: tuple[str, str, str, str],
    prior: CorpusStudy | None,
    sop_class: UID,
    series_uid: str,
    sop_uid: str,
    number: int,
    moment: datetime,
) -> Dataset:
    """The header every non-image object of the study shares."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.InstanceCreationDate = _da(moment)
    ds.InstanceCreationTime = _tm(moment)
    _patient_module(ds, p, moment.date())
    _study_module(ds, p, study, description, prior)
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = number
    ds.InstanceNumber = 1
    ds.ContentDate = _da(moment)
    ds.ContentTime = _tm(moment)
    _equipment_module(ds, p)
    return ds


def _sr(
    ds: Dataset,
    p: _PatientContext,
    study: CorpusStudy,
    prior: CorpusStudy | None,
    images: Sequence[tuple[str, Sequence[str]]],
    moment: datetime,
) -> None:
    ds.Modality = "SR"
    ds.SeriesDescription = f"Report {p.person.family}"
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "VERIFIED"
    verifier = Dataset()
    verifier.VerifyingObserverName = p.staff["referring"].pn
    verifier.VerifyingOrganization = p.institution[0]
    verifier.VerificationDateTime = moment.strftime("%Y%m%d%H%M%S")
    ds.VerifyingObserverSequence = _seq(verifier)
    ds.CurrentRequestedProcedureEvidenceSequence = _evidence(study.study_uid, images)
    first_images = images[0][1]
    findings = _content_item(
        "CONTAINS",
        "CONTAINER",
        _code("121070", "DCM", "Findings"),
        ContinuityOfContent="SEPARATE",
        ContentSequence=_seq(
            _content_item(
                "CONTAINS",
                "TEXT",
                _code("121071", "DCM", "Finding"),
                TextValue=(
                    f"{p.person.given} {p.person.family} (MRN {p.patient_id}): "
                    "no acute intracranial abnormality."
                ),
            ),
            *(_image_item(uid) for uid in first_images[:2]),
        ),
    )
    children = [
        _content_item(
            "HAS OBS CONTEXT",
            "PNAME",
            _code("121008", "DCM", "Person Observer Name"),
            PersonName=p.staff["referring"].pn,
        ),
        _content_item(
            "HAS OBS CONTEXT",
            "UIDREF",
            _code("121018", "DCM", "Procedure Study Instance UID"),
            UID=study.study_uid,
        ),
        findings,
    ]
    if prior is not None:
        children.append(
            _content_item(
                "CONTAINS",
                "DATE",
                _code("111536", "DCM", "Date of prior study"),
                Date=prior.study_date,
            )
        )
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = _seq(_code("18748-4", "LN", "Diagnostic Imaging Report"))
    ds.ContinuityOfContent = "SEPARATE"
    ds.ContentSequence = _seq(*children)


def _kos(ds: Dataset, study: CorpusStudy, images: Sequence[tuple[str, Sequence[str]]]) -> None:
    ds.Modality = "KO"
    ds.SeriesDescription = "Key images"
    ds.CurrentRequestedProcedureEvidenceSequence = _evidence(study.study_uid, images)
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = _seq(_code("113000", "DCM", "Of Interest"))
    ds.ContinuityOfContent = "SEPARATE"
    ds.ContentSequence = _seq(*(_image_item(uid) for _, uids in images for uid in uids[:3]))


def _studies(p: _PatientContext, ids: _Ids, count: int) -> list[CorpusStudy]:
    rng = p.rng
    day = date(2016, 1, 1) + timedelta(days=rng.randrange(7 * 365))
    studies = []
    for number in range(count):
        # Patient 1's first study runs past midnight, so acquisition dates change mid-series.
        if p.index == 1 and number == 0:
            clock = "235830"
        else:
            clock = f"{rng.randrange(7, 20):02d}{rng.randrange(60):02d}{rng.randrange(60):02d}"
        studies.append(
            CorpusStudy(
                study_uid=ids.uid("study", p.index, number),
                study_date=_da(day),
                study_time=clock,
                accession_number=f"A{day.year % 100:02d}{rng.randrange(10**6):06d}",
            )
        )
        day += timedelta(days=rng.randrange(20, 400))
    return studies


def _write_patient(
    writer: _Writer,
    p: _PatientContext,
    studies_per_patient: int,
    series_per_study: int,
    instances_per_series: int,
    rows: int,
    cols: int,
    include_documents: bool,
) -> CorpusPatient:
    ids = writer.ids
    studies = _studies(p, ids, studies_per_patient)
    for study_index, study in enumerate(studies):
        prior = studies[study_index - 1] if study_index else None
        description = _DESCRIPTIONS[(p.index + study_index) % len(_DESCRIPTIONS)]
        study_folder = f"{p.folder}/{study.study_date}_{study.accession_number}_{description[1]}"
        study_originals: tuple[str, ...] = (study.study_uid, study.accession_number)
        if prior is not None:
            study_originals += (prior.study_uid,)
        frame_of_reference = ids.uid("for", p.index, study_index)
        start = datetime.strptime(study.study_date + study.study_time, "%Y%m%d%H%M%S")
        written_series: list[tuple[str, list[str]]] = []
        for series_index in range(series_per_study):
            series_uid = ids.uid("series", p.index, study_index, series_index)
            sop_uids = [
                ids.uid("sop", p.index, study_index, series_index, i)
                for i in range(instances_per_series)
            ]
            first = written_series[0][1] if written_series else []
            series = _Series(
                uid=series_uid,
                number=series_index + 1,
                start=start + timedelta(minutes=1 + 4 * series_index),
                description="Axial 2.5mm" if series_index == 0 else "Coronal MPR",
                frame_of_reference=frame_of_reference,
                sop_uids=sop_uids,
                scout=first[0] if first else None,
                source=first,
            )
            syntax = writer.next_transfer_syntax()
            folder = f"{study_folder}/S{series_index + 1:03d}_{_folder_part(series.description)}"
            for instance in range(instances_per_series):
                ds = _ct(
                    p,
                    study,
                    description,
                    prior,
                    series,
                    instance,
                    rows,
                    cols,
                    syntax == ExplicitVRBigEndian,
                )
                # Half the series are named by SOP Instance UID, as some PACS export them.
                name = f"{sop_uids[instance]}.dcm" if series_index % 2 else f"IM{instance + 1:05d}"
                relative = f"{folder}/{name}"
                writer.write(relative, ds, syntax)
                references = tuple(dict.fromkeys(u for u in _references(series, instance) if u))
                writer.manifest.files.append(
                    CorpusFile(
                        path=relative,
                        kind="CT",
                        expected="written",
                        patient=p.index,
                        transfer_syntax=str(syntax),
                        study_uid=study.study_uid,
                        series_uid=series_uid,
                        sop_uid=sop_uids[instance],
                        originals=(
                            *p.originals(),
                            *study_originals,
                            series_uid,
                            sop_uids[instance],
                            frame_of_reference,
                            *references,
                        ),
                        references=references,
                    )
                )
            written_series.append((series_uid, sop_uids))
        if include_documents and written_series:
            end = start + timedelta(minutes=30)
            for number, kind, sop_class in (
                (900, "SR", COMPREHENSIVE_SR),
                (901, "KOS", KEY_OBJECT_SELECTION),
            ):
                series_uid = ids.uid("series", p.index, study_index, kind)
                sop_uid = ids.uid("sop", p.index, study_index, kind)
                ds = _document(
                    p, study, description, prior, sop_class, series_uid, sop_uid, number, end
                )
                if kind == "SR":
                    _sr(ds, p, study, prior, written_series, end)
                else:
                    _kos(ds, study, written_series)
                syntax = writer.next_transfer_syntax()
                relative = f"{study_folder}/S{number}_{kind}/{kind}{study_index + 1:03d}.dcm"
                writer.write(relative, ds, syntax)
                referenced = tuple(uid for _, uids in written_series for uid in uids)
                writer.manifest.files.append(
                    CorpusFile(
                        path=relative,
                        kind=kind,
                        expected="written",
                        patient=p.index,
                        transfer_syntax=str(syntax),
                        study_uid=study.study_uid,
                        series_uid=series_uid,
                        sop_uid=sop_uid,
                        originals=(
                            *p.originals(_DOCUMENT_ROLES),
                            *study_originals,
                            series_uid,
                            sop_uid,
                            *(s for s, _ in written_series),
                            *referenced,
                        ),
                        references=referenced,
                    )
                )
    return CorpusPatient(
        index=p.index,
        patient_id=p.patient_id,
        issuer_of_patient_id=p.issuer,
        patient_name=p.person.pn,
        birth_date=_da(p.birth),
        sex=p.sex,
        folder=p.folder,
        studies=tuple(studies),
    )


def _minimal_pdf(text: str) -> bytes:
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1")
    body = zlib.compress(stream)
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/Contents 4 0 R>>endobj\n"
        b"4 0 obj<</Length " + str(len(body)).encode() + b"/Filter/FlateDecode>>stream\n"
        b"" + body + b"\nendstream endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


def _write_bad_files(writer: _Writer, p: _PatientContext, study: CorpusStudy) -> None:
    """Files a correct run quarantines: each holds the patient's identity."""
    folder = f"{p.folder}/{study.study_date}_{study.accession_number}_MISC"
    study_originals = (study.study_uid, study.accession_number)
    moment = datetime.strptime(study.study_date + study.study_time, "%Y%m%d%H%M%S")
    description = _DESCRIPTIONS[0]
    manifest = writer.manifest

    def add(kind: str, relative: str, originals: tuple[str, ...], **uids: str | None) -> None:
        manifest.files.append(
            CorpusFile(
                path=relative,
                kind=kind,
                expected="quarantined",
                patient=p.index,
                transfer_syntax=uids.pop("syntax", None),
                study_uid=study.study_uid,
                series_uid=uids.get("series"),
                sop_uid=uids.get("sop"),
                originals=originals + tuple(v for v in uids.values() if v),
            )
        )

    # Not DICOM: an export log that happens to sit among the images.
    relative = f"{folder}/IM99999.dcm"
    (writer.root / folder).mkdir(parents=True, exist_ok=True)
    (writer.root / relative).write_text(
        f"export of {p.person.pn} ({p.patient_id}) born {_da(p.birth)}\n", encoding="utf-8"
    )
    writer.tick()
    add("not_dicom", relative, (p.person.pn, p.patient_id, _da(p.birth)))

    series = _Series(
        uid=writer.ids.uid("series", p.index, "bad"),
        number=99,
        start=moment,
        description="Axial",
        frame_of_reference=writer.ids.uid("for", p.index, "bad"),
        sop_uids=[],
    )
    # Truncated: a CT file cut in the middle of its pixel data. Burned-in annotation:
    # the pixels may show the name, and no pixel rule cleans them.
    for kind, name in (("truncated", "TRUNC0001.dcm"), ("burned_in", "BURNED0001.dcm")):
        series.sop_uids = [writer.ids.uid("sop", p.index, kind)]
        ds = _ct(p, study, description, None, series, 0, 32, 32, big_endian=False)
        if kind == "burned_in":
            ds.BurnedInAnnotation = "YES"
        relative = f"{folder}/{name}"
        writer.write(relative, ds, ExplicitVRLittleEndian)
        if kind == "truncated":
            path = writer.root / relative
            path.write_bytes(path.read_bytes()[: -32 * 32])
        add(
            kind,
            relative,
            (*p.originals(), *study_originals),
            syntax=str(ExplicitVRLittleEndian),
            series=series.uid,
            sop=series.sop_uids[0],
        )

    # Encapsulated PDF: a referral letter naming the patient.
    series_uid = writer.ids.uid("series", p.index, "pdf")
    sop_uid = writer.ids.uid("sop", p.index, "pdf")
    ds = _document(
        p, study, description, None, EncapsulatedPDFStorage, series_uid, sop_uid, 950, moment
    )
    ds.Modality = "DOC"
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = f"Referral {p.person.family}"
    ds.ConceptNameCodeSequence = _seq(_code("18748-4", "LN", "Diagnostic Imaging Report"))
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    pdf = _minimal_pdf(f"Referral for {p.person.given} {p.person.family}, MRN {p.patient_id}")
    ds.EncapsulatedDocument = pdf + (b"\0" if len(pdf) % 2 else b"")
    relative = f"{folder}/REFERRAL_{_folder_part(p.person.family)}.dcm"
    writer.write(relative, ds, ExplicitVRLittleEndian)
    add(
        "encapsulated_pdf",
        relative,
        (*p.originals(_DOCUMENT_ROLES), *study_originals),
        syntax=str(ExplicitVRLittleEndian),
        series=series_uid,
        sop=sop_uid,
    )


class CorpusError(UsageError, ValueError):
    """Corpus settings that cannot make a corpus; the message says which."""


def generate_corpus(
    out_dir: Path,
    *,
    patients: int = 3,
    studies_per_patient: int = 2,
    series_per_study: int = 2,
    instances_per_series: int = 3,
    rows: int = 256,
    cols: int = 256,
    seed: int = 0,
    transfer_syntaxes: Sequence[str] = tuple(TRANSFER_SYNTAXES.values()),
    include_documents: bool = True,
    include_bad_files: bool = False,
    on_file: Callable[[], object] | None = None,
) -> CorpusManifest:
    """Write an identifiable corpus under ``out_dir`` and return its manifest.

    ``transfer_syntaxes`` are UIDs, rotated series by series. ``include_documents``
    adds an SR report and a Key Object Selection per study; ``include_bad_files`` adds,
    for the first patient, files a correct run must quarantine (:data:`BAD_FILE_KINDS`).
    ``on_file`` is called once per file written (for a progress bar).
    """
    if patients < 1 or studies_per_patient < 1 or series_per_study < 1:
        raise CorpusError("a corpus needs at least one patient, study and series")
    if instances_per_series < 1 or rows < 8 or cols < 8:
        raise CorpusError("a series needs at least one instance of at least 8x8 pixels")
    unknown = [ts for ts in transfer_syntaxes if ts not in TRANSFER_SYNTAXES.values()]
    if unknown or not transfer_syntaxes:
        raise CorpusError(f"transfer syntaxes must be among {sorted(TRANSFER_SYNTAXES.values())}")
    out_dir.mkdir(parents=True, exist_ok=True)
    writer = _Writer(out_dir, seed, [UID(ts) for ts in transfer_syntaxes], on_file)
    for index in range(patients):
        context = _new_patient(index, seed)
        patient = _write_patient(
            writer,
            context,
            studies_per_patient,
            series_per_study,
            instances_per_series,
            rows,
            cols,
            include_documents,
        )
        writer.manifest.patients.append(patient)
        if include_bad_files and index == 0:
            _write_bad_files(writer, context, patient.studies[0])
    return writer.manifest
