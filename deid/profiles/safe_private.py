"""Retain Safe Private: which private attributes are known to be safe.

The shipped list is PS3.15 Table E.3.10-1 (``data/safe_private_attributes.json``).
A site can add its own with a file (``deid run --safe-private FILE``)::

    # Our scanners' safe private attributes, checked with the vendor.
    (0019,"GEMS_ACQU_01",23) DS  Table speed
    (0029,"ACME CT",10)          Helical pitch

One attribute per line: the private tag as ``(gggg,"Creator",ee)`` (``ee`` is the
offset in the creator's block), then optionally its VR, then a description. ``#``
starts a comment. A line ``%without-standard-list`` makes the file replace the
shipped list instead of adding to it.

Matching is private-creator aware: group, creator (exact, surrounding spaces
ignored) and offset must all match. An element whose actual VR contradicts the
listed one is removed (a vendor may reuse a slot), UN excepted since implicit-VR
files carry no VR. Kept UI values are replaced by their consistent pseudonyms
unless Retain UIDs is also selected, so a kept reference still points at the new
series. Private Creator elements are kept when their creator has safe attributes
in that group; the engine must pass a creator element's own value as
``ElementContext.private_creator``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from deid.actions import Action, Code, ElementContext
from deid.contract.errors import UsageError
from deid.profiles.table import read_data
from deid.profiles.tags import PrivateTag, TagError, parse_private_tag

SAFE_PRIVATE_FILE = "safe_private_attributes.json"
STANDARD_SOURCE = "PS3.15 Table E.3.10-1"
_WITHOUT_STANDARD = "%without-standard-list"
_VRS = frozenset(
    {
        "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "OB", "OD",
        "OF", "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI",
        "UL", "UN", "UR", "US", "UT", "UV",
    }
)  # fmt: skip


class SafePrivateError(UsageError, ValueError):
    """A safe-private file with problems; the message lists each with its line."""


@dataclass(frozen=True, slots=True)
class SafePrivateEntry:
    """One attribute known to be safe."""

    tag: PrivateTag
    vr: str
    """The VR the list gives; empty when it gives none."""
    meaning: str
    source: str
    """Where the entry comes from: the standard's table or ``file:line``."""


class SafePrivateList:
    """Safe private attributes, looked up by (group, creator, offset)."""

    def __init__(self, entries: list[SafePrivateEntry]) -> None:
        self.entries = tuple(entries)
        self._by_key = {(e.tag.group, e.tag.creator, e.tag.offset): e for e in entries}
        self._creators = {(e.tag.group, e.tag.creator) for e in entries}

    def __len__(self) -> int:
        return len(self.entries)

    def merged(self, other: SafePrivateList) -> SafePrivateList:
        """This list plus ``other`` (``other`` wins where both list an attribute)."""
        return SafePrivateList([*self.entries, *other.entries])

    def lookup(self, tag: int, private_creator: str | None) -> SafePrivateEntry | None:
        """The entry for ``tag`` in ``private_creator``'s block, if it is listed."""
        element = tag & 0xFFFF
        if element < 0x1000:
            return None
        creator = (private_creator or "").strip()
        return self._by_key.get((tag >> 16, creator, element & 0xFF))

    def action_for(self, ctx: ElementContext, option_origin: str, retain_uids: bool) -> Action:
        """The action for a private element under Retain Safe Private."""
        tag, element = ctx.tag, ctx.tag & 0xFFFF
        creator = (ctx.private_creator or "").strip()
        if 0x0010 <= element <= 0x00FF:
            if creator and (tag >> 16, creator) in self._creators:
                return Action(
                    Code.KEEP,
                    f"{option_origin}; private creator {creator!r} has safe attributes",
                    table_code="X",
                )
            return Action(
                Code.REMOVE,
                f"{option_origin}; private creator without safe attributes",
                table_code="X",
            )
        entry = self.lookup(tag, ctx.private_creator)
        label = f'({tag >> 16:04X},"{creator}",{element & 0xFF:02X})' if creator else "element"
        if entry is None:
            return Action(
                Code.REMOVE, f"{option_origin}; {label} is not on the safe-private list", "X"
            )
        if entry.vr and ctx.vr not in (entry.vr, "UN"):
            return Action(
                Code.REMOVE,
                f"{option_origin}; {label} has VR {ctx.vr}, the safe-private list says {entry.vr}",
                table_code="X",
            )
        origin = f"{option_origin}; {label} {entry.meaning or ''} is safe ({entry.source})"
        if "UI" in (entry.vr, ctx.vr) and not retain_uids:
            return Action(Code.UID, f"{origin}; UID replaced", table_code="X")
        return Action(Code.KEEP, origin, table_code="X")


@cache
def load_safe_private() -> SafePrivateList:
    """The shipped PS3.15 Table E.3.10-1 list."""
    document = json.loads(read_data(SAFE_PRIVATE_FILE))
    entries = [
        SafePrivateEntry(
            PrivateTag(int(raw["group"], 16), raw["creator"], int(raw["element"], 16)),
            raw["vr"],
            raw["meaning"],
            STANDARD_SOURCE,
        )
        for raw in document["attributes"]
    ]
    return SafePrivateList(entries)


def parse_safe_private(text: str, source: str) -> tuple[SafePrivateList, bool]:
    """Parse a safe-private file's text; returns the list and whether it replaces
    the standard list. Raises :class:`SafePrivateError` listing every bad line."""
    entries: list[SafePrivateEntry] = []
    problems: list[str] = []
    replaces = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("%"):
            if line == _WITHOUT_STANDARD:
                replaces = True
            else:
                problems.append(f"line {number}: unknown directive {line!r}")
            continue
        close = line.find(")")
        try:
            tag = parse_private_tag(line[: close + 1] if close >= 0 else line)
        except TagError as exc:
            problems.append(f"line {number}: {exc}")
            continue
        rest = line[close + 1 :].split(None, 1)
        vr = rest[0] if rest and rest[0] in _VRS else ""
        meaning = " ".join(rest[1:] if vr else rest)
        entries.append(SafePrivateEntry(tag, vr, meaning, f"{source}:{number}"))
    if problems:
        raise SafePrivateError(f"safe-private file {source} has problems:\n" + "\n".join(problems))
    return SafePrivateList(entries), replaces


def load_safe_private_file(path: Path) -> SafePrivateList:
    """The list to use with a site's file: the file added to the standard list, or
    the file alone when it says ``%without-standard-list``."""
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SafePrivateError(f"cannot read safe-private file {path}: {exc}") from exc
    own, replaces = parse_safe_private(text, path.name)
    return own if replaces else load_safe_private().merged(own)
