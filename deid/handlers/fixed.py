"""Fixed results: remove (X), empty (Z, BLANK), a recipe's value (REPLACE), and the
dummy values of D for attributes that identify no one.

An identity-bearing attribute's D is a consistent pseudonym instead (names, IDs,
UIDs: :mod:`deid.handlers.names`, :mod:`deid.handlers.ids`,
:mod:`deid.handlers.uids`). A sequence's D keeps one item, its first, in which
every element has been planned to hold a dummy or nothing
(:mod:`deid.profiles.sequences`): the other items go here.
"""

from __future__ import annotations

from pydicom import config
from pydicom.sequence import Sequence
from pydicom.valuerep import validate_value

from deid.handlers.base import ASCII_VRS, CHARSET_VRS, FileState, Step
from deid.outcome import QuarantineError, QuarantineReason

DUMMY_TEXT = "ANONYMIZED"
DUMMY_VALUES: dict[str, str | int | float | bytes] = {
    "AE": DUMMY_TEXT,
    "AS": "000D",
    "CS": DUMMY_TEXT,
    "DA": "19000101",
    "DS": "0",
    "DT": "19000101000000",
    "IS": "0",
    "LO": DUMMY_TEXT,
    "LT": DUMMY_TEXT,
    "PN": DUMMY_TEXT,
    "SH": DUMMY_TEXT,
    "ST": DUMMY_TEXT,
    "TM": "000000",
    "UC": DUMMY_TEXT,
    "UR": "urn:deid:anonymized",
    "UT": DUMMY_TEXT,
    "US": 0,
    "SS": 0,
    "UL": 0,
    "SL": 0,
    "UV": 0,
    "SV": 0,
    "AT": 0,
    "FL": 0.0,
    "FD": 0.0,
}
"""D values by VR; dates and times are the same fixed dummy in every file, so they
carry no temporal information (the Basic Profile removes it)."""
STRING_VRS = ASCII_VRS | CHARSET_VRS
_DUMMY_BYTES = b"\x00" * 8  # a valid length for OB, OW, OF, OD, OL, OV and UN alike
_DUMMY_BY_KEYWORD: dict[str, bytes] = {
    "FrameOriginTimestamp": b"\x00" * 10,  # an IEEE 1588 timestamp: the PTP epoch
}
_NUMERIC_INT = frozenset({"US", "SS", "UL", "SL", "UV", "SV", "AT"})
_NUMERIC_FLOAT = frozenset({"FL", "FD"})


def dummy_value(vr: str, keyword: str = "") -> str | int | float | bytes:
    """The D value of a VR (of an attribute whose binary value has a fixed form)."""
    return DUMMY_VALUES.get(vr, _DUMMY_BY_KEYWORD.get(keyword, _DUMMY_BYTES))


class Remove:
    """X: the element goes (a sequence with all its items)."""

    name = "remove"

    def collect(self, step: Step, state: FileState) -> None:
        """Nothing to map."""

    def apply(self, step: Step, state: FileState) -> None:
        """Delete the element."""
        del step.visit.dataset[step.visit.key]


class Empty:
    """Z and BLANK: the element stays with a zero-length value (an empty sequence)."""

    name = "empty"

    def collect(self, step: Step, state: FileState) -> None:
        """Nothing to map."""

    def apply(self, step: Step, state: FileState) -> None:
        """Empty the value."""
        vr = step.visit.vr
        step.set(Sequence() if vr == "SQ" else "" if vr in STRING_VRS else None)


class Dummy:
    """D for attributes that identify no one: a fixed value valid for the VR."""

    name = "dummy"

    def collect(self, step: Step, state: FileState) -> None:
        """Nothing to map."""

    def apply(self, step: Step, state: FileState) -> None:
        """Write the VR's dummy value."""
        step.set(dummy_value(step.visit.vr, step.visit.keyword))


class DummySequence:
    """D on a sequence: the first item stays (its elements are planned to hold dummies
    or nothing), the others go; an empty sequence stays empty."""

    name = "dummy sequence"

    def collect(self, step: Step, state: FileState) -> None:
        """Nothing to map: the kept item's elements have their own steps."""

    def apply(self, step: Step, state: FileState) -> None:
        """Drop every item after the first."""
        items = step.visit.dataset[step.visit.key].value
        if len(items) > 1:
            step.set(Sequence([items[0]]))


class Replace:
    """REPLACE: the recipe's value, checked against the VR."""

    name = "replace"

    def collect(self, step: Step, state: FileState) -> None:
        """Nothing to map."""

    def apply(self, step: Step, state: FileState) -> None:
        """Write the recipe's value, or quarantine when it is not valid for the VR."""
        write_checked(step, step.action.value or "")


class Keep:
    """K, and D/C on a sequence: nothing to do here; the items have their own steps."""

    name = "keep"

    def collect(self, step: Step, state: FileState) -> None:
        """Nothing to map."""

    def apply(self, step: Step, state: FileState) -> None:
        """Leave the element as it is."""


def write_checked(step: Step, text: str) -> None:
    """Write a value given as text (recipe REPLACE/ADD) if valid for the element's VR."""
    vr = step.visit.vr
    try:
        value = convert_text(vr, text)
    except (ValueError, OverflowError):
        raise QuarantineError(
            QuarantineReason.INVALID_REPLACEMENT,
            f"the recipe's value for {step.where()} is not a valid {vr} value",
        ) from None
    step.set(value)


def convert_text(vr: str, text: str) -> str | int | float | list[int] | list[float] | bytes:
    """``text`` as a value of ``vr``; raises ``ValueError`` when it is not valid."""
    if vr == "SQ":
        raise ValueError("a sequence has no text value")
    if vr in _NUMERIC_INT:
        numbers = [int(part, 0) for part in text.split("\\")] if text else []
        return numbers[0] if len(numbers) == 1 else numbers
    if vr in _NUMERIC_FLOAT:
        floats = [float(part) for part in text.split("\\")] if text else []
        return floats[0] if len(floats) == 1 else floats
    if vr in DUMMY_VALUES:
        for part in text.split("\\"):
            validate_value(vr, part, config.RAISE)
        return text
    return text.encode("latin-1")


REMOVE = Remove()
EMPTY = Empty()
DUMMY = Dummy()
DUMMY_SEQUENCE = DummySequence()
REPLACE = Replace()
KEEP = Keep()
