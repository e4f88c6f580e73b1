"""Private blocks and binary values that cannot be cleaned.

Private elements are kept or removed by the rules (Retain Safe Private keeps
what is on the safe list, creator aware). Here:

* C on a binary value (OB, OW, UN...: overlay bitmaps and curve data under Clean
  Graphics, an opaque private value) removes it: there is no text to scrub, and
  text drawn into a bitmap cannot be found, so the value cannot be kept cleaned;
* a Private Creator whose block lost all its elements is removed with them.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from deid.handlers.base import FileState, Step

BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})


class Uncleanable:
    """C on a binary value: removed, as nothing in it can be cleaned."""

    name = "uncleanable binary"

    def collect(self, step: Step, state: FileState) -> None:
        """Nothing to map."""

    def apply(self, step: Step, state: FileState) -> None:
        """Delete the element."""
        del step.visit.dataset[step.visit.key]


def drop_orphan_creators(creators: list[tuple[Dataset, int]]) -> None:
    """Remove each Private Creator (dataset, tag) whose block holds no element any more."""
    for dataset, tag in creators:
        if tag not in dataset:
            continue
        group, block = tag >> 16, tag & 0xFF
        first, last = (group << 16) | (block << 8), (group << 16) | (block << 8) | 0xFF
        if not any(first <= other <= last for other in dataset.keys()):  # noqa: SIM118 (no decoding)
            del dataset[tag]


UNCLEANABLE = Uncleanable()
