"""UIDs: which ones are replaced, and how every copy of one follows its pseudonym.

A replaced UID gets a random 2.25 UID from the mapping store (kind ``UID``), the
same in every file, run and site of the trial. Because the store answers by
original, every reference to an object (Referenced SOP Instance UID, Source Image
Sequence, Referenced Study/Series, Frame of Reference, Media Storage SOP Instance
UID...) maps to the same new UID as the object itself.

UIDs under the DICOM root ``1.2.840.10008`` (SOP classes, transfer syntaxes,
coding schemes, well-known frames of reference) name no patient and are never
replaced, whatever the action says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from deid.pseudo import new_uid

UID_KIND = "UID"
"""The mapping store namespace of UID pseudonyms."""
STANDARD_ROOT = "1.2.840.10008."

IMPLEMENTATION_CLASS_UID = "2.25.255042563104637214738702932858066049301"
"""deid-vault's Implementation Class UID (File Meta), a fixed 2.25 UID."""
IMPLEMENTATION_VERSION_NAME = "DEIDVAULT_0_1"


def is_standard(uid: str) -> bool:
    """True for UIDs defined by the DICOM standard itself (never replaced)."""
    return uid.startswith(STANDARD_ROOT)


def split_uids(value: str) -> list[str]:
    """The UIDs of a (possibly multi-valued) UI value, without padding."""
    return [uid.strip(" \x00") for uid in value.split("\\")]


def originals_to_replace(value: str) -> Iterable[str]:
    """The UIDs of ``value`` that need a pseudonym."""
    return (uid for uid in split_uids(value) if uid and not is_standard(uid))


def replace_uids(value: str, pseudonyms: Mapping[str, str]) -> str:
    """``value`` with every replaceable UID swapped for its pseudonym."""
    return "\\".join(
        pseudonyms[uid] if uid and not is_standard(uid) else uid for uid in split_uids(value)
    )


def propose_uid() -> str:
    """A fresh random 2.25 UID proposal for the mapping store."""
    return new_uid()
