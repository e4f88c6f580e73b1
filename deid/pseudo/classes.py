"""PSEUDO classes: what kind of realistic stand-in an identifier is replaced with.

Every class proposes random values (never derived from the original, as HIPAA
164.514(c) requires of re-identification codes) that are valid for the VRs it
lists. Which proposal becomes *the* pseudonym of an original is decided by the
mapping store, so one original gets one pseudonym in every file, run and site.

Two classes are not proposed at all but derived from the patient's enrollment:
DATE and DATETIME move the original by the patient's date offset, SUBJECT_ID is
the patient's trial subject ID.
"""

from __future__ import annotations

import secrets
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from faker import Faker

from deid.contract.errors import UsageError
from deid.contract.kinds import PSEUDONYM_KINDS, PseudonymKind

# Maximum value lengths (in characters) of the string VRs, PS3.5 Table 6.2-1.
VR_MAX_LENGTH: dict[str, int] = {
    "AE": 16,
    "AS": 4,
    "CS": 16,
    "DA": 8,
    "DS": 16,
    "DT": 26,
    "IS": 12,
    "LO": 64,
    "LT": 10240,
    "PN": 64,  # per component group
    "SH": 16,
    "ST": 1024,
    "TM": 14,
    "UC": 2**32 - 2,
    "UI": 64,
    "UR": 2**32 - 2,
    "UT": 2**32 - 2,
}


@dataclass(frozen=True)
class PseudoClass(PseudonymKind):
    """One PSEUDO class (:class:`~deid.contract.kinds.PseudonymKind`) and how its values
    are made."""

    _make: Callable[[str], str] | None = None

    def accepts(self, vr: str) -> bool:
        """True when this class's values are valid for ``vr``."""
        return vr in self.vrs

    def propose(self, vr: str) -> str:
        """A fresh random value valid for ``vr``.

        Raises ``ValueError`` for a VR the class does not accept and for derived
        classes, whose values come from the patient's enrollment instead.
        """
        if self._make is None:
            raise ValueError(f"PSEUDO class {self.name} is derived from the enrollment")
        if not self.accepts(vr):
            raise ValueError(f"PSEUDO class {self.name} cannot produce a valid {vr} value")
        limit = VR_MAX_LENGTH.get(vr, 64)
        for _ in range(50):
            value = _ascii(self._make(vr))
            if _fits(value, vr, limit):
                return value
        raise RuntimeError(f"PSEUDO class {self.name} found no value short enough for {vr}")


def _fits(value: str, vr: str, limit: int) -> bool:
    if vr == "PN":
        return all(len(group) <= limit for group in value.split("="))
    return 0 < len(value) <= limit


def _ascii(text: str) -> str:
    """Fold to ASCII so values need no Specific Character Set."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return folded.replace("\\", " ").strip()


_FAKER_PROVIDERS = ["faker.providers.person", "faker.providers.address"]
"""All the classes use: finding every provider's locale module costs a directory
listing each, most of a run's start-up otherwise."""


@cache
def _faker(locale: str) -> Faker:
    fake = Faker(locale, providers=_FAKER_PROVIDERS)
    # Seeded from the OS, never from anything in the data.
    fake.seed_instance(secrets.randbits(64))
    return fake


def reseed() -> None:
    """Forget the per-process Faker instances (call in a freshly forked worker)."""
    _faker.cache_clear()


def _clean_name(text: str) -> str:
    return "".join(c for c in text if c.isalpha() or c in " -'").strip()


def _given(vr: str) -> str:
    name = _clean_name(_faker("en_CA").first_name())
    return f"^{name}" if vr == "PN" else name


def _surname(vr: str) -> str:
    return _clean_name(_faker("en_CA").last_name())


def _full_name(vr: str) -> str:
    fake = _faker("en_CA")
    family, given = _clean_name(fake.last_name()), _clean_name(fake.first_name())
    return f"{family}^{given}" if vr == "PN" else f"{given} {family}"


# Real places, so addresses read like addresses; street names and numbers are random.
_CA_CITIES = (
    ("Toronto", "ON"), ("Ottawa", "ON"), ("Hamilton", "ON"), ("London", "ON"),
    ("Kingston", "ON"), ("Sudbury", "ON"), ("Montreal", "QC"), ("Quebec", "QC"),
    ("Sherbrooke", "QC"), ("Halifax", "NS"), ("Moncton", "NB"), ("Fredericton", "NB"),
    ("Charlottetown", "PE"), ("St. John's", "NL"), ("Winnipeg", "MB"), ("Regina", "SK"),
    ("Saskatoon", "SK"), ("Calgary", "AB"), ("Edmonton", "AB"), ("Red Deer", "AB"),
    ("Vancouver", "BC"), ("Victoria", "BC"), ("Whitehorse", "YT"), ("Yellowknife", "NT"),
)  # fmt: skip
_BC_CITIES = (
    "Vancouver", "Victoria", "Surrey", "Burnaby", "Richmond", "Kelowna", "Kamloops",
    "Nanaimo", "Prince George", "Abbotsford", "Chilliwack", "Vernon", "Penticton",
    "Courtenay", "Cranbrook", "Nelson", "Terrace", "Fort St. John", "Squamish", "Langley",
)  # fmt: skip


def _street() -> str:
    fake = _faker("en_CA")
    return f"{secrets.randbelow(9899) + 100} {fake.street_name()}"


def _location_ca(vr: str) -> str:
    city, province = _CA_CITIES[secrets.randbelow(len(_CA_CITIES))]
    postal = _faker("en_CA").postalcode_in_province(province)
    return f"{_street()}, {city}, {province} {postal}"


def _location_bc(vr: str) -> str:
    city = _BC_CITIES[secrets.randbelow(len(_BC_CITIES))]
    postal = _faker("en_CA").postalcode_in_province("BC")
    return f"{_street()}, {city}, BC {postal}"


def _location(vr: str) -> str:
    fake = _faker("en_US")
    return f"{fake.street_address()}, {fake.city()}, {fake.state_abbr()} {fake.postcode()}"


_INSTITUTION_KINDS = (
    "General Hospital", "Regional Health Centre", "Memorial Hospital", "Health Sciences Centre",
    "Community Hospital", "District Hospital", "Imaging Centre", "University Hospital",
)  # fmt: skip


def _institution_ca(vr: str) -> str:
    city, _ = _CA_CITIES[secrets.randbelow(len(_CA_CITIES))]
    return f"{city} {_INSTITUTION_KINDS[secrets.randbelow(len(_INSTITUTION_KINDS))]}"


def _institution(vr: str) -> str:
    city = _faker("en_US").city()
    return f"{city} {_INSTITUTION_KINDS[secrets.randbelow(len(_INSTITUTION_KINDS))]}"


def _time(vr: str) -> str:
    seconds = secrets.randbelow(86400)
    return f"{seconds // 3600:02d}{seconds // 60 % 60:02d}{seconds % 60:02d}"


def _id_numerical(vr: str) -> str:
    width = 8 if vr == "IS" else 10
    first = str(secrets.randbelow(9) + 1)
    return first + "".join(str(secrets.randbelow(10)) for _ in range(width - 1))


_ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I/O/0/1: read aloud without confusion


def _id_alphanumerical(vr: str) -> str:
    return "".join(_ALNUM[secrets.randbelow(len(_ALNUM))] for _ in range(10))


def new_uid() -> str:
    """A random UID under the 2.25 root (ISO/IEC 9834-8 UUID), at most 44 characters."""
    return f"2.25.{uuid.uuid4().int}"


def _uid(vr: str) -> str:
    return new_uid()


def _phone(vr: str) -> str:
    area = secrets.randbelow(800) + 200
    return f"{area}-555-{secrets.randbelow(10000):04d}"


def _email(vr: str) -> str:
    fake = _faker("en_CA")
    user = f"{_clean_name(fake.first_name())}.{_clean_name(fake.last_name())}".lower()
    user = user.replace(" ", "").replace("'", "")
    return f"{user}{secrets.randbelow(1000)}@example.org"


_MAKERS: dict[str, Callable[[str], str]] = {
    "GIVEN_NAME": _given,
    "SURNAME": _surname,
    "FULL_NAME": _full_name,
    "LOCATION_CA": _location_ca,
    "LOCATION_BC": _location_bc,
    "LOCATION": _location,
    "TIME": _time,
    "ID_NUMERICAL": _id_numerical,
    "ID_ALPHANUMERICAL": _id_alphanumerical,
    "UID": _uid,
    "HEALTH_INSTITUTION_CA": _institution_ca,
    "HEALTH_INSTITUTION": _institution,
    "PHONE": _phone,
    "EMAIL": _email,
}
"""How each proposed class makes a value (derived classes make none)."""

PSEUDO_CLASSES: dict[str, PseudoClass] = {
    name: PseudoClass(
        kind.name,
        kind.description,
        kind.vrs,
        kind.identifying,
        kind.derivation,
        _make=_MAKERS.get(name),
    )
    for name, kind in PSEUDONYM_KINDS.items()
}
"""Every PSEUDO class of the contract's table, able to propose values."""


class UnknownPseudoClassError(UsageError, KeyError):
    """A PSEUDO class name that does not exist."""

    def __str__(self) -> str:
        return str(self.args[0])


def get_class(name: str) -> PseudoClass:
    """The PSEUDO class called ``name`` (case-insensitive)."""
    try:
        return PSEUDO_CLASSES[name.upper()]
    except KeyError:
        raise UnknownPseudoClassError(
            f"unknown PSEUDO class {name!r}; known classes: {', '.join(sorted(PSEUDO_CLASSES))}"
        ) from None
