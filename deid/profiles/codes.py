"""Table E.1-1 codes to engine actions, combined codes included.

A combined code lets the IOD's Type for the attribute decide (X/Z: X unless Type 2,
then Z...). We do not ship per-IOD Type data: one attribute can be Type 1 in one
IOD, Type 3 in another and Type 1C inside a sequence, so a wrong or missing lookup
would give either a non-conformant object or a leak. Instead every combined code
resolves to its value-keeping alternative, which is conformant for every IOD (a
Type 3 attribute may be present empty or with a value) and never leaks (the value
is either empty or a dummy):

- ``X/Z`` -> ``Z``, ``X/D`` -> ``D``, ``Z/D`` -> ``D``, ``X/Z/D`` -> ``D``;
- ``X/Z/U*`` -> ``K`` for the sequence: it is kept and its items de-identified, so
  the instance UIDs inside are replaced by their own rows (U) and every other
  attribute inside follows its own row.
"""

from __future__ import annotations

from deid.actions import Code
from deid.contract.errors import UsageError

SINGLE_CODES: dict[str, Code] = {
    "X": Code.REMOVE,
    "Z": Code.ZERO,
    "D": Code.DUMMY,
    "K": Code.KEEP,
    "C": Code.CLEAN,
    "U": Code.UID,
}

COMBINED_CODES: dict[str, tuple[str, str]] = {
    "X/Z": ("Z", "kept empty, valid whatever the attribute's Type"),
    "X/D": ("D", "dummy value, valid whatever the attribute's Type"),
    "Z/D": ("D", "dummy value, valid whatever the attribute's Type"),
    "X/Z/D": ("D", "dummy value, valid whatever the attribute's Type"),
    "X/Z/U*": ("K", "sequence kept; the UIDs inside are replaced by their own rows"),
}
"""Combined code -> (single code, why) for the value-keeping choice."""


class UnknownCodeError(UsageError, ValueError):
    """A Table E.1-1 code this module does not know (a data or programming error)."""


def resolve_combined(code: str) -> tuple[str, str]:
    """The single code a (possibly combined) table code resolves to, and why.

    The reason is empty for a code that is already single.
    """
    if code in SINGLE_CODES:
        return code, ""
    try:
        return COMBINED_CODES[code]
    except KeyError:
        raise UnknownCodeError(f"unknown Table E.1-1 action code {code!r}") from None


def action_code(code: str) -> Code:
    """The engine :class:`Code` of a (possibly combined) table code."""
    return SINGLE_CODES[resolve_combined(code)[0]]
