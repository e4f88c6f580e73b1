"""What every handler shares: the planned step, the per-file state, value helpers.

A handler carries out one family of actions (person names, UIDs, dates...). It is
asked twice per planned element, in the engine's order:

* ``collect`` (the map step): which originals need a pseudonym from the mapping
  store, and which identifying originals the guard must look for;
* ``apply``: write the new value, once the store has answered.

Handlers are stateless singletons; everything about the file being processed lives
in :class:`FileState`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from pydicom import config
from pydicom.dataelem import DataElement, RawDataElement

from deid.actions import Action
from deid.contract.store import Enrollment
from deid.identifiers import Identifiers
from deid.outcome import QuarantineError, QuarantineReason
from deid.pseudo.classes import VR_MAX_LENGTH
from deid.scrub import Scrubber
from deid.walk import Visit, value_text

ASCII_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "TM", "UI", "UR"})
"""VRs whose values are in the default repertoire whatever the character set."""
CHARSET_VRS = frozenset({"LO", "LT", "PN", "SH", "ST", "UC", "UT"})


@dataclass(slots=True)
class Step:
    """One element and the action planned for it."""

    visit: Visit
    action: Action
    codec: str | None = None
    """The Python codec of the file's character set when raw text can be decoded with
    it directly; ``None`` to let pydicom decode (ISO 2022 code extensions...)."""

    def text(self) -> str:
        """The element's value as one string (multi-values joined by ``\\``).

        Raw values are decoded directly from their bytes: converting them to pydicom
        values and back would cost more than the rest of the file's work.
        """
        element, vr = self.visit.element, self.visit.vr
        if isinstance(element, RawDataElement) and isinstance(element.value, bytes):
            if vr in ASCII_VRS:
                return element.value.decode("latin-1").rstrip(" \x00")
            if vr in CHARSET_VRS and self.codec is not None:
                return element.value.decode(self.codec, "replace").rstrip(" \x00")
        return value_text(self.visit.dataset[self.visit.tag].value)

    def set(self, value: object) -> None:
        """Replace the element's value with a fresh element (the old one is never decoded).

        Text replacing a raw element is encoded here into a raw element of the same
        encoding, which pydicom writes as it is; anything else becomes a
        :class:`DataElement`. Values the handlers make are valid by construction
        (recipe values are checked before): no validation on the hot path.
        """
        key, vr, element = self.visit.key, self.visit.vr, self.visit.element
        if isinstance(value, str) and isinstance(element, RawDataElement):
            encoded = self._encode(value, vr)
            if encoded is not None:
                self.visit.dataset[key] = RawDataElement(
                    key,
                    vr,
                    len(encoded),
                    encoded,
                    0,
                    element.is_implicit_VR,
                    element.is_little_endian,
                    True,
                    False,
                )
                return
        self.visit.dataset[key] = DataElement(key, vr, value, validation_mode=config.IGNORE)

    def _encode(self, value: str, vr: str) -> bytes | None:
        try:
            if vr in ASCII_VRS:
                encoded = value.encode("ascii")
            elif vr in CHARSET_VRS and self.codec is not None:
                encoded = value.encode(self.codec)
            else:
                return None
        except UnicodeEncodeError:
            return None
        if len(encoded) % 2:  # values have even lengths, padded per PS3.5 6.2
            encoded += b"\x00" if vr == "UI" else b" "
        return encoded

    def where(self) -> str:
        """The tag path, for messages (never a value)."""
        return self.visit.path_text()


@dataclass(slots=True)
class FileState:
    """Everything the handlers know about the file being de-identified."""

    enrollment: Enrollment
    date_shift: timedelta
    wanted: list[tuple[str, str]] = field(default_factory=list)
    """(kind, original) pairs the mapping store must answer, in one batch."""
    pseudonyms: dict[tuple[str, str], str] = field(default_factory=dict)
    identifiers: Identifiers = field(default_factory=Identifiers)
    moving_times: dict[tuple[int, int], str] = field(default_factory=dict)
    """(id of the dataset, tag) of every TM being moved -> its original value, so its
    DA moves with it as one date-time."""
    scrubber: Scrubber | None = None
    """Built on first use from :attr:`identifiers` (after the map step)."""
    text_date_shift: timedelta | None = None
    """How far dates written in kept free text move (the patient's offset); ``None``
    to leave them (Retain Longitudinal Temporal Information Full Dates)."""
    moved_dates: dict[tuple[int, int], str] = field(default_factory=dict)
    """(id of the dataset, tag) of every DA, DT or TM the date handler moved -> its
    value before: what the guard needs to tell a coincidence of date arithmetic (a
    moved date landing on the birth date) from a leak."""

    def want(self, kind: str, original: str) -> None:
        """Ask the map step for the pseudonym of ``original`` in namespace ``kind``."""
        self.wanted.append((kind, original))

    def pseudonym(self, kind: str, original: str) -> str:
        """The store's answer for ``original`` (collected earlier by :meth:`want`)."""
        return self.pseudonyms[(kind, original)]


class Handler(Protocol):
    """One family of actions."""

    name: str

    def collect(self, step: Step, state: FileState) -> None:
        """Map step: register wanted pseudonyms and identifying originals."""
        ...

    def apply(self, step: Step, state: FileState) -> None:
        """Write the result into the dataset."""
        ...


def set_text(step: Step, text: str) -> None:
    """Write a string value, checking the VR's length limit per value (dates and times
    are moved in the format they came in, ranges included, so they are not checked)."""
    limit = None if step.visit.vr in ("DA", "DT", "TM") else VR_MAX_LENGTH.get(step.visit.vr)
    if (
        limit is not None
        and step.visit.vr != "PN"
        and any(len(part) > limit for part in text.split("\\"))
    ):
        raise QuarantineError(
            QuarantineReason.INVALID_REPLACEMENT,
            f"the new value of {step.where()} is longer than {step.visit.vr} allows",
        )
    step.set(text)


def fits(text: str, vr: str) -> str:
    """``text`` cut to the VR's maximum length (pseudonyms are drawn to fit already;
    this keeps a rendering for a shorter VR valid)."""
    limit = VR_MAX_LENGTH.get(vr)
    return text if limit is None or vr == "PN" else text[:limit].rstrip()


Apply = Callable[[Step, FileState], None]
