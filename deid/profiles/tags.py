"""Tag expressions shared by recipes and safe-private files.

Accepted forms: a dictionary keyword (``PatientName``), ``(gggg,eeee)``,
``gggg,eeee``, ``ggggeeee``, and a private attribute named by its creator,
``(gggg,"Creator",ee)`` where ``ee`` is the element's offset in the creator's block
(the ``xx`` of ``(gggg,xxee)``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydicom.datadict import dictionary_description, dictionary_VR, keyword_for_tag, tag_for_keyword

from deid.contract.errors import UsageError

_HEX_TAG = re.compile(r"^\(?\s*([0-9A-Fa-f]{4})\s*,?\s*([0-9A-Fa-f]{4})\s*\)?$")
_PRIVATE_TAG = re.compile(r'^\(\s*([0-9A-Fa-f]{4})\s*,\s*"([^"]+)"\s*,\s*([0-9A-Fa-f]{2})\s*\)$')
_KEYWORD = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


class TagError(UsageError, ValueError):
    """A tag expression that names no attribute."""


@dataclass(frozen=True, slots=True)
class PrivateTag:
    """A private attribute named by group, private creator and offset in its block."""

    group: int
    creator: str
    offset: int

    def __str__(self) -> str:
        return f'({self.group:04X},"{self.creator}",{self.offset:02X})'

    def matches(self, tag: int, private_creator: str | None) -> bool:
        """True when ``tag`` in the block of ``private_creator`` is this attribute."""
        element = tag & 0xFFFF
        return (
            tag >> 16 == self.group
            and element >= 0x1000
            and element & 0xFF == self.offset
            and (private_creator or "").strip() == self.creator
        )


def format_tag(tag: int) -> str:
    """``(gggg,eeee)`` in upper-case hex."""
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def describe_tag(tag: int) -> str:
    """``PatientName (0010,0010)``, or just the hex form for unknown tags."""
    keyword = keyword_for_tag(tag)
    return f"{keyword} {format_tag(tag)}" if keyword else format_tag(tag)


def parse_private_tag(text: str) -> PrivateTag:
    """Parse ``(gggg,"Creator",ee)``; the group must be an odd, usable group."""
    match = _PRIVATE_TAG.match(text.strip())
    if match is None:
        raise TagError(f'{text!r} is not a private tag of the form (gggg,"Creator",ee)')
    group = int(match.group(1), 16)
    if not group & 1 or group in (0x0001, 0x0003, 0x0005, 0x0007, 0xFFFF):
        raise TagError(f"{text!r}: group {group:04X} cannot hold private attributes")
    return PrivateTag(group, match.group(2).strip(), int(match.group(3), 16))


def parse_tag(text: str) -> int:
    """The tag named by a keyword or a hex form; :class:`TagError` if none."""
    stripped = text.strip()
    match = _HEX_TAG.match(stripped)
    if match is not None:
        return int(match.group(1) + match.group(2), 16)
    if _KEYWORD.match(stripped):
        tag = tag_for_keyword(stripped)
        if tag is not None:
            return int(tag)
        raise TagError(f"{stripped!r} is not a DICOM keyword")
    raise TagError(f"{stripped!r} is not a tag: use a keyword, (gggg,eeee) or ggggeeee")


def tag_vr(tag: int) -> str | None:
    """The dictionary VR of a standard tag (first alternative), or ``None``."""
    try:
        vr: str = dictionary_VR(tag)
    except KeyError:
        return None
    return vr.split(" or ")[0]


def tag_name(tag: int) -> str:
    """The dictionary name of ``tag``, or its hex form."""
    try:
        name: str = dictionary_description(tag)
    except KeyError:
        return format_tag(tag)
    return name
