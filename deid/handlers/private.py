"""Private blocks and binary values.

Private elements are kept or removed by the rules (Retain Safe Private keeps
what is on the safe list, creator aware). Here:

* C on a binary value (OB, OW, UN...: curve data under Clean Graphics, Maker Note
  and Device Setting Description under Clean Descriptors, an opaque private
  value) keeps it with every occurrence of the patient's identifiers in its bytes
  overwritten by spaces, byte for byte, so offsets inside the value stay valid;
* a Certified Timestamp (a signed RFC 3161 token) cannot be cleaned without
  breaking its signature: removed (it belongs inside the Digital Signatures
  Sequence, which every option removes anyway);
* a Private Creator whose block lost all its elements is removed with them.
"""

from __future__ import annotations

from pydicom import config
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from deid.handlers.base import FileState, Step
from deid.walk import value_text

BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})


class BinaryClean:
    """C on a binary value: the patient's identifiers blanked in its bytes."""

    name = "binary clean"

    def collect(self, step: Step, state: FileState) -> None:
        """Nothing to map."""

    def apply(self, step: Step, state: FileState) -> None:
        """Overwrite each identifier found in the bytes (read as Latin-1) with spaces."""
        value = step.visit.dataset[step.visit.key].value
        raw = bytes(value) if isinstance(value, bytes | bytearray) else value_text(value).encode()
        cleaned = blank_needles(raw, [n.text for n in state.identifiers.patient_level()])
        if cleaned != raw:
            key = step.visit.key
            step.visit.dataset[key] = DataElement(
                key, step.visit.vr, cleaned, validation_mode=config.IGNORE
            )


def blank_needles(raw: bytes, needles: list[str]) -> bytes:
    """``raw`` with each needle (lower-case text) found on word boundaries, any case,
    replaced by as many spaces: the same length, so nothing else moves."""
    lowered = raw.decode("latin-1").lower()
    out = bytearray(raw)
    for needle in needles:
        start = lowered.find(needle)
        while start >= 0:
            end = start + len(needle)
            before = lowered[start - 1] if start else ""
            after = lowered[end] if end < len(lowered) else ""
            if not (before.isalnum() or after.isalnum()):
                out[start:end] = b" " * len(needle)
            start = lowered.find(needle, start + 1)
    return bytes(out)


class Uncleanable:
    """C on a value that cannot be cleaned without breaking it: removed."""

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
BINARY_CLEAN = BinaryClean()
