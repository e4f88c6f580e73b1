"""Free text: C on text values (Clean Descriptors, Clean Structured Content, a
recipe's KEEP that the profile cleans) scrubs out the file's identifying originals.

See :mod:`deid.scrub` for what is cut and how; the guard checks the result.
"""

from __future__ import annotations

from deid.handlers.base import FileState, Step, set_text
from deid.scrub import scrubber_for

TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "SH", "ST", "UC", "UR", "UT"})


class Scrub:
    """Remove names, IDs, the birth date... from kept text."""

    name = "free text"

    def collect(self, step: Step, state: FileState) -> None:
        """Nothing to map: the needles come from the other attributes."""

    def apply(self, step: Step, state: FileState) -> None:
        """Write the scrubbed text (unchanged values are left alone)."""
        if state.scrubber is None:
            state.scrubber = scrubber_for(state.identifiers.patient_level())
        text = step.text()
        cleaned = state.scrubber.scrub(text)
        if cleaned != text:
            set_text(step, cleaned)


SCRUB = Scrub()
