"""Reading the common file fast: explicit VR little endian, every length defined.

Most files a site exports are explicit VR little endian (the benchmark corpus is),
and :func:`pydicom.dcmread` spends most of its time in a per-element reader built
for every case: a read and a ``tell`` per element, debug checks, deferral and
stop conditions. :func:`read_explicit_little` reads the file with one ``read`` and
builds, with the same pydicom classes, the dataset ``dcmread`` builds for it: the
same raw elements (tag, VR, length, value bytes, file offset), the same file meta
(its first element and Transfer Syntax UID decoded, as pydicom leaves them), the
same original encoding and character set.

It answers only for files it can read exactly as pydicom does: the ``DICM`` prefix,
a file meta, no command set, Explicit VR Little Endian, every element well formed
with a defined length and the last one ending at the end of the file; so the checks
of :func:`deid.dicomfile.check_dataset` on each element hold by construction, and
are not made again (a short-text value beyond :data:`MAX_SHORT_VALUE_BYTES` goes to
pydicom, and read_input refuses it as before). Anything else
(another transfer syntax, an undefined length such as encapsulated pixel data or a
sequence, a VR pydicom does not know, a truncated or padded file) returns ``None``
and the caller reads the file with ``dcmread``, whose handling of odd files
(warnings, truncation, switching to implicit VR) then decides. Sequences stay raw
bytes here as in pydicom, parsed by pydicom when they are used.
``tests/deid/test_native_read.py`` compares the result with ``dcmread`` element by
element on every file of the corpus and pydicom's examples.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import cast

from pydicom.charset import convert_encodings, default_encoding
from pydicom.dataelem import (
    DataElement,
    RawDataElement,
    convert_raw_data_element,
    empty_value_for_VR,
)
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.tag import BaseTag
from pydicom.uid import ExplicitVRLittleEndian
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, VR

from deid.contract.errors import DeidError

MAX_SHORT_VALUE_BYTES = 64 * 1024
SHORT_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "LO", "PN", "SH", "TM", "UI"})
"""VRs whose values are at most 64 characters each; 64 KiB is far beyond any real
multi-valued one (numbers, DS/IS, can legitimately run long: contour data). A file
holding a longer one is refused (:func:`deid.dicomfile.read_input`)."""
MAX_BYTES = 64 << 20
"""Larger files go to pydicom: this reader holds the file and its values at once."""
_HEADER = struct.Struct("<HH2sH")
_LONG_LENGTH = struct.Struct("<L")
_KNOWN_VRS = {vr.value.encode(): vr.value for vr in VR if len(vr.value) == 2}
"""The VRs pydicom knows, by their two bytes."""
_LONG_VRS = frozenset(str(vr) for vr in EXPLICIT_VR_LENGTH_32)
_UNDEFINED = 0xFFFFFFFF
_PREAMBLE = 128
_CHARACTER_SET = 0x00080005
_Elements = dict[BaseTag, RawDataElement | DataElement]


class _NotPlainError(DeidError):
    """The file is not one this reader answers for: pydicom reads it."""


def read_explicit_little(path: str | Path) -> FileDataset | None:
    """``dcmread(path)`` for a plain Explicit VR Little Endian file, faster; ``None``
    for any other file (see the module docstring). Raises ``OSError`` as ``open``."""
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size > MAX_BYTES:
            return None
        data = handle.read()  # one read (mapping the file measured no faster)
    if len(data) < _PREAMBLE + 4 or data[_PREAMBLE : _PREAMBLE + 4] != b"DICM":
        return None
    try:
        meta_elements, position = _elements(data, _PREAMBLE + 4, meta=True)
        if not meta_elements or position >= len(data):
            return None
        file_meta = _file_meta(meta_elements)
        if file_meta.get("TransferSyntaxUID") != ExplicitVRLittleEndian:
            return None
        elements, end = _elements(data, position, meta=False)
        if end != len(data) or not elements:
            return None
        encoding: str | list[str] = default_encoding
        if _CHARACTER_SET in elements:
            raw = cast(RawDataElement, elements[BaseTag(_CHARACTER_SET)])
            encoding = convert_encodings(convert_raw_data_element(raw).value)
    except Exception:  # not plain, or odd: pydicom's reader says what it is
        return None
    dataset = Dataset(elements)
    dataset.set_original_encoding(False, True, encoding)
    result = FileDataset(str(path), dataset, data[:_PREAMBLE], file_meta, False, True)
    result.set_original_encoding(False, True, dataset._character_set)
    return result


def _elements(data: bytes, position: int, *, meta: bool) -> tuple[_Elements, int]:
    """The elements from ``position``: the file meta (group 2, stopping before the
    first other group) or the data set (to the end); and where they end."""
    elements: _Elements = {}
    header, long_length = _HEADER.unpack_from, _LONG_LENGTH.unpack_from
    end = len(data)
    while position + 8 <= end:
        group, element, vr_bytes, length = header(data, position)
        if meta and group != 0x0002:
            break
        if group in (0x0000, 0xFFFE) or (not meta and group == 0x0002):
            raise _NotPlainError  # a command set, an item or delimiter, meta out of place
        vr = _KNOWN_VRS.get(vr_bytes)
        if vr is None:
            raise _NotPlainError  # pydicom may take it for implicit VR
        if vr in _LONG_VRS:
            length = long_length(data, position + 8)[0]
            value_at = position + 12
        else:
            value_at = position + 8
        if length == _UNDEFINED or value_at + length > end:
            raise _NotPlainError  # a sequence or encapsulated pixels; or cut short
        if length > MAX_SHORT_VALUE_BYTES and vr in SHORT_VRS:
            raise _NotPlainError  # pydicom's reading, then read_input's refusal
        tag = BaseTag(group << 16 | element)
        value = (
            data[value_at : value_at + length]
            if length
            else cast(bytes | None, empty_value_for_VR(vr, raw=True))
        )
        elements[tag] = RawDataElement(tag, vr, length, value, value_at, False, True)
        position = value_at + length
    if position != end and not meta:
        raise _NotPlainError  # a few bytes too many or too few: pydicom's business
    return elements, position


def _file_meta(elements: _Elements) -> FileMetaDataset:
    """The file meta as pydicom's reader leaves it: its first element decoded (pydicom
    reads it to check the encoding, and the group length to compare it)."""
    read = Dataset(elements)
    read.set_original_encoding(False, True, default_encoding)
    file_meta = FileMetaDataset(read)
    file_meta.set_original_encoding(False, True, default_encoding)
    _ = file_meta[min(elements)]  # decodes the first, as pydicom does
    if "FileMetaInformationGroupLength" in file_meta:
        _ = file_meta.FileMetaInformationGroupLength  # decodes it, as pydicom does
    return file_meta
