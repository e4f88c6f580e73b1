"""File Meta Information (group 0002): what stays, what goes.

PS3.15 E.1.1 (7) asks that the file meta be "replaced with a description of the
de-identifying application". We keep only what describes the object itself and
remove everything else, unknown future elements included (fail closed):

- kept: File Meta Information Group Length and Version, Media Storage SOP Class
  UID, Transfer Syntax UID;
- Media Storage SOP Instance UID: Table E.1-1 lists it (U; K under Retain UIDs),
  the same as SOP Instance UID, so it gets the same consistent pseudonym and
  follows the new SOP Instance UID; the rules take the table row first;
- removed: Implementation Class UID and Version Name (the writer puts in its own:
  pydicom does so when writing with ``enforce_file_format=True``), Source, Sending
  and Receiving AE titles and presentation addresses, Private Information Creator
  UID and Private Information, the RTV elements, and anything else.
"""

from __future__ import annotations

from deid.actions import Action, Code

_KEEP = {
    0x00020000: "File Meta Information Group Length",
    0x00020001: "File Meta Information Version",
    0x00020002: "Media Storage SOP Class UID",
    0x00020010: "Transfer Syntax UID",
}

_NAMED_REMOVALS = {
    0x00020012: "Implementation Class UID: the writer describes itself instead",
    0x00020013: "Implementation Version Name: the writer describes itself instead",
    0x00020016: "Source Application Entity Title",
    0x00020017: "Sending Application Entity Title",
    0x00020018: "Receiving Application Entity Title",
    0x00020026: "Source Presentation Address",
    0x00020027: "Sending Presentation Address",
    0x00020028: "Receiving Presentation Address",
    0x00020100: "Private Information Creator UID",
    0x00020102: "Private Information",
}


def file_meta_action(tag: int) -> Action:
    """The action for a file meta element (group 0002)."""
    if tag in _KEEP:
        return Action(Code.KEEP, f"file meta: {_KEEP[tag]} describes the object")
    reason = _NAMED_REMOVALS.get(tag, f"({tag >> 16:04X},{tag & 0xFFFF:04X}) not kept")
    return Action(Code.REMOVE, f"file meta: {reason} (PS3.15 E.1.1: meta is replaced)")
