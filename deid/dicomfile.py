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

import io
import struct
import warnings
import zlib
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from pydicom import dcmread, dcmwrite
from pydicom.charset import convert_encodings, default_encoding
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset, validate_file_meta
from pydicom.errors import InvalidDicomError
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element, write_file_meta_info
from pydicom.filewriter import write_dataset as write_dataset_elements
from pydicom.uid import (
    AllTransferSyntaxes,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, VR

from deid.native_read import MAX_SHORT_VALUE_BYTES, SHORT_VRS, read_explicit_little
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
_VALID_VRS = frozenset(vr.value for vr in VR)
_KNOWN_SYNTAXES = frozenset(AllTransferSyntaxes)
_TRUNCATION_WARNINGS = ("End of file reached", "delimiter", "Expected sequence item")
_UNDEFINED_LENGTH = 0xFFFFFFFF
PIXEL_DATA = 0x7FE00010
Element = DataElement | RawDataElement


def read_input(path: str | Path | BinaryIO) -> FileDataset:
    """Read one input file; raise :class:`~deid.outcome.QuarantineError` for a bad one.

    Missing and unreadable paths raise ``OSError`` as usual: they are the caller's
    problem, not the file's.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # Plain explicit VR little endian files fast (the same dataset); the rest,
            # and any file that is not plain, by pydicom's reader.
            fast = read_explicit_little(path) if isinstance(path, str | Path) else None
            dataset = fast if fast is not None else dcmread(path, force=False)
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
    # The fast reader's elements are whole, with known VRs and short values short.
    check_dataset(dataset, check_elements=fast is None)
    return dataset


def check_dataset(dataset: FileDataset, *, check_elements: bool = True) -> None:
    """The checks of :func:`read_input` after parsing (transfer syntax, and with
    ``check_elements`` each top-level element: VR, length, short values)."""
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
    for element in dataset.values() if check_elements else ():
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

    The bytes are pydicom's (``dcmwrite(..., enforce_file_format=True)``); for the
    native transfer syntaxes they are produced faster (:func:`encode_native`).
    """
    encoded = encode_dataset(dataset)
    if isinstance(target, str | Path):
        Path(target).write_bytes(encoded)
    else:
        target.write(encoded)


def encode_dataset(dataset: FileDataset) -> bytes:
    """The bytes :func:`write_dataset` writes."""
    encoded = encode_native(dataset)
    if encoded is None:
        buffer = io.BytesIO()
        dcmwrite(buffer, dataset, enforce_file_format=True)
        encoded = buffer.getvalue()
    return encoded


_GROUP_LENGTH = struct.Struct("<HH2sHL")
"""(0002,0000) UL, explicit VR little endian, 4 bytes."""
_ITEM_HEADER = {True: struct.Struct("<HHL"), False: struct.Struct(">HHL")}
"""Item and delimiter tags with their length, by endianness."""
_HEADERS = {
    # (implicit VR, little endian, 4-byte length) -> tag, [VR,] length
    (True, True, True): struct.Struct("<HHL"),
    (False, True, False): struct.Struct("<HH2sH"),
    (False, True, True): struct.Struct("<HH2sHL"),
    (False, False, False): struct.Struct(">HH2sH"),
    (False, False, True): struct.Struct(">HH2sHL"),
}


def encode_native(dataset: FileDataset) -> bytes | None:
    """The bytes ``dcmwrite(dataset, enforce_file_format=True)`` writes, or ``None``
    where this does not apply (compressed syntaxes, a changed encoding or character
    set, a file meta that does not name the instance).

    pydicom writes an element still holding the bytes it was read with as those
    bytes behind a new tag, VR and length; so does this, without pydicom's cost per
    element (most elements of a result are kept as read). Every other element,
    sequences that were descended into included, is written by pydicom's own
    ``write_data_element``. ``tests/deid/test_dicomfile_write.py`` proves the bytes
    identical on every native transfer syntax.
    """
    meta = getattr(dataset, "file_meta", None)
    preamble = getattr(dataset, "preamble", None) or b"\x00" * 128
    if meta is None or meta.get("TransferSyntaxUID") not in NATIVE_TRANSFER_SYNTAXES:
        return None
    syntax = meta.TransferSyntaxUID
    elements = _in_tag_order(dataset)
    if len(preamble) != 128 or (elements and elements[0][0] >> 16 < 3):
        return None  # dcmwrite refuses these: let it say so
    implicit = syntax == ImplicitVRLittleEndian
    little = syntax != ExplicitVRBigEndian
    if (
        dataset.original_encoding != (implicit, little)
        or dataset.original_character_set != dataset._character_set
        or not _names_instance(meta, dataset)
    ):
        return None  # pydicom re-encodes or fixes things up: let it
    head = _encode_file_meta(meta)
    body = _encode_body(dataset, elements, implicit, little)
    if head is None or body is None:
        return None
    if syntax == DeflatedExplicitVRLittleEndian:
        compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        body = compressor.compress(body) + compressor.flush()
        if len(body) % 2:
            body += b"\x00"
    return preamble + b"DICM" + head + body


_META_REQUIRED = (0x00020001, 0x00020002, 0x00020003, 0x00020010, 0x00020012)
"""Type 1 file meta elements: with these present and not empty, and an Implementation
Version Name, pydicom's validation adds nothing."""


def _encode_file_meta(meta: Dataset) -> bytes | None:
    """What pydicom's ``write_file_meta_info(..., enforce_standard=True)`` writes."""
    elements = [(tag, element) for tag, element in _in_tag_order(meta) if tag != 0x00020000]
    if _meta_complete(meta, elements):  # the usual case: a result's, finished by the engine
        fp = _Sink(implicit=False, little=True)
        if not _encode_elements(fp, meta, elements, default_encoding):
            return None
        encoded = fp.getvalue()
        return _GROUP_LENGTH.pack(0x0002, 0x0000, b"UL", 4, len(encoded)) + encoded
    # On a copy, as dcmwrite (whose deep copy keeps the original encoding, so pydicom
    # writes raw elements as they are).
    copy = FileMetaDataset(meta)
    meta_implicit, meta_little = meta.original_encoding
    copy.set_original_encoding(meta_implicit, meta_little, meta.original_character_set)
    if copy.original_encoding != (False, True) or (
        copy.original_character_set != copy._character_set
    ):
        meta_io = DicomBytesIO()
        write_file_meta_info(meta_io, copy, enforce_standard=True)  # pydicom re-encodes it
        return bytes(meta_io.getvalue())
    validate_file_meta(copy, enforce_standard=True)  # adds what the standard requires
    if 0x00020000 not in copy:
        copy.FileMetaInformationGroupLength = 0
    fp = _Sink(implicit=False, little=True)
    if not _encode_elements(fp, copy, _in_tag_order(copy), default_encoding):
        return None
    encoded = fp.getvalue()
    # pydicom then rewrites the group length (first: the lowest tag) with its value
    return _GROUP_LENGTH.pack(0x0002, 0x0000, b"UL", 4, len(encoded) - 12) + encoded[12:]


def _meta_complete(meta: Dataset, elements: list[tuple[int, Element]]) -> bool:
    """True when pydicom would write ``meta`` as it is: explicit VR little endian, the
    default character set, only group 2, nothing for validation to add."""
    if meta.original_encoding != (False, True) or (
        meta.original_character_set != meta._character_set
    ):
        return False
    if any(tag >> 16 != 0x0002 for tag, _ in elements) or 0x00020013 not in meta:
        return False
    for tag in _META_REQUIRED:
        element = meta.get_item(tag)
        if element is None:
            return False
        if isinstance(element, RawDataElement):
            if not element.length:
                return False
        elif element.is_empty:
            return False
    return True


def _plain_pixels(element: DataElement | RawDataElement) -> bool:
    """Native pixel data that dcmwrite writes as it is: defined length, even bytes."""
    if isinstance(element, RawDataElement):
        value = element.value
        return element.length != _UNDEFINED_LENGTH and value is not None and not len(value) % 2
    return not element.is_undefined_length


def _names_instance(meta: Dataset, dataset: Dataset) -> bool:
    """True when dcmwrite would leave the Media Storage UIDs as they are."""
    for meta_tag, tag in ((0x00020002, 0x00080016), (0x00020003, 0x00080018)):
        if meta_tag not in meta or element_text(meta, meta_tag) != element_text(dataset, tag):
            return False
    return True


def _encode_body(
    dataset: Dataset, elements: list[tuple[int, Element]], implicit: bool, little: bool
) -> bytes | None:
    fp = _Sink(implicit=implicit, little=little)
    charset = dataset.get("SpecificCharacterSet", default_encoding)
    if not _encode_elements(fp, dataset, elements, charset):
        return None
    return bytes(fp.getvalue())


def _in_tag_order(dataset: Dataset) -> list[tuple[int, Element]]:
    """The elements as stored (raw ones undecoded), by tag as plain ints."""
    return sorted((int(tag), element) for tag, element in dataset.items())


class _Sink(io.BytesIO):
    """Bytes being encoded, with their encoding as plain attributes (assigning those of
    pydicom's ``DicomBytesIO`` rebuilds its writers: a cost per item)."""

    def __init__(self, *, implicit: bool, little: bool) -> None:
        super().__init__()
        self.implicit = implicit
        self.little = little

    def pydicom_writes(self, write: Callable[[DicomBytesIO], object]) -> None:
        """What one of pydicom's writers writes, in this encoding."""
        fp = DicomBytesIO()
        fp.is_implicit_VR, fp.is_little_endian = self.implicit, self.little
        write(fp)
        self.write(fp.getvalue())


def _encode_elements(
    fp: _Sink, dataset: Dataset, elements: list[tuple[int, Element]], charset: Any
) -> bool:
    """Mirror of pydicom's ``write_dataset`` loop; False where the fast path cannot
    promise pydicom's bytes."""
    implicit, little = fp.implicit, fp.little
    write = fp.write
    long = _HEADERS[(implicit, little, True)]
    short = _HEADERS.get((implicit, little, False), long)
    for tag, element in elements:
        if not tag & 0xFFFF and tag >> 16 > 6:
            continue  # retired group lengths, which pydicom does not write either
        value = element.value
        if value is None and isinstance(element, RawDataElement):
            element = dataset.get_item(tag)  # pydicom converts these (deferred or empty)
            value = element.value
        if tag == PIXEL_DATA and not _plain_pixels(element):
            return False  # dcmwrite makes native pixel data of defined, even length
        if isinstance(element, RawDataElement):
            if (
                isinstance(value, bytes)
                and element.length != _UNDEFINED_LENGTH
                and element.is_implicit_VR == implicit
                and element.is_little_endian == little
            ):
                if implicit:
                    write(long.pack(tag >> 16, tag & 0xFFFF, len(value)))
                    write(value)
                    continue
                vr = element.VR
                if vr in EXPLICIT_VR_LENGTH_32:
                    write(long.pack(tag >> 16, tag & 0xFFFF, vr.encode(), 0, len(value)))
                    write(value)
                    continue
                if vr in _VALID_VRS and len(value) <= 0xFFFF:
                    write(short.pack(tag >> 16, tag & 0xFFFF, vr.encode(), len(value)))
                    write(value)
                    continue
        elif element.VR == "SQ":
            # write_data_element hands items the converted character sets
            sequence: Iterable[Dataset] = element.value or ()
            items = _encode_items(fp, sequence, convert_encodings(charset or [default_encoding]))
            if items is None:
                return False
            undefined = element.is_undefined_length
            length = _UNDEFINED_LENGTH if undefined else len(items)
            if implicit:
                write(long.pack(tag >> 16, tag & 0xFFFF, length))
            else:
                write(long.pack(tag >> 16, tag & 0xFFFF, b"SQ", 0, length))
            write(items)
            if undefined:
                write(_ITEM_HEADER[little].pack(0xFFFE, 0xE0DD, 0))
            continue
        plain = None if isinstance(element, RawDataElement) else _plain(element, charset, little)
        if plain is not None:
            vr = element.VR or ""
            if implicit:
                write(long.pack(tag >> 16, tag & 0xFFFF, len(plain)))
            elif vr in EXPLICIT_VR_LENGTH_32:
                write(long.pack(tag >> 16, tag & 0xFFFF, vr.encode(), 0, len(plain)))
            else:
                write(short.pack(tag >> 16, tag & 0xFFFF, vr.encode(), len(plain)))
            write(plain)
            continue
        fp.pydicom_writes(partial(write_data_element, elem=element, encodings=charset))
    return True


_STRING_PADDING = {
    "AE": b" ",
    "AS": b" ",
    "CS": b" ",
    "DA": b" ",
    "DT": b" ",
    "TM": b" ",
    "UI": b"\x00",
}
"""VRs pydicom writes as ASCII strings (``write_string``, ``write_DA``... for ``str``
values), with their padding."""
_TEXT_VRS = frozenset({"LO", "SH", "LT", "ST", "UC", "UT"})
_NUMBER_FORMATS = {"UL": "L", "US": "H"}


def _plain(element: DataElement, charset: Any, little: bool) -> bytes | None:
    """The value bytes pydicom's ``write_data_element`` writes for the common simple
    values the engine sets (one ASCII string, one unsigned number, bytes), or
    ``None`` for anything else, which pydicom then writes itself."""
    vr, value = element.VR, element.value
    if isinstance(value, str):
        padding = _STRING_PADDING.get(vr)
        if padding is None and not (vr in _TEXT_VRS and charset == default_encoding):
            return None
        if not value.isascii():
            return None  # pydicom's character set handling (or its error)
        encoded = value.encode("ascii")
        if len(encoded) > 0xFFFE:
            return None  # pydicom writes it as UN, with a warning
        return encoded + (padding or b" ") if len(encoded) % 2 else encoded
    number_format = _NUMBER_FORMATS.get(vr)
    if number_format is not None and value.__class__ is int:
        try:
            return struct.pack(("<" if little else ">") + number_format, value)
        except struct.error:
            return None  # out of range: pydicom's error
    if vr == "OB" and value.__class__ is bytes:
        return value + b"\x00" if len(value) % 2 else value
    return None


def _encode_items(parent: _Sink, items: Iterable[Dataset], encodings: list[str]) -> bytes | None:
    """A sequence's items as pydicom's ``write_sequence`` writes them."""
    implicit, little = parent.implicit, parent.little
    header = _ITEM_HEADER[little]
    out = io.BytesIO()
    for item in items:
        fp = _Sink(implicit=implicit, little=little)
        if (
            item.original_encoding == (implicit, little)
            and item.original_character_set == item._character_set
        ):
            charset = item.get("SpecificCharacterSet", encodings)
            if not _encode_elements(fp, item, _in_tag_order(item), charset):
                return None
        else:  # a new item, or one pydicom re-encodes: its own writer
            fp.pydicom_writes(
                partial(write_dataset_elements, dataset=item, parent_encoding=encodings)
            )
        body = fp.getvalue()
        if getattr(item, "is_undefined_length_sequence_item", False):
            out.write(header.pack(0xFFFE, 0xE000, _UNDEFINED_LENGTH))
            out.write(body)
            out.write(header.pack(0xFFFE, 0xE00D, 0))
        else:
            out.write(header.pack(0xFFFE, 0xE000, len(body)))
            out.write(body)
    return bytes(out.getvalue())
