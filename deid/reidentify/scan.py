"""What a de-identified file holds that the vault can take back.

A file written by ``deid run``, or a new object made from such files (a SEG, SR,
KOS or presentation state an AI tool or a viewer wrote), carries:

* the **subject ID**, in Clinical Trial Subject ID, else Patient ID;
* **UID pseudonyms**, anywhere: the data set at any depth (Referenced SOP Instance
  UIDs inside sequences) and the file meta. UIDs under the DICOM root and
  deid-vault's own Implementation Class UID are never pseudonyms, so they are not
  asked about; the object's own new UIDs are asked about and stay as they are,
  since the vault does not know them;
* **name pseudonyms** in PN values, in the PN form the vault stores
  (``Family^Given`` is FULL_NAME, ``^Given`` GIVEN_NAME, ``Family`` SURNAME);
* **identifier pseudonyms** in the attributes that carry identifiers (IDs,
  accession numbers, institutions, addresses, telephone numbers), each asked as the
  kinds its pseudonym may be of (:data:`KIND_CANDIDATES`).

The subject ID itself is not a pseudonym (the vault releases it as the patient key
and date offset), and the trial attributes (group 0012) are the trial's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from deid.contract.reidentification import Pseudonym
from deid.handlers.names import normalized_name
from deid.identifiers import PSEUDO_CLASS_FOR_KIND, kind_of
from deid.uids import IMPLEMENTATION_CLASS_UID, UID_KIND, is_standard, split_uids
from deid.walk import Visit, element_text, value_text, walk

CLINICAL_TRIAL_SUBJECT_ID = 0x00120040
PATIENT_ID = 0x00100020
PATIENT_IDENTITY_REMOVED = 0x00120062
IMPLEMENTATION_CLASS_UID_TAG = 0x00020012
PIXEL_DATA_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})
TRIAL_GROUP = 0x0012
TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC", "CS"})

KIND_CANDIDATES: dict[str, tuple[str, ...]] = {
    "ID_ALPHANUMERICAL": ("ID_ALPHANUMERICAL", "ID_NUMERICAL"),
    "HEALTH_INSTITUTION": ("HEALTH_INSTITUTION", "HEALTH_INSTITUTION_CA"),
    "LOCATION": ("LOCATION", "LOCATION_CA", "LOCATION_BC"),
}
"""The kinds a pseudonym may be of, by the PSEUDO class an attribute's identifier kind
calls for (a recipe may have chosen a sibling class). Other classes stand alone."""


def name_kind(name: str) -> str:
    """The name kind whose pseudonyms have this PN form."""
    family, caret, _ = name.partition("^")
    if not caret:
        return "SURNAME"
    return "GIVEN_NAME" if not family else "FULL_NAME"


def text_kinds(keyword: str, vr: str, value: str) -> tuple[str, ...]:
    """The kinds a value of an identifier-bearing text attribute may be a pseudonym of."""
    kind = kind_of(keyword, vr)
    if kind is None:
        return ()
    pseudo_class = PSEUDO_CLASS_FOR_KIND[kind]
    if pseudo_class == "FULL_NAME":
        return ()  # names outside PN are written "Given Family": not a stored form
    kinds = KIND_CANDIDATES.get(pseudo_class, (pseudo_class,))
    if pseudo_class == "ID_ALPHANUMERICAL" and not value.isdigit():
        return ("ID_ALPHANUMERICAL",)  # numerical pseudonyms are digits only
    return kinds


@dataclass(frozen=True)
class Candidate:
    """One value of one element and the pseudonyms it may be."""

    kinds: tuple[str, ...]
    value: str

    def pseudonyms(self) -> tuple[Pseudonym, ...]:
        """The (kind, value) pairs to ask the vault about."""
        return tuple(Pseudonym(kind, self.value) for kind in self.kinds)


def element_candidates(visit: Visit, text: str, subject_id: str) -> list[Candidate]:
    """The values of one element that may be pseudonyms (``text``: its value as text)."""
    tag, vr = visit.tag, visit.vr
    if tag >> 16 == TRIAL_GROUP or tag in (PATIENT_ID, IMPLEMENTATION_CLASS_UID_TAG):
        return []
    found: list[Candidate] = []
    if vr == "UI":
        for uid in split_uids(text):
            if uid and not is_standard(uid) and uid != IMPLEMENTATION_CLASS_UID:
                found.append(Candidate((UID_KIND,), uid))
    elif vr == "PN":
        for value in text.split("\\"):
            name = normalized_name(value)
            if name and name != subject_id:
                found.append(Candidate((name_kind(name),), name))
    elif vr in TEXT_VRS and visit.keyword:
        for value in text.split("\\"):
            value = value.strip()
            kinds = text_kinds(visit.keyword, vr, value) if value else ()
            if kinds and value != subject_id:
                found.append(Candidate(kinds, value))
    return found


def wants_text(visit: Visit) -> bool:
    """Whether an element's value must be read to find pseudonyms in it."""
    if visit.vr in ("UI", "PN"):
        return True
    return (
        visit.vr in TEXT_VRS
        and bool(visit.keyword)
        and kind_of(visit.keyword, visit.vr) is not None
    )


def visit_text(visit: Visit) -> str:
    """An element's value as text (decoded with the data set's character set)."""
    return value_text(visit.dataset[visit.tag].value).strip()


def subject_of(dataset: Dataset) -> str:
    """The subject ID a de-identified file (or derived object) belongs to, or ``""``."""
    return element_text(dataset, CLINICAL_TRIAL_SUBJECT_ID) or element_text(dataset, PATIENT_ID)


def pseudonyms_of(dataset: Dataset) -> frozenset[Pseudonym]:
    """Every pseudonym the vault may know in ``dataset`` and its file meta."""
    subject_id = subject_of(dataset)
    found: set[Pseudonym] = set()

    def visit(v: Visit) -> bool:
        if v.vr != "SQ" and wants_text(v):
            for candidate in element_candidates(v, visit_text(v), subject_id):
                found.update(candidate.pseudonyms())
        return True

    meta = getattr(dataset, "file_meta", None)
    if meta is not None:
        walk(meta, visit)
    walk(dataset, visit)
    return frozenset(found)


@dataclass(frozen=True)
class ScannedFile:
    """One input file: its subject and pseudonyms, or why it cannot be used."""

    path: Path
    relative: str
    subject_id: str = ""
    pseudonyms: frozenset[Pseudonym] = frozenset()
    problem: str | None = None
    """Why the file cannot be re-identified (not DICOM, no subject ID), or ``None``."""
    problem_status: str = "not-written"
    """``skipped`` for a file that is not DICOM at all, ``not-written`` otherwise."""


def read_dataset(path: Path, *, with_pixels: bool = True) -> Dataset:
    """Read a DICOM file (whole, when it will be written again), never changing it."""
    return dcmread(path, force=False, stop_before_pixels=not with_pixels)


def scan_file(path: Path, relative: str) -> ScannedFile:
    """Read ``path`` and list what the vault may take back in it."""
    try:
        dataset = read_dataset(path, with_pixels=False)  # pixels hold no pseudonyms
        subject_id = subject_of(dataset)
        pseudonyms = pseudonyms_of(dataset)
    except (InvalidDicomError, OSError, EOFError, ValueError, TypeError, KeyError) as exc:
        return ScannedFile(
            path,
            relative,
            problem=f"not a readable DICOM file ({type(exc).__name__})",
            problem_status="skipped",
        )
    if element_text(dataset, PATIENT_IDENTITY_REMOVED).upper() == "NO":
        return ScannedFile(
            path, relative, problem="it is not de-identified (Patient Identity Removed is NO)"
        )
    if not subject_id:
        return ScannedFile(
            path,
            relative,
            problem="it names no subject (no Clinical Trial Subject ID or Patient ID)",
        )
    return ScannedFile(path, relative, subject_id, pseudonyms)
