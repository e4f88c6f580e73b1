"""What happens to one element: the contract between the rules and the engine.

The rules (``deid.profiles``: PS3.15 Table E.1-1, the options, the recipe) decide
one :class:`Action` per element, at any depth, with the reason it was chosen. The
engine carries actions out. ``deid inspect`` shows the same actions, so a what-if
never differs from the real run.

Combined table codes (X/Z, X/D, Z/D, X/Z/D, X/Z/U*) are resolved by the rules, by
the attribute's Type in the object's IOD; the engine only ever sees the single
codes below.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True, slots=True)
class ElementContext:
    """Where an element sits, for the rules to decide on."""

    tag: int
    vr: str
    keyword: str
    """The dictionary keyword; empty for private and unknown elements."""
    private_creator: str | None
    """For a private element, the value of its Private Creator element."""
    parents: tuple[int, ...]
    """Tags of the enclosing sequences, outermost first; empty at the top level."""
    sop_class_uid: str
    """The SOP Class UID of the object being de-identified."""


class Code(Enum):
    """One action on one element."""

    REMOVE = "X"
    """Remove the element."""
    ZERO = "Z"
    """Keep the element with a zero-length value."""
    DUMMY = "D"
    """Replace with a non-empty value valid for the VR (a pseudonym where one fits); a
    sequence becomes one minimal dummy item."""
    KEEP = "K"
    """Keep the value; sequences are kept and their items de-identified."""
    CLEAN = "C"
    """Keep the meaning, remove the identity: shift dates, scrub text; a sequence is
    kept and everything in it cleaned."""
    UID = "U"
    """Replace with the UID's consistent 2.25 pseudonym from the mapping store."""
    REPLACE = "REPLACE"
    """Recipe REPLACE: write :attr:`Action.value`."""
    BLANK = "BLANK"
    """Recipe BLANK: keep the element with a zero-length value."""
    PSEUDO = "PSEUDO"
    """Recipe PSEUDO: the consistent pseudonym of class :attr:`Action.pseudo_class`."""
    JITTER = "JITTER"
    """Recipe JITTER: move a date or date-time by :attr:`Action.jitter_days` days."""


@dataclass(frozen=True, slots=True)
class Action:
    """An action and why it was chosen."""

    code: Code
    origin: str
    """For people: ``"PS3.15 Basic Profile: ... X/Z -> X (Type 3 in IOD ct-image, module
    general-study)"``, ``"recipe line 12"``."""
    table_code: str | None = None
    """The Table E.1-1 code the attribute had before options and recipe, if listed."""
    value: str | None = None
    pseudo_class: str | None = None
    jitter_days: int | None = None
    unreviewed_text: bool = False
    """A standard attribute outside Table E.1-1 whose VR can carry names or free text
    and that is not on the reviewed list: removed (emptied, given a dummy where the
    IOD needs it) or, on request, kept with its dates moved; counted in the report."""

    def describe(self) -> str:
        """One line for ``deid inspect`` and the reviewer."""
        detail = {
            Code.REPLACE: f" {self.value!r}",
            Code.PSEUDO: f" {self.pseudo_class}",
            Code.JITTER: f" {self.jitter_days:+d} days" if self.jitter_days is not None else "",
        }.get(self.code, "")
        return f"{self.code.name}{detail} ({self.origin})"
