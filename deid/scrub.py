"""Free text: cut the patient's own identifiers out of kept descriptions.

Where descriptions are kept (Clean Descriptors, Clean Structured Content on text
values, a recipe KEEP that the profile cleans), the names, IDs, birth date and the
other originals of the file's patient are removed in every spelling
:mod:`deid.identifiers` knows, with the separators that joined them to the rest:
``Smith-CT/Head w/o`` becomes ``CT/Head w/o``.

One pattern is compiled per set of needles and cached, so the files of one patient
share it; UIDs are left to the guard (they differ in every file, and a UID in a
description is rare enough to quarantine).
"""

from __future__ import annotations

import re
from functools import lru_cache

from deid.identifiers import Needle

_SEPARATORS = " \t\r\n-_^,;:/"
_TRAILING = r"[\s\-_^,;:/]*"


class Scrubber:
    """Removes a fixed set of needles from text, case-insensitively, on word boundaries."""

    def __init__(self, needles: tuple[Needle, ...]) -> None:
        self.needles = needles
        self._pattern: re.Pattern[str] | None = None
        if needles:
            # Longest first, so "John Smith" goes whole before "Smith" is tried.
            ordered = sorted({n.text for n in needles}, key=lambda t: (-len(t), t))
            alternatives = "|".join(re.escape(text) for text in ordered)
            self._pattern = re.compile(
                rf"(?<![^\W_])(?:{alternatives})(?![^\W_]){_TRAILING}", re.IGNORECASE
            )

    def scrub(self, text: str) -> str:
        """``text`` without the needles; each multi-value part is trimmed of stray separators."""
        if self._pattern is None or not text:
            return text
        cleaned, count = self._pattern.subn("", text)
        if not count:
            return text
        return "\\".join(part.strip(_SEPARATORS) for part in cleaned.split("\\"))


@lru_cache(maxsize=64)
def scrubber_for(needles: tuple[Needle, ...]) -> Scrubber:
    """The (cached) scrubber for a patient's needles."""
    return Scrubber(needles)
