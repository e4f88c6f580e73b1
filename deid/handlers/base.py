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

from pydicom.dataelem import DataElement

from deid.actions import Action
from deid.identifiers import Identifiers
from deid.outcome import QuarantineError, QuarantineReason
from deid.pseudo.classes import VR_MAX_LENGTH
from deid.scrub import Scrubber
from deid.store.protocol import Enrollment
from deid.walk import Visit, value_text


@dataclass(slots=True)
class Step:
    """One element and the action planned for it."""

    visit: Visit
    action: Action

    def element(self) -> DataElement:
        """The element, decoded (a raw element is converted on first use)."""
        return self.visit.dataset[self.visit.tag]

    def text(self) -> str:
        """The element's value as one string (multi-values joined by ``\\``)."""
        return value_text(self.element().value)

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
    moving_times: set[tuple[int, int]] = field(default_factory=set)
    """(id of the dataset, tag) of every TM being moved, so its DA moves with it."""
    scrubber: Scrubber | None = None
    """Built on first use from :attr:`identifiers` (after the map step)."""

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
    """Write a string value, checking the VR's length limit per value."""
    limit = VR_MAX_LENGTH.get(step.visit.vr)
    if (
        limit is not None
        and step.visit.vr != "PN"
        and any(len(part) > limit for part in text.split("\\"))
    ):
        raise QuarantineError(
            QuarantineReason.INVALID_REPLACEMENT,
            f"the new value of {step.where()} is longer than {step.visit.vr} allows",
        )
    step.element().value = text


def fits(text: str, vr: str) -> str:
    """``text`` cut to the VR's maximum length (pseudonyms are drawn to fit already;
    this keeps a rendering for a shorter VR valid)."""
    limit = VR_MAX_LENGTH.get(vr)
    return text if limit is None or vr == "PN" else text[:limit].rstrip()


Apply = Callable[[Step, FileState], None]
