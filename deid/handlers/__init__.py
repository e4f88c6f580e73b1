"""Element handlers, one module per family, and the one place that picks them.

:func:`handler_for` declares the dispatch order: the action's code first, then the
element's VR and what the attribute carries. ``None`` means there is nothing to do
(K, or C/K/U on a sequence, whose items have their own steps).

=================  =====================================================
module             carries out
=================  =====================================================
``fixed``          X, Z, BLANK, REPLACE, D dummies of non-identifying VRs,
                   D on a sequence (one item kept, the others dropped)
``names``          D/C on PN, PSEUDO FULL_NAME/GIVEN_NAME/SURNAME
``ids``            D on IDs, institutions, addresses...; other PSEUDO classes
``uids``           U, D/C/PSEUDO on UI
``dates``          C/JITTER/PSEUDO DATE on DA/DT/TM and on Frame Origin
                   Timestamp (OB); ages (AS) and birth dates
``text``           C on text (the scrubber, dates in text), unreviewed text kept
``private``        C on binary values; orphaned private creators
``trial``          trial attributes, de-identification markers, file meta
=================  =====================================================
"""

from __future__ import annotations

from functools import lru_cache

from deid.actions import Action, Code
from deid.contract.errors import DeidError
from deid.handlers.base import FileState, Handler, Step
from deid.handlers.dates import AGE, PTP_SHIFT, SHIFT
from deid.handlers.fixed import DUMMY, DUMMY_SEQUENCE, EMPTY, REMOVE, REPLACE
from deid.handlers.ids import IDENTIFIER_PSEUDONYMS, SUBJECT_ID
from deid.handlers.names import NAME_CLASSES, PERSON_NAMES
from deid.handlers.private import BINARY_CLEAN, BINARY_VRS, UNCLEANABLE
from deid.handlers.text import KEPT_TEXT, SCRUB, TEXT_VRS
from deid.handlers.uids import UIDS
from deid.identifiers import PSEUDO_CLASS_FOR_KIND, kind_of
from deid.pseudo import Derivation, get_class

__all__ = ["FileState", "Handler", "NotApplicableError", "Step", "handler_for"]

DATE_VRS = frozenset({"DA", "DT", "TM"})
SEQUENCE_KEEPING = frozenset({Code.KEEP, Code.DUMMY, Code.CLEAN, Code.UID})
"""Codes under which a sequence's items are planned element by element (D: its
first item, which becomes the dummy; :mod:`deid.profiles.sequences`)."""
TIMESTAMPS = frozenset({"FrameOriginTimestamp"})
"""Binary values that are times: C moves them."""
SIGNED = frozenset({"CertifiedTimestamp"})
"""Binary values whose content is signed: C cannot change them without breaking them."""


class NotApplicableError(DeidError, ValueError):
    """An action that cannot apply to an element of this VR (PSEUDO DATE on a PN...)."""


@lru_cache(maxsize=8192)
def handler_for(action: Action, vr: str, keyword: str) -> Handler | None:
    """The handler that carries out ``action`` on an element, or ``None`` if none is needed."""
    code = action.code
    if code is Code.KEEP:
        return AGE if vr == "AS" else None
    if code is Code.REMOVE:
        return REMOVE
    if code in (Code.ZERO, Code.BLANK):
        return EMPTY
    if code is Code.REPLACE:
        return REPLACE
    if vr == "SQ":
        if code is Code.DUMMY:
            return DUMMY_SEQUENCE
        if code in SEQUENCE_KEEPING:
            return None
        raise NotApplicableError(f"{code.name} cannot apply to a sequence")
    if code is Code.UID:
        if vr != "UI":
            raise NotApplicableError(f"U cannot apply to a {vr} element")
        return UIDS
    if code is Code.JITTER:
        if keyword in TIMESTAMPS:
            return PTP_SHIFT
        if vr not in DATE_VRS:
            raise NotApplicableError(f"JITTER cannot apply to a {vr} element")
        return SHIFT
    if code is Code.PSEUDO:
        return _pseudo_handler(action, vr)
    if code is Code.DUMMY:
        return _dummy_handler(vr, keyword)
    if action.unreviewed_text and vr in TEXT_VRS:
        return KEPT_TEXT
    return _clean_handler(vr, keyword)


def _pseudo_handler(action: Action, vr: str) -> Handler:
    pseudo_class = get_class(action.pseudo_class or "")
    if not pseudo_class.accepts(vr):
        raise NotApplicableError(f"PSEUDO {pseudo_class.name} cannot produce a valid {vr} value")
    if pseudo_class.derivation is Derivation.DATE_OFFSET:
        return SHIFT
    if pseudo_class.derivation is Derivation.SUBJECT_ID:
        return SUBJECT_ID
    if pseudo_class.name in NAME_CLASSES:
        return PERSON_NAMES
    if pseudo_class.name == "UID":
        return UIDS
    return IDENTIFIER_PSEUDONYMS


def _dummy_handler(vr: str, keyword: str) -> Handler:
    if vr == "PN":
        return PERSON_NAMES
    if vr == "UI":
        return UIDS
    kind = kind_of(keyword, vr)
    if kind is not None and kind in PSEUDO_CLASS_FOR_KIND:
        return IDENTIFIER_PSEUDONYMS
    return DUMMY


def _clean_handler(vr: str, keyword: str) -> Handler | None:
    if keyword in TIMESTAMPS:
        return PTP_SHIFT
    if keyword in SIGNED:
        return UNCLEANABLE
    if vr in DATE_VRS:
        return SHIFT
    if vr == "AS":
        return AGE
    if vr == "PN":
        return PERSON_NAMES
    if vr == "UI":
        return UIDS
    if vr in TEXT_VRS:
        return SCRUB
    if vr in BINARY_VRS:
        return BINARY_CLEAN
    return None  # numbers: nothing in them to clean
