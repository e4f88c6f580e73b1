"""Table E.1-1 codes to engine actions, combined codes included.

A combined code lets the attribute's Type in the object's IOD choose among its
alternatives (PS3.15 E.1.1 and the notes to Table E.1-1): "X/Z: X unless Z is
required to maintain IOD conformance (Type 3 versus Type 2)", and so on for X/D
(Type 3 versus 1), Z/D (2 versus 1), X/Z/D (3 versus 2 versus 1) and X/Z/U*
(Type 3 versus 2 versus 1 sequences holding UID references: U keeps the sequence
and replaces the UIDs inside). :func:`resolve_by_type` takes the Type that
:mod:`deid.profiles.iod` finds:

- Type 1 or 1C: a value is needed: D (U for X/Z/U*; D too for an X/Z that some IOD
  makes Type 1, since Z may be a dummy value);
- Type 2 or 2C: Z (D for X/D, which has no empty alternative);
- Type 3, or not part of the object's IOD: X (Z for Z/D).

A conditional Type (1C, 2C) counts as its condition met: the attribute is there,
and the condition cannot be evaluated here; keeping the object valid comes first.
"""

from __future__ import annotations

from deid.actions import Code
from deid.contract.errors import UsageError
from deid.profiles.iod import TypeFinding

SINGLE_CODES: dict[str, Code] = {
    "X": Code.REMOVE,
    "Z": Code.ZERO,
    "D": Code.DUMMY,
    "K": Code.KEEP,
    "C": Code.CLEAN,
    "U": Code.UID,
}

COMBINED_CODES = frozenset({"X/Z", "X/D", "Z/D", "X/Z/D", "X/Z/U*"})
"""The combined codes of Table E.1-1 (2024b), all decided by the attribute's Type."""


class UnknownCodeError(UsageError, ValueError):
    """A Table E.1-1 code this module does not know (a data or programming error)."""


def is_combined(code: str) -> bool:
    """True for a combined code (its action depends on the attribute's Type)."""
    if code in SINGLE_CODES:
        return False
    if code in COMBINED_CODES:
        return True
    raise UnknownCodeError(f"unknown Table E.1-1 action code {code!r}")


def resolve_by_type(code: str, found: TypeFinding) -> tuple[str, str]:
    """The single code a (possibly combined) table code resolves to, and why.

    The reason is empty for a code that is already single.
    """
    if not is_combined(code):
        return code, ""
    alternatives = code.replace("U*", "U").split("/")
    type_ = found.type
    if type_ in ("1", "1C"):
        single = "U" if "U" in alternatives else "D"
    elif type_ in ("2", "2C"):
        single = "Z" if "Z" in alternatives else "D"
    else:
        single = "X" if "X" in alternatives else "Z"
    return single, found.reason


def action_code(code: str) -> Code:
    """The engine :class:`Code` of a single table code."""
    try:
        return SINGLE_CODES[code]
    except KeyError:
        raise UnknownCodeError(f"{code!r} is not a single Table E.1-1 action code") from None
