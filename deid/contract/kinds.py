"""Mapping kinds: the PSEUDO classes' names and what each one is, and ``UID``.

A mapping's kind is its namespace in the store: a PSEUDO class name (``FULL_NAME``)
or ``UID``. The vault needs only whether a kind *identifies* (two originals never
share a pseudonym of such a kind); ``deid`` (:mod:`deid.pseudo`) adds to each class
the generator of its random proposals.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

UID_KIND = "UID"
"""The kind of UID pseudonyms (random 2.25 UIDs)."""

TEXT_VRS = frozenset({"LO", "ST", "LT", "UT", "UC"})
_NAME_VRS = frozenset({"PN", "SH"}) | TEXT_VRS
_ID_VRS = frozenset({"LO", "SH", "CS", "UC", "ST", "LT", "UT"})


class Derivation(Enum):
    """Where a class's value comes from."""

    PROPOSED = "proposed"
    """A random proposal, made canonical by the mapping store."""
    DATE_OFFSET = "date_offset"
    """The original moved by the patient's date offset."""
    SUBJECT_ID = "subject_id"
    """The patient's trial subject ID."""


@dataclass(frozen=True)
class PseudonymKind:
    """One PSEUDO class as both sides know it: its name, the VRs it can fill, whether it
    identifies, and where its values come from."""

    name: str
    description: str
    vrs: frozenset[str]
    identifying: bool
    """Two different originals never share a pseudonym of an identifying class."""
    derivation: Derivation = Derivation.PROPOSED


PSEUDONYM_KINDS: dict[str, PseudonymKind] = {
    kind.name: kind
    for kind in (
        PseudonymKind("GIVEN_NAME", "a given name (PN: ^Given)", _NAME_VRS, True),
        PseudonymKind("SURNAME", "a family name", _NAME_VRS, True),
        PseudonymKind("FULL_NAME", "a full name (PN: Family^Given)", _NAME_VRS, True),
        PseudonymKind("LOCATION_CA", "a Canadian street address", TEXT_VRS, True),
        PseudonymKind("LOCATION_BC", "a British Columbia street address", TEXT_VRS, True),
        PseudonymKind("LOCATION", "a street address", TEXT_VRS, True),
        PseudonymKind(
            "DATE",
            "the date moved by the patient's date offset",
            frozenset({"DA", "DT"}),
            False,
            Derivation.DATE_OFFSET,
        ),
        PseudonymKind(
            "DATETIME",
            "the date-time moved by the patient's date offset",
            frozenset({"DT"}),
            False,
            Derivation.DATE_OFFSET,
        ),
        PseudonymKind("TIME", "a random time of day", frozenset({"TM"}), False),
        PseudonymKind("ID_NUMERICAL", "a 10-digit number (IS: 8 digits)", _ID_VRS | {"IS"}, True),
        PseudonymKind("ID_ALPHANUMERICAL", "10 upper-case letters and digits", _ID_VRS, True),
        PseudonymKind(UID_KIND, "a random 2.25 UID", frozenset({"UI"}), True),
        PseudonymKind(
            "HEALTH_INSTITUTION_CA", "a Canadian hospital or imaging centre name", TEXT_VRS, True
        ),
        PseudonymKind("HEALTH_INSTITUTION", "a hospital or imaging centre name", TEXT_VRS, True),
        PseudonymKind("PHONE", "a telephone number", frozenset({"SH"}) | TEXT_VRS, True),
        PseudonymKind("EMAIL", "an e-mail address at example.org", TEXT_VRS, True),
        PseudonymKind(
            "SUBJECT_ID",
            "the patient's trial subject ID",
            _ID_VRS | {"PN"},  # PN: Patient's Name under --patient-name subject-id
            False,
            Derivation.SUBJECT_ID,
        ),
    )
}
"""Every PSEUDO class, by name."""


def is_identifying(kind: str) -> bool:
    """Whether two originals of ``kind`` must never share a pseudonym.

    PSEUDO classes say so themselves; UIDs are identifying; kinds nobody knows are
    treated as identifying, the safe side.
    """
    known = PSEUDONYM_KINDS.get(kind)
    return known is None or known.identifying
