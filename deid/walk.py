"""The one walker: every element of a dataset, at any depth, without decoding values.

Planning, the guard and ``deid inspect`` all visit elements through :func:`walk`.
Unlike :meth:`pydicom.dataset.Dataset.walk` it leaves raw elements raw: converting
every value would cost more than reading and writing the whole file, and most
elements are kept as their bytes. Only sequences that are descended into are
parsed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from pydicom.datadict import dictionary_VR, keyword_for_tag, private_dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag
from pydicom.valuerep import PersonName

Path = tuple[tuple[int, int], ...]
"""The enclosing sequence items, outermost first: (sequence tag, item index)."""


@dataclass(slots=True)
class Visit:
    """One element as the walker meets it."""

    dataset: Dataset
    """The dataset (or sequence item, or file meta) that holds the element."""
    tag: int
    vr: str
    keyword: str
    """The dictionary keyword; empty for private and unknown elements."""
    element: DataElement | RawDataElement
    path: Path
    private_creator: str | None

    @property
    def parents(self) -> tuple[int, ...]:
        """Tags of the enclosing sequences, outermost first."""
        return tuple(tag for tag, _ in self.path) if self.path else ()

    @property
    def is_raw(self) -> bool:
        """True while the element still holds its undecoded bytes."""
        return isinstance(self.element, RawDataElement)

    @property
    def key(self) -> BaseTag:
        """The tag as pydicom keys its datasets: ``dataset[visit.key]`` skips pydicom's
        conversion of a plain int, which costs more than the lookup itself."""
        tag = self.element.tag
        return tag if tag.__class__ is BaseTag else BaseTag(self.tag)

    def path_text(self) -> str:
        """``ReferencedImageSequence[0].ReferencedSOPInstanceUID``: for people, no values."""
        return format_path(self.path, self.tag)


def format_path(path: Path, tag: int) -> str:
    """A tag path named by keywords where the dictionary has them."""
    parts = [f"{tag_name(seq)}[{index}]" for seq, index in path]
    parts.append(tag_name(tag))
    return ".".join(parts)


@cache
def tag_name(tag: int) -> str:
    """The keyword of ``tag``, or ``(GGGG,EEEE)``."""
    return keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


@cache
def _keyword(tag: int) -> str:
    return keyword_for_tag(tag) if not (tag >> 16) & 1 else ""


@cache
def dictionary_vr(tag: int, private_creator: str | None = None) -> str:
    """The VR the dictionaries give ``tag`` (``UN`` when unknown, ambiguous VRs resolved
    to their first choice: ``US or SS`` -> ``US``)."""
    try:
        if private_creator is not None and (tag >> 16) & 1:
            vr = private_dictionary_VR(tag, private_creator)
        else:
            vr = dictionary_VR(tag)
    except KeyError:
        return "UN"
    return vr.split(" ", 1)[0]


def private_creator_of(dataset: Dataset, tag: int) -> str | None:
    """The Private Creator value that reserves a private element's block.

    For a Private Creator element itself, its own value. ``None`` for standard
    elements and for private elements without a creator.
    """
    group, elem = tag >> 16, tag & 0xFFFF
    if not group & 1:
        return None
    if 0x0010 <= elem <= 0x00FF:
        creator_tag = tag
    elif elem >= 0x1000:
        creator_tag = (group << 16) | (elem >> 8)
    else:
        return None
    creator = dataset.get_item(BaseTag(creator_tag), keep_deferred=True)
    if creator is None:
        return None
    value = creator.value
    if isinstance(value, bytes):
        return value.decode("latin-1").strip(" \x00")
    return str(value).strip() if value is not None else None


def walk(dataset: Dataset, visit: Callable[[Visit], bool], path: Path = ()) -> None:
    """Call ``visit`` for every element of ``dataset`` in the data set's order (tag
    order for one read from a file), depth first.

    When ``visit`` returns True for a sequence, its items are walked next (before
    the sequence's next sibling). Values are not decoded; a raw sequence that is
    descended into is parsed. The dataset must not change shape during the walk.
    """
    # items() hands out elements as stored, raw ones undecoded (get_item per tag
    # would cost a Tag() conversion each).
    for key, element in list(dataset.items()):
        tag = int(key)  # plain ints from here: BaseTag compares in Python, ints in C
        creator = private_creator_of(dataset, tag) if tag & 0x10000 else None
        vr = element.VR or dictionary_vr(tag, creator)
        if vr.__class__ is not str:
            # pydicom's VR enum hashes in Python; the walkers look VRs up in sets and
            # dicts for every element, so they get the plain string.
            vr = str.__str__(vr)
        if vr == "UN" and creator is None:
            vr = dictionary_vr(tag)  # a standard element sent as UN: its real VR
        if visit(Visit(dataset, tag, vr, _keyword(tag), element, path, creator)) and vr == "SQ":
            for index, item in enumerate(dataset[key].value):
                walk(item, visit, (*path, (tag, index)))


def visits(dataset: Dataset) -> list[Visit]:
    """Every element of ``dataset`` at any depth (all sequences descended)."""
    found: list[Visit] = []

    def collect(visit: Visit) -> bool:
        found.append(visit)
        return True

    walk(dataset, collect)
    return found


def value_text(value: object) -> str:
    """A decoded element value as one string; multi-values joined by ``\\``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, PersonName):
        return str(value)
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(value_text(item) for item in value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1")
    return str(value)


def element_text(dataset: Dataset, tag: int) -> str:
    """The value of ``tag`` in ``dataset`` as text, ``""`` when absent or empty.

    A raw value is read from its bytes (Latin-1, byte for byte: for the UIDs, codes
    and dates this is used for) instead of being converted by pydicom.
    """
    key = BaseTag(tag)  # pydicom converts a plain int at a cost: a tag it takes as is
    element = dataset.get_item(key, keep_deferred=True)
    if element is None:
        return ""
    value = element.value
    if isinstance(element, RawDataElement):
        if isinstance(value, bytes):
            return value.decode("latin-1").strip(" \x00")
        value = dataset[key].value
    return value_text(value).strip()
