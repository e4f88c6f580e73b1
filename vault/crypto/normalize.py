"""How an original is normalized before its blind index is computed.

Two spellings of one value that DICOM treats as the same (trailing padding, a
different Unicode composition, doubled spaces, for names a different case or
empty trailing components) must find the same mapping; anything else must not.
The stored ciphertext always holds the original exactly as first seen.
"""

from __future__ import annotations

import unicodedata

PERSON_NAME_KINDS = frozenset({"GIVEN_NAME", "SURNAME", "FULL_NAME"})
VERBATIM_KINDS = frozenset({"UID"})


def normalize(kind: str, value: str) -> str:
    """The form of ``value`` that the blind index of ``kind`` is computed over."""
    if kind in VERBATIM_KINDS:
        return value
    text = unicodedata.normalize("NFC", value).strip(" \0\t\r\n")
    text = " ".join(text.split())
    if kind in PERSON_NAME_KINDS:
        # "DOE^JOHN^^" and "Doe^John" are one person name; empty trailing components
        # and component groups carry nothing.
        text = text.casefold().rstrip("^= ").strip()
    return text
