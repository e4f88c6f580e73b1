"""The guard: the last look at a result before it may be written, failing closed.

Every remaining value of the result is scanned for the identifying originals the
map step collected from the input (:mod:`deid.identifiers`): all string VRs at any
depth, UIDs, dates, the bytes of OB/UN/unknown elements (private tags a recipe
kept), the file meta and the 128-byte preamble. Any hit is returned as a
:class:`GuardHit` naming where (a tag path) and what kind of identifier (never the
value), and the engine quarantines the file. A bug in planning or applying then
costs a quarantined file, never a leak.

What is not scanned, and why:

* numbers (US, SS, UL, SL, FL, FD, SV, UV, AT, IS, DS): they cannot spell a name,
  and short numeric IDs would hit them by chance;
* pixel, overlay, curve, waveform and spectroscopy data: image samples, not text;
  text burned into pixels is the Burned In Annotation policy's business;
* a payload the user accepted as their responsibility (an encapsulated document),
  named by the engine.

What is not a hit: a date the engine moved by the patient's offset that lands on an
identifier (an infant's scan moved back onto the birth date) while the value before
the move did not hold it. The moved value is the arithmetic of the old date and the
offset, which carries nothing of the patient; refusing it would refuse that file at
every rerun, since the offset never changes. A moved value whose old value held the
identifier is still a hit.

Values are scanned in bulk: one lower-cased haystack per category (text, UIDs,
dates, bytes) and one substring search per needle, so the cost per file does not
grow with a regex per element.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset

from deid.identifiers import IdentifierKind, Identifiers, Needle
from deid.walk import Visit, format_path, value_text, walk

NOT_SCANNED_VRS = frozenset(
    {"US", "SS", "UL", "SL", "FL", "FD", "SV", "UV", "AT", "IS", "DS", "SQ"}
)
BULK_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010, 0x54001010, 0x56000020})
"""Float/double/pixel data, waveform data, spectroscopy data."""
_TEXT_VRS = frozenset({"AE", "AS", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
_DATE_VRS = frozenset({"DA", "DT", "TM"})
_UID_BOUNDARY = frozenset("0123456789.")


# Haystack categories (plain ints: they key a dict per needle on the hot path).
_TEXT, _UID, _DATE, _BYTES = range(4)


_CATEGORIES_FOR_NEEDLE = {
    "uid": (_UID, _TEXT, _BYTES),
    "date": (_TEXT, _BYTES, _DATE),
    "other": (_TEXT, _BYTES),
}


@dataclass(frozen=True, slots=True)
class GuardHit:
    """An identifier left in the result: where, and what kind (never the value)."""

    where: str
    """A tag path (``ContentSequence[0].TextValue``), ``file meta ...`` or ``preamble``."""
    what: str
    """The kind of identifier (``patient name``...) or what else is wrong."""

    def message(self) -> str:
        """The quarantine message: safe to log, holds no value."""
        return f"guard: {self.what} left in {self.where}"


def is_bulk(tag: int) -> bool:
    """Pixel-like data the guard does not scan (overlay and curve data included)."""
    group = tag >> 16
    if tag in BULK_TAGS:
        return True
    element = tag & 0xFFFF
    return (0x6000 <= group <= 0x60FF and element == 0x3000) or (
        0x5000 <= group <= 0x50FF and element == 0x3000
    )


class _Haystack:
    """Values of one category joined into one lower-cased string, with their places."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.starts: list[int] = []
        self.places: list[str | tuple[tuple[tuple[int, int], ...], int, bool]] = []
        self.befores: list[str | None] = []
        """For a date the engine moved, its value before (lower-cased)."""
        self._length = 0
        self.text = ""

    def add(
        self,
        value: str,
        place: str | tuple[tuple[tuple[int, int], ...], int, bool],
        before: str | None = None,
    ) -> None:
        self.starts.append(self._length)
        self.places.append(place)
        self.parts.append(value)
        self.befores.append(before)
        self._length += len(value) + 1

    def before(self, offset: int) -> str | None:
        """The value before the move of the date at ``offset``, if the engine moved it."""
        return self.befores[bisect_right(self.starts, offset) - 1]

    def seal(self) -> None:
        self.text = "\x00".join(self.parts).lower()

    def where(self, offset: int) -> str:
        place = self.places[bisect_right(self.starts, offset) - 1]
        if isinstance(place, str):
            return place
        path, tag, in_meta = place
        text = format_path(path, tag)
        return f"file meta {text}" if in_meta else text


class Guard:
    """Scans results for one file's needles."""

    def __init__(
        self,
        identifiers: Identifiers,
        skip_tags: Iterable[int] = (),
        *,
        moved_dates: Mapping[tuple[int, int], str] | None = None,
    ) -> None:
        self._needles = tuple(identifiers.needles.values())
        self._skip = frozenset(skip_tags)
        self._moved = moved_dates or {}
        """(id of the dataset, tag) -> the value before, of each date the engine moved."""

    def scan(
        self, dataset: Dataset, file_meta: Dataset | None, preamble: bytes | None
    ) -> GuardHit | None:
        """The first identifier found in the result, or ``None`` when it is clean."""
        stacks = [_Haystack() for _ in range(4)]
        if preamble:
            stacks[_BYTES].add(preamble.decode("latin-1"), "preamble")
        if file_meta is not None:
            walk(file_meta, self._collector(stacks, in_meta=True))
        walk(dataset, self._collector(stacks, in_meta=False))
        for stack in stacks:
            stack.seal()
        present: dict[tuple[int, str], bool] = {}
        for needle in self._needles:
            hit = self._find(needle, stacks, present)
            if hit is not None:
                return hit
        if preamble and preamble.strip(b"\x00"):
            return GuardHit("preamble", "non-zero bytes")
        return None

    def _collector(self, stacks: list[_Haystack], in_meta: bool) -> Callable[[Visit], bool]:
        skip, bulk, moved = self._skip, BULK_TAGS, self._moved

        # Called for every element of every result: kept lean on purpose.
        def collect(visit: Visit) -> bool:
            vr, tag = visit.vr, visit.tag
            category = _CATEGORY_BY_VR.get(vr, _BYTES)
            if category < 0:
                return vr == "SQ"
            if tag in skip or tag in bulk or (tag & 0xFFFF == 0x3000 and tag >> 24 in (0x50, 0x60)):
                return False
            element = visit.element
            raw = element.value
            if isinstance(element, RawDataElement) and isinstance(raw, bytes):
                value = raw.decode("latin-1")
            else:
                value = _as_text(visit)
            if value:
                before = moved.get((id(visit.dataset), tag)) if category == _DATE else None
                stacks[category].add(
                    value, (visit.path, tag, in_meta), None if before is None else before.lower()
                )
            return False

        return collect

    def _find(
        self,
        needle: Needle,
        stacks: list[_Haystack],
        present: dict[tuple[int, str], bool],
    ) -> GuardHit | None:
        group = (
            "uid"
            if needle.is_uid
            else "date"
            if needle.kind is IdentifierKind.BIRTH_DATE
            else "other"
        )
        text = needle.text
        for category in _CATEGORIES_FOR_NEEDLE[group]:
            stack = stacks[category]
            hay = stack.text
            key = needle.key or text
            found = present.get((category, key))
            if found is None:  # one search per key: most needles share a few keys
                found = present[(category, key)] = key in hay
            if not found:
                continue
            start = hay.find(text)
            while start != -1:
                end = start + len(text)
                before = hay[start - 1] if start else "\x00"
                after = hay[end] if end < len(hay) else "\x00"
                if needle.is_uid:
                    bounded = before not in _UID_BOUNDARY and after not in _UID_BOUNDARY
                elif category == _DATE:
                    # A DT that begins with the birth date (19800102120000) still reveals it.
                    bounded = not before.isalnum()
                else:
                    bounded = not (before.isalnum() or after.isalnum())
                if bounded and category == _DATE:
                    moved_from = stack.before(start)  # else: a moved date's chance
                    bounded = moved_from is None or text in moved_from
                if bounded:
                    return GuardHit(stack.where(start), needle.kind.value)
                start = hay.find(text, start + 1)
        return None


_CATEGORY_BY_VR = {
    **dict.fromkeys(NOT_SCANNED_VRS, -1),
    **dict.fromkeys(_TEXT_VRS, _TEXT),
    **dict.fromkeys(_DATE_VRS, _DATE),
    "UI": _UID,
}
"""Which haystack a VR's values go to (-1: not scanned; anything else: bytes)."""


def _as_text(visit: Visit) -> str:
    """The element's value as text: raw bytes as Latin-1 (byte for byte), decoded values
    as they read."""
    element = visit.element
    if isinstance(element, RawDataElement):
        raw = element.value
        if raw is None:  # deferred: read it now, the guard must see everything
            raw = visit.dataset[visit.tag].value
            return value_text(raw)
        return raw.decode("latin-1")
    return value_text(element.value if isinstance(element, DataElement) else element)
