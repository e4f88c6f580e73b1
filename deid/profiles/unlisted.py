"""Standard attributes that Table E.1-1 does not list.

The standard lets a de-identifier keep them, but warns (E.1.1 Note 1) that new,
retired and extended attributes can carry identity. So:

- a date (DA, DT) follows the table's dates (E.1.1 Note 4 suggests handling dates
  by VR): shifted under Modified Dates, kept under Full Dates, removed otherwise;
- a value whose VR can carry names or free text (PN, LO, LT, ST, UT, SH, UC, and
  AE and UR, which name hosts and sites) is kept when it is on the reviewed safe
  list (``data/reviewed_text_attributes.json``, one reason per attribute), removed
  when the review found it identifying (a birth date in another calendar, a
  person's name), and otherwise, unreviewed, it fails closed: removed, or where
  the object's IOD needs it (:mod:`deid.profiles.iod`), emptied (Type 2) or given
  a dummy (Type 1), as if Table E.1-1 said X/Z/D. ``keep_unreviewed_text``
  (``--keep-unreviewed-text``, or a recipe's KEEP of the attribute) keeps it
  instead: dates found in the text are moved by the patient's offset (kept under
  Full Dates), and a value that names the patient or holds one of the patient's
  identifiers is removed whole. Either way the run report counts them;
- a UN value of a tag outside the dictionary may hold anything: treated as
  unreviewed text;
- anything else (numbers, codes, sequences, which are recursed into) is kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

from pydicom.datadict import DicomDictionary

from deid.actions import Action, Code, ElementContext
from deid.profiles.codes import action_code, resolve_by_type
from deid.profiles.iod import IodTypes
from deid.profiles.options import Option
from deid.profiles.table import read_data
from deid.profiles.tags import describe_tag, parse_tag, tag_vr

REVIEWED_TEXT_FILE = "reviewed_text_attributes.json"
TEXT_VRS = frozenset({"PN", "LO", "LT", "ST", "UT", "SH", "UC", "AE", "UR"})
DATE_VRS = frozenset({"DA", "DT"})
UNREVIEWED_CODE = "X/Z/D"
"""How unreviewed free text is treated when it is not kept: by the attribute's Type."""


@dataclass(frozen=True, slots=True)
class ReviewedText:
    """The review of unlisted text attributes: tag -> reason, for each verdict."""

    safe: dict[int, str]
    remove: dict[int, str]


@cache
def load_reviewed_text() -> ReviewedText:
    """The shipped review of unlisted text attributes."""
    document = json.loads(read_data(REVIEWED_TEXT_FILE))
    return ReviewedText(
        safe={parse_tag(e["tag"]): e["reason"] for e in document["safe"]},
        remove={parse_tag(e["tag"]): e["reason"] for e in document["remove"]},
    )


class UnlistedPolicy:
    """Decides for standard attributes outside Table E.1-1."""

    def __init__(
        self, options: frozenset[Option], *, keep_unreviewed_text: bool, iod_types: IodTypes
    ) -> None:
        self.keep_unreviewed_text = keep_unreviewed_text
        self.iod_types = iod_types
        self.review = load_reviewed_text()
        if Option.RETAIN_LONG_MODIFIED_DATES in options:
            self._date = (Code.CLEAN, Option.RETAIN_LONG_MODIFIED_DATES.title)
        elif Option.RETAIN_LONG_FULL_DATES in options:
            self._date = (Code.KEEP, Option.RETAIN_LONG_FULL_DATES.title)
        else:
            self._date = (Code.REMOVE, "the Basic Profile")
        reviewed = self.review.safe.keys() | self.review.remove.keys()
        self.typed_tags = frozenset(
            tag
            for tag, entry in DicomDictionary.items()
            if tag not in reviewed
            and iod_types.covers(tag)
            and set(entry[0].split(" or ")) & TEXT_VRS
        )
        """Unreviewed text attributes whose action depends on their Type in the IOD."""

    def action_for(self, ctx: ElementContext) -> Action:
        """The action for a standard element that no Table E.1-1 row governs."""
        tag = ctx.tag
        dictionary_vr = tag_vr(tag)
        vr = dictionary_vr if ctx.vr == "UN" and dictionary_vr else ctx.vr
        where = f"{describe_tag(tag)} is not in Table E.1-1"
        if vr in DATE_VRS:
            code, source = self._date
            return Action(code, f"{where}; a date, treated like the table's dates under {source}")
        reason = self.review.safe.get(tag)
        if reason is not None:
            return Action(Code.KEEP, f"{where}; reviewed safe: {reason}")
        reason = self.review.remove.get(tag)
        if reason is not None:
            return Action(Code.REMOVE, f"{where}; reviewed identifying: {reason}")
        if vr in TEXT_VRS or (vr == "UN" and dictionary_vr is None):
            if self.keep_unreviewed_text:
                return self.kept(ctx, "--keep-unreviewed-text")
            found = self.iod_types.type_of(tag, ctx.parents, ctx.sop_class_uid)
            single, why = resolve_by_type(UNREVIEWED_CODE, found)
            return Action(
                action_code(single),
                f"{where}; {vr} can carry free text and is not on the reviewed list: "
                f"fails closed, as {UNREVIEWED_CODE} -> {single} ({why})",
                unreviewed_text=True,
            )
        return Action(Code.KEEP, f"{where}; {vr} carries no names or free text")

    def kept(self, ctx: ElementContext, by: str) -> Action:
        """Unreviewed free text kept on request (``by``: the option or recipe rule)."""
        return Action(
            Code.CLEAN,
            f"{describe_tag(ctx.tag)} is not in Table E.1-1 and not reviewed; kept by {by}: "
            "dates in it moved, removed whole if it names the patient",
            unreviewed_text=True,
        )
