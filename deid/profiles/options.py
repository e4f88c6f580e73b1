"""The PS3.15 Annex E options: names, table columns, CID 7050 codes, defaults.

An option changes the Basic Profile's action for the attributes that have a code in
its column of Table E.1-1 ("A requirement for an Option, when implemented,
overrides any requirement for the underlying Profile", PS3.15 E.1.1). The standard
does not say what happens when two selected options give one attribute different
codes; in Table E.1-1 (2024b) that happens only for device calibration dates and
times (Retain Device Identity says K, Retain Longitudinal Temporal Information with
Modified Dates says C). We take the more conservative code (see
:data:`CONSERVATIVE_ORDER`), so a real calibration date never sits next to shifted
patient dates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple

from deid.contract.errors import UsageError
from deid.profiles.table import TableRow


class OptionError(UsageError, ValueError):
    """An option name that does not exist, or options that cannot be combined."""


@dataclass(frozen=True, slots=True)
class MethodCode:
    """One item of the De-identification Method Code Sequence (CID 7050)."""

    value: str
    meaning: str
    scheme: str = "DCM"


BASIC_PROFILE_CODE = MethodCode("113100", "Basic Application Confidentiality Profile")
"""CID 7050 code of the Basic Application Level Confidentiality Profile itself."""


@dataclass(frozen=True, slots=True)
class _Spec:
    table_key: str
    title: str
    code: MethodCode
    description: str


class Option(Enum):
    """The ten Table E.1-1 options, valued by their command-line names.

    Members are declared in the order of Table E.1-1's option columns, which is
    also the order of the De-identification Method Code Sequence items we write.
    """

    RETAIN_SAFE_PRIVATE = "retain-safe-private"
    RETAIN_UIDS = "retain-uids"
    RETAIN_DEVICE_IDENTITY = "retain-device-identity"
    RETAIN_INSTITUTION_IDENTITY = "retain-institution-identity"
    RETAIN_PATIENT_CHARACTERISTICS = "retain-patient-characteristics"
    RETAIN_LONG_FULL_DATES = "retain-long-full-dates"
    RETAIN_LONG_MODIFIED_DATES = "retain-long-modified-dates"
    CLEAN_DESCRIPTORS = "clean-descriptors"
    CLEAN_STRUCTURED_CONTENT = "clean-structured-content"
    CLEAN_GRAPHICS = "clean-graphics"

    @property
    def cli_name(self) -> str:
        """The name used on the command line, e.g. ``retain-uids``."""
        return self.value

    @property
    def table_key(self) -> str:
        """The key of this option's column in the Table E.1-1 JSON."""
        return _SPECS[self].table_key

    @property
    def title(self) -> str:
        """The option's name as PS3.15 E.3 and CID 7050 spell it."""
        return _SPECS[self].title

    @property
    def code(self) -> MethodCode:
        """The option's CID 7050 code (De-identification Method Code Sequence)."""
        return _SPECS[self].code

    @property
    def description(self) -> str:
        """One line for ``deid inspect`` and the README: what the option keeps or cleans."""
        return _SPECS[self].description


def _spec(table_key: str, title: str, code: str, description: str) -> _Spec:
    return _Spec(table_key, title, MethodCode(code, title), description)


# Code values and meanings: PS3.16 CID 7050 "De-identification Method", as carried
# by pydicom's generated concept dictionary (tests/deid/test_profile_options.py
# checks every one against it).
_SPECS: dict[Option, _Spec] = {
    Option.RETAIN_SAFE_PRIVATE: _spec(
        "rtnSafePrivOpt",
        "Retain Safe Private Option",
        "113111",
        "keep private attributes on the safe-private list (PS3.15 Table E.3.10-1 or yours)",
    ),
    Option.RETAIN_UIDS: _spec(
        "rtnUIDsOpt",
        "Retain UIDs Option",
        "113110",
        "keep the original study, series, instance and other UIDs",
    ),
    Option.RETAIN_DEVICE_IDENTITY: _spec(
        "rtnDevIdOpt",
        "Retain Device Identity Option",
        "113109",
        "keep device serial numbers, station names, device UIDs and calibration data",
    ),
    Option.RETAIN_INSTITUTION_IDENTITY: _spec(
        "rtnInstIdOpt",
        "Retain Institution Identity Option",
        "113112",
        "keep institution names, addresses and departments",
    ),
    Option.RETAIN_PATIENT_CHARACTERISTICS: _spec(
        "rtnPatCharsOpt",
        "Retain Patient Characteristics Option",
        "113108",
        "keep age, sex, size, weight and similar characteristics",
    ),
    Option.RETAIN_LONG_FULL_DATES: _spec(
        "rtnLongFullDatesOpt",
        "Retain Longitudinal Temporal Information Full Dates Option",
        "113106",
        "keep every date and time unchanged",
    ),
    Option.RETAIN_LONG_MODIFIED_DATES: _spec(
        "rtnLongModifDatesOpt",
        "Retain Longitudinal Temporal Information Modified Dates Option",
        "113107",
        "keep dates and times, moved by the patient's own date offset",
    ),
    Option.CLEAN_DESCRIPTORS: _spec(
        "cleanDescOpt",
        "Clean Descriptors Option",
        "113105",
        "keep descriptions and comments with the patient's identifiers scrubbed out",
    ),
    Option.CLEAN_STRUCTURED_CONTENT: _spec(
        "cleanStructContOpt",
        "Clean Structured Content Option",
        "113104",
        "keep structured report content and acquisition context, cleaned item by item",
    ),
    Option.CLEAN_GRAPHICS: _spec(
        "cleanGraphOpt",
        "Clean Graphics Option",
        "113103",
        "keep overlays, curves and graphic annotations, cleaned",
    ),
}

DEFAULT_TRIAL_OPTIONS: frozenset[Option] = frozenset({Option.RETAIN_LONG_MODIFIED_DATES})
"""Options of ``deid run`` when none are given: every date of a patient moves by the
patient's offset, as the product promises. Ask for ``--profile basic`` (no option)
to get the pure Basic Profile."""

_EXCLUSIVE = frozenset({Option.RETAIN_LONG_FULL_DATES, Option.RETAIN_LONG_MODIFIED_DATES})

CONSERVATIVE_ORDER = ("X", "Z", "D", "U", "C", "K")
"""Single codes from most to least conservative, used when selected options disagree."""


def parse_option(name: str) -> Option:
    """The option called ``name``: its CLI name, enum name or table key (any case)."""
    wanted = name.strip().lower().replace("_", "-")
    for option in Option:
        if wanted in (option.value, option.table_key.lower()):
            return option
    known = ", ".join(option.value for option in Option)
    raise OptionError(f"unknown option {name!r}; known options: {known}")


def validate_options(options: Iterable[Option | str]) -> frozenset[Option]:
    """A checked option set from options or option names.

    Raises :class:`OptionError` for an unknown name and for asking for full and
    modified dates at once, which contradict each other.
    """
    chosen = frozenset(o if isinstance(o, Option) else parse_option(o) for o in options)
    if chosen >= _EXCLUSIVE:
        raise OptionError(
            "options retain-long-full-dates and retain-long-modified-dates exclude each "
            "other: keep dates unchanged or move them by the patient's offset, not both"
        )
    return chosen


def ordered(options: Iterable[Option]) -> tuple[Option, ...]:
    """``options`` in Table E.1-1 column order (the order of the method code items)."""
    chosen = set(options)
    return tuple(option for option in Option if option in chosen)


def method_codes(options: Iterable[Option]) -> tuple[MethodCode, ...]:
    """The De-identification Method Code Sequence items: the profile, then each option."""
    return (BASIC_PROFILE_CODE, *(option.code for option in ordered(options)))


class EffectiveCode(NamedTuple):
    """A row's table code once the selected options are applied."""

    code: str
    """A Table E.1-1 code, possibly combined (``X/Z``); see ``resolve_combined``."""
    option: Option | None
    """The option whose column decided the code; ``None`` for the Basic Profile."""
    overruled: tuple[Option, ...] = ()
    """Selected options whose less conservative code for this row was not taken."""


def effective_code(row: TableRow, options: Iterable[Option]) -> EffectiveCode:
    """Resolve one Table E.1-1 row under ``options`` into its effective table code.

    An option with a code for the row overrides the Basic Profile. When several do
    and disagree, the most conservative code wins (:data:`CONSERVATIVE_ORDER`).
    """
    applicable = [
        (code, option)
        for option in ordered(options)
        if (code := row.option_code(option.table_key)) is not None
    ]
    if not applicable:
        return EffectiveCode(row.basic, None)
    code, option = min(applicable, key=lambda pair: CONSERVATIVE_ORDER.index(pair[0]))
    overruled = tuple(o for c, o in applicable if c != code)
    return EffectiveCode(code, option, overruled)
