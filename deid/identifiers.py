"""What the identifying originals of one file are, and how they may be spelled.

The map step collects every value that leaves the file because it identifies
someone (names, IDs, the birth date, accession numbers, addresses, telephone
numbers, institution names, replaced UIDs). From them this module derives the
*needles*: the spellings in which such a value may turn up elsewhere, in a kept
description or a private tag (``Smith^John`` as ``John Smith``, ``19800102`` as
``02/01/1980``). The scrubber cuts needles out of cleaned text; the guard refuses
a file in which any needle is left.

Needle rules (shared by both, so a scrubbed value never trips the guard):

* matching ignores case and requires a boundary on each side: no letter or digit
  next to a needle (for UIDs: no digit or dot), so ``Li`` never hits ``Liver`` and
  ``12345`` never hits ``123456``;
* name parts and IDs shorter than :data:`MIN_TOKEN` characters are not needles on
  their own (an initial or a two-letter ID would hit ordinary words); the full name
  still is;
* UIDs the profile keeps are never collected, so they are not needles.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from functools import lru_cache

from pydicom.charset import encode_string

from deid.dates import DateValueError, parse_da

MIN_TOKEN = 3
"""Shortest name part or ID that is a needle on its own."""


class IdentifierKind(Enum):
    """Which kind of identifier a needle stands for; guard messages name it."""

    PATIENT_NAME = "patient name"
    PERSON_NAME = "person name"
    PATIENT_ID = "patient ID"
    ACCESSION = "accession number"
    OTHER_ID = "identifier"
    BIRTH_DATE = "birth date"
    ADDRESS = "address"
    PHONE = "telephone number"
    INSTITUTION = "institution name"
    UID = "UID"


# Attributes whose kind the keyword alone does not tell.
_KIND_BY_KEYWORD: dict[str, IdentifierKind] = {
    "PatientName": IdentifierKind.PATIENT_NAME,
    "OtherPatientNames": IdentifierKind.PATIENT_NAME,
    "PatientBirthName": IdentifierKind.PATIENT_NAME,
    "PatientMotherBirthName": IdentifierKind.PATIENT_NAME,
    "PatientID": IdentifierKind.PATIENT_ID,
    "OtherPatientIDs": IdentifierKind.PATIENT_ID,
    "AccessionNumber": IdentifierKind.ACCESSION,
    "PatientBirthDate": IdentifierKind.BIRTH_DATE,
    "VerifyingOrganization": IdentifierKind.INSTITUTION,
    "ClinicalTrialCoordinatingCenterName": IdentifierKind.INSTITUTION,
    "ClinicalTrialProtocolEthicsCommitteeName": IdentifierKind.INSTITUTION,
    "MilitaryRank": IdentifierKind.OTHER_ID,
    "BranchOfService": IdentifierKind.OTHER_ID,
    "MedicalRecordLocator": IdentifierKind.OTHER_ID,
}
_TEXT_VRS = frozenset({"LO", "SH", "UC", "LT", "ST", "UT", "CS", "AE"})
_ID_SUFFIXES = ("ID", "IDs", "Identifier", "Number", "Numbers", "Locator")


def kind_of(keyword: str, vr: str) -> IdentifierKind | None:
    """The kind of identifier an attribute carries, or ``None`` for other attributes."""
    known = _KIND_BY_KEYWORD.get(keyword)
    if known is not None:
        return known
    if vr == "PN":
        return IdentifierKind.PERSON_NAME
    if vr not in _TEXT_VRS or not keyword:
        return None
    if "Address" in keyword:
        return IdentifierKind.ADDRESS
    if "Telephone" in keyword or "Telecom" in keyword:
        return IdentifierKind.PHONE
    if "Institution" in keyword:
        return IdentifierKind.INSTITUTION
    if keyword.endswith(_ID_SUFFIXES):
        return IdentifierKind.OTHER_ID
    return None


PSEUDO_CLASS_FOR_KIND: dict[IdentifierKind, str] = {
    IdentifierKind.PATIENT_NAME: "FULL_NAME",
    IdentifierKind.PERSON_NAME: "FULL_NAME",
    IdentifierKind.PATIENT_ID: "ID_ALPHANUMERICAL",
    IdentifierKind.ACCESSION: "ID_ALPHANUMERICAL",
    IdentifierKind.OTHER_ID: "ID_ALPHANUMERICAL",
    IdentifierKind.ADDRESS: "LOCATION",
    IdentifierKind.PHONE: "PHONE",
    IdentifierKind.INSTITUTION: "HEALTH_INSTITUTION",
    IdentifierKind.UID: "UID",
}
"""The PSEUDO class a D (dummy) value of an identity-bearing attribute is drawn from,
so the dummy is a consistent pseudonym rather than a constant."""


@dataclass(frozen=True, slots=True)
class Needle:
    """One spelling of an identifying original, lower-cased."""

    text: str
    kind: IdentifierKind
    key: str = ""
    """A short part every occurrence contains (the family name of ``John Smith``, the
    year of a date): the guard looks for it once before looking for the needle."""

    @property
    def is_uid(self) -> bool:
        """UID needles have digit-or-dot boundaries and are also sought in UI values."""
        return self.kind is IdentifierKind.UID


@dataclass
class Identifiers:
    """The identifying originals of one file, in the spellings they may take."""

    encodings: tuple[str, ...] = ()
    """The file's character sets (Python codec names): non-ASCII needles are also
    sought as the bytes the file holds, read as Latin-1, as the guard reads raw values."""
    needles: dict[str, Needle] = field(default_factory=dict)
    """By lower-cased text; the first kind seen wins."""

    def add(self, kind: IdentifierKind, value: str) -> None:
        """Collect an original value (multi-valued values are split)."""
        for item in value.split("\\"):
            item = item.strip()
            if item:
                for needle in needles_of(kind, item, self.encodings):
                    self.needles.setdefault(needle.text, needle)

    def extend(self, values: Iterable[tuple[IdentifierKind, str]]) -> None:
        """Collect several (kind, original) values."""
        for kind, value in values:
            self.add(kind, value)

    def patient_level(self) -> tuple[Needle, ...]:
        """Needles other than UIDs, longest first: what the scrubber cuts out of text."""
        return tuple(
            sorted(
                (n for n in self.needles.values() if not n.is_uid),
                key=lambda n: (-len(n.text), n.text),
            )
        )


@lru_cache(maxsize=4096)
def needles_of(kind: IdentifierKind, value: str, encodings: tuple[str, ...]) -> tuple[Needle, ...]:
    """The needles of one original (cached: a patient's name recurs in every file)."""
    found: dict[str, Needle] = {}
    for spelling in _spellings(kind, value):
        spelling = spelling.strip()
        text = spelling.lower()
        if len(text) < MIN_TOKEN or sum(c.isalnum() for c in text) < MIN_TOKEN:
            continue
        found.setdefault(text, Needle(text, kind))
        if encodings and not text.isascii():
            raw_text = encode_string(spelling, list(encodings)).decode("latin-1").lower()
            found.setdefault(raw_text, Needle(raw_text, kind))
    keys = sorted({*found, *_key_hints(kind, value)}, key=len)
    return tuple(Needle(n.text, kind, next(k for k in keys if k in n.text)) for n in found.values())


def _key_hints(kind: IdentifierKind, value: str) -> list[str]:
    """Keys that are not needles themselves: the year every spelling of a date holds."""
    if kind is IdentifierKind.BIRTH_DATE:
        try:
            return [f"{parse_da(value).year:04d}"]
        except DateValueError:
            return []
    return []


def _spellings(kind: IdentifierKind, value: str) -> list[str]:
    if kind in (IdentifierKind.PATIENT_NAME, IdentifierKind.PERSON_NAME):
        return name_spellings(value)
    if kind is IdentifierKind.BIRTH_DATE:
        return date_spellings(value)
    if kind is IdentifierKind.ADDRESS:
        return [value, *(part for part in re.split(r"[,;\r\n^]+", value) if len(part.strip()) >= 8)]
    return [value]


def name_spellings(value: str) -> list[str]:
    """A PN value as people write it: ``Smith^John^Q`` -> ``John Smith``, parts..."""
    spellings = [value]
    for group in value.split("="):  # alphabetic, ideographic, phonetic groups
        components = [c.strip() for c in group.split("^")]
        family, given, middle = [*components, "", "", ""][:3]
        spellings.append(group.rstrip("^"))
        if family and given:
            spellings += [
                f"{given} {family}",
                f"{family} {given}",
                f"{family}, {given}",
                f"{family},{given}",
                f"{family}^{given}",
            ]
            if middle:
                spellings += [f"{given} {middle} {family}", f"{family}, {given} {middle}"]
        for component in (family, given, middle):
            # Each word of a part on its own: "van der Berg" -> "Berg" (short words drop).
            spellings.append(component)
            spellings += component.replace("-", " ").split()
    return spellings


_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def date_spellings(value: str) -> list[str]:
    """A DA value in the spellings of forms and reports: ``19800102`` -> ``02/01/1980``..."""
    try:
        day = parse_da(value)
    except DateValueError:
        return [value]
    return _date_spellings(day)


def _date_spellings(day: date) -> list[str]:
    y, m, d = f"{day.year:04d}", f"{day.month:02d}", f"{day.day:02d}"
    month = _MONTHS[day.month - 1]
    spellings = [f"{y}{m}{d}"]
    spellings += [f"{y}{sep}{m}{sep}{d}" for sep in "-/."]
    for first, second in (
        (d, m),
        (m, d),
        (str(day.day), str(day.month)),
        (str(day.month), str(day.day)),
    ):
        spellings += [f"{first}{sep}{second}{sep}{y}" for sep in "/.-"]
    for name in (month, month[:3]):
        spellings += [
            f"{day.day} {name} {y}",
            f"{d} {name} {y}",
            f"{name} {day.day}, {y}",
            f"{name} {d}, {y}",
            f"{d}-{name}-{y}",
        ]
    return spellings
