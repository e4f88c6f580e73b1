"""Reading inputs and writing results, with bad files turned into typed quarantines.

:func:`read_input` reads a DICOM Part 10 file (never modifying it) and refuses,
with a :class:`~deid.outcome.QuarantineError` whose message holds no value from
the file, what cannot be de-identified safely:

* not DICOM (no ``DICM`` prefix; ``force`` is never used, so a text file is never
  parsed as a data set);
* truncated: the file ends inside an element or before a sequence or encapsulated
  pixel data is closed;
* an unknown or private transfer syntax, whose data set encoding is unknown;
* an element with an unknown VR, or a short-text value (names, codes, dates,
  UIDs) far longer than any valid one (:data:`MAX_SHORT_VALUE_BYTES`);
* no SOP Class or SOP Instance UID (a DICOMDIR, a bare data set).

Transfer syntaxes: implicit and explicit VR little endian, explicit VR big endian
and deflated explicit VR little endian are read and written in kind (the result
keeps the input's transfer syntax); for compressed syntaxes the data set is
explicit VR little endian and the encapsulated pixel data is copied as bytes.
Pixel data is never decoded. Values are not deferred: the writer needs every
byte of the result anyway, and reading them once is cheapest.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import BinaryIO

from pydicom import dcmread, dcmwrite
from pydicom.dataelem import RawDataElement
from pydicom.dataset import FileDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    AllTransferSyntaxes,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pydicom.valuerep import VR

from deid.outcome import QuarantineError, QuarantineReason
from deid.walk import dictionary_vr, element_text, tag_name

NATIVE_TRANSFER_SYNTAXES = (
    ImplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    DeflatedExplicitVRLittleEndian,
)
"""Read and written in kind; every other syntax pydicom knows is compressed pixel data
in an explicit VR little endian data set, copied as bytes."""
MAX_SHORT_VALUE_BYTES = 64 * 1024
SHORT_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "LO", "PN", "SH", "TM", "UI"})
"""VRs whose values are at most 64 characters each; 64 KiB is far beyond any real
multi-valued one (numbers, DS/IS, can legitimately run long: contour data)."""
_VALID_VRS = frozenset(vr.value for vr in VR)
_KNOWN_SYNTAXES = frozenset(AllTransferSyntaxes)
_TRUNCATION_WARNINGS = ("End of file reached", "delimiter", "Expected sequence item")
_UNDEFINED_LENGTH = 0xFFFFFFFF


def read_input(path: str | Path | BinaryIO) -> FileDataset:
    """Read one input file; raise :class:`~deid.outcome.QuarantineError` for a bad one.

    Missing and unreadable paths raise ``OSError`` as usual: they are the caller's
    problem, not the file's.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            dataset = dcmread(path, force=False)
        except InvalidDicomError:
            raise QuarantineError(
                QuarantineReason.NOT_DICOM,
                "not a DICOM file: no 'DICM' prefix after the 128-byte preamble",
            ) from None
        except (FileNotFoundError, PermissionError, IsADirectoryError):
            raise
        except (OSError, EOFError) as exc:
            raise QuarantineError(
                QuarantineReason.TRUNCATED,
                f"the file ends before its data set does ({type(exc).__name__})",
            ) from None
        except (ValueError, TypeError, KeyError, NotImplementedError, RecursionError) as exc:
            raise QuarantineError(
                QuarantineReason.MALFORMED,
                f"the data set cannot be parsed ({type(exc).__name__})",
            ) from None
    if any(any(s in str(w.message) for s in _TRUNCATION_WARNINGS) for w in caught):
        raise QuarantineError(
            QuarantineReason.TRUNCATED,
            "the file ends before a sequence or the encapsulated pixel data is closed",
        )
    check_dataset(dataset)
    return dataset


def check_dataset(dataset: FileDataset) -> None:
    """The checks of :func:`read_input` after parsing (transfer syntax, elements)."""
    syntax = dataset.file_meta.get("TransferSyntaxUID") if dataset.file_meta else None
    if syntax is None:
        raise QuarantineError(
            QuarantineReason.MALFORMED,
            "the file meta has no Transfer Syntax UID, so the data set's encoding is unknown",
        )
    if syntax not in _KNOWN_SYNTAXES or not syntax.is_transfer_syntax:
        raise QuarantineError(
            QuarantineReason.UNSUPPORTED_TRANSFER_SYNTAX,
            "the transfer syntax is private or unknown, so the data set cannot be decoded",
        )
    # values(), not ``for element in dataset``: iterating a Dataset decodes every value.
    for element in dataset.values():
        if isinstance(element, RawDataElement):
            _check_raw(element)
    if not dataset.keys():
        raise QuarantineError(
            QuarantineReason.TRUNCATED, "the file ends after its file meta: the data set is empty"
        )
    for required, keyword in ((0x00080016, "SOPClassUID"), (0x00080018, "SOPInstanceUID")):
        if not element_text(dataset, required):
            raise QuarantineError(
                QuarantineReason.NOT_AN_INSTANCE,
                f"the file has no {keyword}: it is not a composite instance (a DICOMDIR?)",
            )


def _check_raw(element: RawDataElement) -> None:
    vr, length, value = element.VR, element.length, element.value
    if vr is None:  # implicit VR: the dictionary's
        vr = dictionary_vr(element.tag)
    elif vr not in _VALID_VRS:
        raise QuarantineError(
            QuarantineReason.MALFORMED, f"{tag_name(element.tag)} has an unknown VR"
        )
    if value is not None and length != _UNDEFINED_LENGTH and len(value) < length:
        raise QuarantineError(
            QuarantineReason.TRUNCATED,
            f"the file ends inside {tag_name(element.tag)}",
        )
    if vr in SHORT_VRS and length != _UNDEFINED_LENGTH and length > MAX_SHORT_VALUE_BYTES:
        raise QuarantineError(
            QuarantineReason.VALUE_TOO_LONG,
            f"{tag_name(element.tag)} holds {length} bytes, far more than its VR {vr} allows",
        )


def write_dataset(dataset: FileDataset, target: str | Path | BinaryIO) -> None:
    """Write a result as a DICOM Part 10 file in its own transfer syntax.

    The caller writes to a temporary file and renames it (atomic writes are the
    runner's). Big endian and deflated results need nothing special: the data set
    keeps the encoding it was read with, and pydicom deflates on writing.
    """
    dcmwrite(target, dataset, enforce_file_format=True)
