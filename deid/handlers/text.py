"""Free text: C on text values, and unreviewed text kept on request.

* C (Clean Descriptors, Clean Structured Content, a recipe's KEEP that the profile
  cleans, anything inside a cleaned sequence) scrubs out the file's identifying
  originals (:mod:`deid.scrub`: the identifier and the separators that joined it
  go, the rest stays) and moves the dates written in the text by the patient's
  offset (:mod:`deid.handlers.text_dates`).
* Unreviewed free text kept with ``--keep-unreviewed-text`` or a recipe's KEEP is
  not cut: a value naming the patient or holding one of the patient's identifiers
  is removed whole; otherwise the dates in it are moved.

The guard checks the result.
"""

from __future__ import annotations

from deid.handlers.base import FileState, Step, set_text
from deid.handlers.text_dates import move_dates_in_text
from deid.scrub import Scrubber, scrubber_for

TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "SH", "ST", "UC", "UR", "UT"})
FREE_TEXT_VRS = frozenset({"LO", "LT", "SH", "ST", "UC", "UT"})
"""Text in which dates are looked for (codes, AE titles and URLs hold none)."""


def _scrubber(state: FileState) -> Scrubber:
    if state.scrubber is None:
        state.scrubber = scrubber_for(state.identifiers.patient_level())
    return state.scrubber


def _move_dates(text: str, vr: str, state: FileState) -> str:
    if state.text_date_shift is None or vr not in FREE_TEXT_VRS:
        return text
    return move_dates_in_text(text, round(state.text_date_shift.total_seconds() / 86400))


class Scrub:
    """C on text: remove names, IDs, the birth date... and move the dates."""

    name = "free text"

    def collect(self, step: Step, state: FileState) -> None:
        """Nothing to map: the needles come from the other attributes."""

    def apply(self, step: Step, state: FileState) -> None:
        """Write the cleaned text (unchanged values are left alone)."""
        text = step.text()
        cleaned = _move_dates(_scrubber(state).scrub(text), step.visit.vr, state)
        if cleaned != text:
            set_text(step, cleaned)


class KeptText:
    """Unreviewed free text kept on request: whole or not at all, dates moved."""

    name = "kept unreviewed text"

    def collect(self, step: Step, state: FileState) -> None:
        """Nothing to map."""

    def apply(self, step: Step, state: FileState) -> None:
        """Remove a value that names the patient; move the dates of any other."""
        text = step.text()
        if _scrubber(state).scrub(text) != text:
            del step.visit.dataset[step.visit.key]
            return
        moved = _move_dates(text, step.visit.vr, state)
        if moved != text:
            set_text(step, moved)


SCRUB = Scrub()
KEPT_TEXT = KeptText()
