"""Attribute Types by IOD, from the standard's machine-readable module tables.

Table E.1-1's combined codes (X/Z, X/D, Z/D, X/Z/D, X/Z/U*) let the attribute's
Type in the object's IOD decide (PS3.15 E.1.1): Type 1 needs a value, Type 2 may
be empty, Type 3 may go. The Types come from ``data/iod_attribute_types.json``,
extracted from highdicom's tables (MIT licence, generated from the
innolitics/dicom-standard repository; ``tools/iod_types.py`` regenerates it):
SOP Class UID -> IOD -> modules -> the attribute at its place (its enclosing
sequences; a sequence nested in itself, as SR Content Sequence is, counts once).

Where the SOP class is in no table (a private class), the strictest Type the
attribute has at that place in any IOD stands in for it, so the object stays valid
for every IOD it could be. Where the IOD is known but does not have the attribute
at that place, the attribute is not part of the object's IOD, and removing it
cannot make the object invalid. One equivalence fills a gap of the tables: the
items of an SR Content Sequence are content items like the root of the document
(the Document Content Macro applies at every level, PS3.3 C.17.3), but the
tables describe some of their attributes at the root only.

The same data gives, for the sequences Table E.1-1 may replace with a dummy (D),
the Types of what their items hold (:meth:`IodTypes.item_types`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from deid.profiles.table import TableDataError, read_data

IOD_TYPES_FILE = "iod_attribute_types.json"
CONTENT_SEQUENCE = 0x0040A730
TYPES = ("1", "1C", "2", "2C", "3")
"""Attribute Types, strictest first."""


@dataclass(frozen=True, slots=True)
class TypeFinding:
    """The Type that decides a combined code, and where it was found (for origins)."""

    type: str | None
    """``1``, ``1C``, ``2``, ``2C``, ``3``; ``None``: not part of the object's IOD here,
    or in no table at all."""
    reason: str
    """``Type 3 in IOD ct-image, module general-study``: for ``deid inspect``."""


def strictest(types: Iterable[str]) -> str | None:
    """The strictest of ``types`` (``1`` before ``1C``, ``2``, ``2C``, ``3``)."""
    return min(types, key=TYPES.index, default=None)


def normalized_path(tags: Iterable[int]) -> tuple[int, ...]:
    """Enclosing sequences with a run of one sequence nested in itself counted once."""
    out: list[int] = []
    for tag in tags:
        if not out or out[-1] != tag:
            out.append(tag)
    return tuple(out)


def _path_key(tags: Iterable[int]) -> str:
    return "/".join(f"{tag:08X}" for tag in tags)


class IodTypes:
    """Looks Types up by SOP class, enclosing sequences and tag."""

    def __init__(self, document: dict) -> None:
        self.source: str = document["source"]
        self.modules: list[str] = document["modules"]
        self.sop_classes: dict[str, str] = document["sop_classes"]
        self.iods: dict[str, frozenset[int]] = {
            iod: frozenset(mods) for iod, mods in document["iods"].items()
        }
        self._attributes: dict[int, dict[str, list[tuple[str, frozenset[int]]]]] = {}
        for tag_text, entries in document["attributes"].items():
            where = self._attributes.setdefault(int(tag_text, 16), {})
            for path, type_, mods in entries:
                where.setdefault(path, []).append((type_, frozenset(mods)))
        self._items: dict[str, dict[int, str]] = {
            path: {int(tag, 16): type_ for tag, type_ in item.items()}
            for path, item in document["items"].items()
        }

    def covers(self, tag: int) -> bool:
        """True when the tables give the attribute a Type somewhere."""
        return tag in self._attributes

    def tags(self) -> frozenset[int]:
        """Every attribute given a Type here (those whose action depends on it)."""
        return frozenset(self._attributes)

    def iod_of(self, sop_class_uid: str) -> str | None:
        """The IOD of a SOP class, ``None`` for a class in no table (private, retired)."""
        return self.sop_classes.get(sop_class_uid)

    def type_of(self, tag: int, parents: tuple[int, ...], sop_class_uid: str) -> TypeFinding:
        """The Type of ``tag`` inside ``parents`` in the IOD of ``sop_class_uid``."""
        place = " at this depth" if parents else ""
        where = self._attributes.get(tag, {})
        path = normalized_path(parents)
        entries = where.get(_path_key(path), [])
        iod = self.iod_of(sop_class_uid)
        if iod is not None:
            modules = self.iods[iod]
            found = [(t, m) for t, mods in entries for m in sorted(mods & modules)]
            if not found and path[:1] == (CONTENT_SEQUENCE,):
                content_item = where.get(_path_key(path[1:]), [])
                found = [(t, m) for t, mods in content_item for m in sorted(mods & modules)]
            if not found:
                return TypeFinding(None, f"not in IOD {iod}{place}")
            type_ = strictest(t for t, _ in found)
            module = next(self.modules[m] for t, m in found if t == type_)
            return TypeFinding(type_, f"Type {type_} in IOD {iod}, module {module}")
        unknown = "SOP class in no IOD table" if sop_class_uid else "no SOP class"
        type_ = strictest(t for t, _ in entries)
        if type_ is None:
            return TypeFinding(None, f"in no IOD table{place} ({unknown})")
        return TypeFinding(type_, f"Type {type_} in some IOD, the strictest ({unknown})")

    def item_types(self, sequence_path: tuple[int, ...]) -> dict[int, str] | None:
        """What the items of the sequence at ``sequence_path`` hold, tag -> Type.

        ``sequence_path`` runs from a sequence Table E.1-1 may replace with a dummy
        down to the sequence whose items are meant; the shortest tail found in the
        tables answers (a nested dummy sequence is known on its own too).
        """
        path = normalized_path(sequence_path)
        for start in range(len(path)):
            item = self._items.get(_path_key(path[start:]))
            if item is not None:
                return item
        return None


@cache
def load_iod_types() -> IodTypes:
    """The shipped IOD and module Types (works from a wheel)."""
    try:
        return IodTypes(json.loads(read_data(IOD_TYPES_FILE)))
    except (FileNotFoundError, ModuleNotFoundError, KeyError, ValueError) as exc:
        raise TableDataError(f"package data {IOD_TYPES_FILE} is missing or malformed") from exc
