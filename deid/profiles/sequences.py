"""What happens inside a sequence, by the sequence's own action (PS3.15 E.1.1).

- **X** removes the sequence with its items; **Z** empties it (zero items); **K**
  keeps it, and what its items hold follows its own rules.
- **D** replaces the sequence with a minimal valid dummy: one item, holding only
  what the items of that sequence must hold (Type 1 and 2, and 1C and 2C when the
  original has them: present, their condition is taken as met), each with a value
  that is not the original's: a dummy, an empty value, a pseudonym, a new UID or a
  moved date, as the attribute's own rule gives where that rule replaces the
  value, else a dummy (Type 1) or nothing (Type 2). Coded values become a dummy
  code (``ANONYMIZED``, scheme ``99DEID``), Type 1 sequences inside a dummy of
  their own, Type 2 ones empty. Code strings (enumerated values such as Value
  Type and Relationship Type) and UIDs the profile keeps (SOP classes) stay, so the
  item remains valid; a nested Content Sequence goes (the dummy content item has
  no children, so the condition that asked for it no longer holds). An empty
  sequence stays empty.
- **C** keeps the sequence and cleans everything in it at every depth: what the
  rules would keep is cleaned instead (text and code meanings scrubbed of the
  patient's identifiers and their dates moved, names given pseudonyms, UIDs
  replaced, dates moved by the patient's offset), unreviewed free text included;
  what a selected option keeps stays, and so do code strings, coded values and
  numbers, which hold no free text; what the rules remove, replace or empty still
  is (a Person Identification Code Sequence inside is still a dummy).

The Types come from :mod:`deid.profiles.iod`. The engine tracks which items sit in
which kind of sequence and asks :class:`SequenceRules` for the adjusted action.
"""

from __future__ import annotations

from deid.actions import Action, Code
from deid.profiles.iod import IodTypes

CONTENT_SEQUENCE = 0x0040A730
DUMMY_CODE = {
    0x00080100: "ANONYMIZED",  # Code Value
    0x00080102: "99DEID",  # Coding Scheme Designator (a private scheme, PS3.3 8.2)
    0x00080104: "ANONYMIZED",  # Code Meaning
}
"""The dummy code of dummy items (PS3.3 8.8 Code Sequence Macro)."""
_CODE_ITEM = {0x00080100: "1C", 0x00080102: "1C", 0x00080104: "1", 0x00080119: "1C"}
_CODE_ITEM.update({0x00080120: "1C", 0x00080103: "1C"})
"""A Code Sequence Macro item, for code sequences the tables do not describe."""
_KEPT_IN_DUMMY_VRS = frozenset(
    {"CS", "UI", "AT", "US", "SS", "UL", "SL", "UV", "SV", "FL", "FD", "DS", "IS", "DA", "DT", "TM"}
)
"""What a dummy item keeps when the rules keep it: codes, UIDs the profile keeps,
numbers, and dates (kept only under Retain Longitudinal Temporal Information Full
Dates). Text, names and binary values the rules keep are replaced."""
_REPLACING = frozenset({Code.DUMMY, Code.UID, Code.PSEUDO, Code.JITTER, Code.REPLACE})
_CLEAN_REPLACES_VRS = frozenset({"DA", "DT", "TM", "PN", "UI"})
_DROP = Action(Code.REMOVE, "an item after the first of a sequence replaced by a dummy (D)")
_CLEANABLE_VRS = frozenset(
    {"AE", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT", "UI", "DA", "DT", "TM"}
    | {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}
)
"""What cleaning changes: text, names, UIDs, dates, binary values. Code strings and
numbers are kept as they are (a code string is compared whole, never cut)."""
_CODES = frozenset(
    {0x00080100, 0x00080102, 0x00080103, 0x00080119, 0x00080120, 0x00080105, 0x0008010F}
)
"""Code Value, Coding Scheme Designator and Version, Long and URN Code Value, Mapping
Resource, Context Identifier: coded values, kept whole (Code Meaning is cleaned)."""


class SequenceRules:
    """Adjusted actions for elements inside D (dummy) and C (cleaned) sequences."""

    def __init__(self, iod_types: IodTypes) -> None:
        self.iod_types = iod_types
        self._cleaned: dict[tuple[Action, str], Action] = {}
        self._dummy: dict[tuple[Action, int, str, tuple[int, ...]], Action] = {}

    @staticmethod
    def dropped() -> Action:
        """The action for anything in an item beyond the first of a dummy sequence."""
        return _DROP

    def cleaned(self, action: Action, tag: int, vr: str) -> Action:
        """The action for an element inside a sequence that an option cleans (C).

        What a selected option keeps (a Table E.1-1 row it marks K, such as UIDs
        under Retain UIDs) stays kept.
        """
        if action.code is Code.KEEP:
            if action.table_code is not None or vr not in _CLEANABLE_VRS or tag in _CODES:
                return action  # kept by an option, a code string, a number, a coded value
        elif not (action.unreviewed_text and action.code in (Code.REMOVE, Code.ZERO, Code.DUMMY)):
            return action
        key = (action, vr)  # the tag matters only for coded values, kept above
        found = self._cleaned.get(key)
        if found is None:
            found = Action(
                Code.CLEAN,
                f"{action.origin}; cleaned: it sits in a sequence that is cleaned (C)",
                table_code=action.table_code,
            )
            self._cleaned[key] = found
        return found

    def item_types(self, sequence_path: tuple[int, ...], keyword: str) -> dict[int, str]:
        """What an item of the dummy sequence at ``sequence_path`` must hold, tag -> Type."""
        found = self.iod_types.item_types(sequence_path)
        if found is not None:
            return found
        return _CODE_ITEM if keyword.endswith("CodeSequence") else {}

    def in_dummy(
        self,
        action: Action,
        tag: int,
        vr: str,
        sequence_path: tuple[int, ...],
        sequence_keyword: str,
    ) -> Action:
        """The action for an element of the item kept in a dummy sequence (D).

        ``sequence_path`` runs from the outermost dummy sequence to the one holding
        the element; ``sequence_keyword`` names the latter.
        """
        key = (action, tag, vr, sequence_path)
        found = self._dummy.get(key)
        if found is None:
            found = self._decide_in_dummy(action, tag, vr, sequence_path, sequence_keyword)
            self._dummy[key] = found
        return found

    def _decide_in_dummy(
        self,
        action: Action,
        tag: int,
        vr: str,
        sequence_path: tuple[int, ...],
        sequence_keyword: str,
    ) -> Action:
        type_ = self.item_types(sequence_path, sequence_keyword).get(tag)
        holder = f"the dummy item of {sequence_keyword or 'a sequence'}"
        if type_ is None or type_ == "3" or (vr == "SQ" and tag == CONTENT_SEQUENCE):
            return Action(Code.REMOVE, f"not required in {holder}", table_code=action.table_code)
        needed = type_ in ("1", "1C")
        why = f"Type {type_} in {holder}"
        if vr == "SQ":
            code = Code.DUMMY if needed else Code.ZERO
            return Action(code, f"{why}: {'a dummy item' if needed else 'empty'}")
        if tag in DUMMY_CODE:
            return Action(Code.REPLACE, f"{why}: the dummy code", value=DUMMY_CODE[tag])
        code = action.code
        if code in _REPLACING or (code is Code.CLEAN and vr in _CLEAN_REPLACES_VRS):
            return action  # its own rule writes a value that is not the original
        if code is Code.KEEP and (vr in _KEPT_IN_DUMMY_VRS or action.table_code is not None):
            return action  # a code or number, or what a selected option keeps
        if needed:
            return Action(Code.DUMMY, f"{why}: a dummy value", table_code=action.table_code)
        return Action(Code.ZERO, f"{why}: empty", table_code=action.table_code)
