"""What the engine writes into every result: the trial, the markers, the file meta.

* Clinical Trial Subject module (PS3.3 C.7.1.3): Sponsor Name, Protocol ID and
  Name, Site ID and Name from the mapping store's trial info, Subject ID from the
  enrollment; Patient ID is the subject ID.
* Patient Identity Removed = YES, Longitudinal Temporal Information Modified
  (MODIFIED, UNMODIFIED or REMOVED, as the date options say), De-identification
  Method (the profile, each option, the recipe, accepted deviations and payloads,
  and for a run-scoped store "anonymized: no mapping kept") and De-identification
  Method Code Sequence (CID 7050).
* File meta: Media Storage SOP Class/Instance UID copy the (new) SOP Class and
  Instance UID; deid-vault's Implementation Class UID and Version Name; the
  128-byte preamble is zeroed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydicom import config
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import BaseTag
from pydicom.uid import UID

from deid.contract.store import Enrollment, TrialInfo
from deid.uids import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from deid.walk import element_text

LO_MAX = 64
_RAW_TEXT_VRS = frozenset({"LO", "CS", "SH", "PN"})


@dataclass(frozen=True, slots=True)
class MethodCodeItem:
    """One De-identification Method Code Sequence item (CID 7050)."""

    value: str
    scheme: str
    meaning: str


@dataclass(frozen=True, slots=True)
class Markers:
    """The de-identification markers, the same for every file of a run."""

    method: tuple[str, ...]
    """De-identification Method values (LO, one per fact, each at most 64 characters)."""
    codes: tuple[MethodCodeItem, ...]
    temporal: str
    """Longitudinal Temporal Information Modified: MODIFIED, UNMODIFIED or REMOVED."""

    @classmethod
    def build(
        cls,
        facts: Sequence[str],
        codes: Sequence[MethodCodeItem],
        temporal: str,
    ) -> Markers:
        """Markers from facts (each cut to LO's 64 characters), codes and the date state."""
        method = tuple(dict.fromkeys(fact[:LO_MAX].rstrip() for fact in facts if fact.strip()))
        return cls(method, tuple(codes), temporal)


class TrialWriter:
    """Writes the trial attributes and markers; the values that are the same for
    every file of a run are prepared once."""

    def __init__(self, trial: TrialInfo, markers: Markers) -> None:
        method = list(markers.method)
        if trial.anonymized:
            method.append("anonymized: no mapping kept")
        self._method = tuple(method)
        self._constant = (
            (0x00120010, "LO", trial.sponsor_name),
            (0x00120020, "LO", trial.protocol_id),
            (0x00120021, "LO", trial.protocol_name),
            (0x00120030, "LO", trial.site_id),
            (0x00120031, "LO", trial.site_name),
            (0x00120062, "CS", "YES"),
            (0x00280303, "CS", markers.temporal),
        )
        self._code_values = markers.codes
        self._by_encoding: dict[tuple[bool | None, bool | None], _Constants] = {}

    def write(
        self,
        dataset: Dataset,
        enrollment: Enrollment,
        extra_facts: Sequence[str] = (),
        *,
        cleaned_pixels: bool = False,
    ) -> None:
        """Write the clinical-trial attributes and the de-identification markers
        (``cleaned_pixels``: pixel masks were applied, Clean Pixel Data Option)."""
        subject = enrollment.subject_id
        _put(dataset, 0x00100020, "LO", subject)
        if 0x00100010 not in dataset:
            _put(dataset, 0x00100010, "PN", "")  # Type 2: present, empty without a name
        constants = self._constants(dataset)
        for (tag, vr, value), raw in zip(self._constant, constants.raw, strict=True):
            if raw is None:
                _put(dataset, tag, vr, value)
            else:
                dataset[raw.tag] = raw  # immutable: shared by the run's results
        _put(dataset, 0x00120040, "LO", subject)
        method = list(self._method)
        method += [f[:LO_MAX].rstrip() for f in extra_facts if f[:LO_MAX].rstrip() not in method]
        _put(dataset, 0x00120063, "LO", method if len(method) > 1 else method[0])
        codes = [*constants.codes, constants.clean_pixels] if cleaned_pixels else constants.codes
        _put(dataset, 0x00120064, "SQ", DicomSequence(codes))

    def _constants(self, dataset: Dataset) -> _Constants:
        """What every result in ``dataset``'s encoding gets, built at the first."""
        encoding = getattr(dataset, "original_encoding", (None, None))
        constants = self._by_encoding.get(encoding)
        if constants is None:
            constants = self._by_encoding[encoding] = _Constants(
                raw=[_raw_text(dataset, tag, vr, value) for tag, vr, value in self._constant],
                codes=[_code_item(code, encoding) for code in self._code_values],
                clean_pixels=_code_item(_CLEAN_PIXELS, encoding),
            )
        return constants


@dataclass(frozen=True, slots=True)
class _Constants:
    """The same for every result of a run in one encoding, and shared by them (nothing
    writes into these): raw elements and code items written as they are."""

    raw: list[RawDataElement | None]
    """The constant attributes as raw elements (``None``: not raw in this encoding)."""
    codes: list[Dataset]
    """De-identification Method Code Sequence items."""
    clean_pixels: Dataset
    """The Clean Pixel Data Option item, for results with masked pixels."""


def finish_file_meta(dataset: FileDataset) -> None:
    """Point the file meta at the new instance, describe deid-vault, zero the preamble."""
    meta = dataset.file_meta if hasattr(dataset, "file_meta") else FileMetaDataset()
    _put(meta, 0x00020002, "UI", element_text(dataset, 0x00080016))
    _put(meta, 0x00020003, "UI", element_text(dataset, 0x00080018))
    _put(meta, 0x00020012, "UI", UID(IMPLEMENTATION_CLASS_UID))
    _put(meta, 0x00020013, "SH", IMPLEMENTATION_VERSION_NAME)
    dataset.file_meta = meta
    dataset.preamble = b"\x00" * 128


def _put(dataset: Dataset, tag: int, vr: str, value: object) -> None:
    # Our own values are valid by construction: no validation on the hot path.
    raw = _raw_text(dataset, tag, vr, value)
    if raw is not None:
        dataset[raw.tag] = raw
        return
    key = BaseTag(tag)  # pydicom converts a plain int at a cost: a tag it takes as is
    dataset[key] = DataElement(key, vr, value, validation_mode=config.IGNORE)


def _raw_text(dataset: Dataset, tag: int, vr: str, value: object) -> RawDataElement | None:
    """ASCII text as the bytes pydicom would write for it (the same in every character
    set), in the encoding the dataset was read with: written as it is, never decoded."""
    implicit, little = getattr(dataset, "original_encoding", (None, None))
    if implicit is None or little is None or vr not in _RAW_TEXT_VRS:
        return None
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            return None
        value = "\\".join(value)
    if not isinstance(value, str) or not value.isascii():
        return None
    encoded = value.encode("ascii")
    if len(encoded) % 2:
        encoded += b" "
    return RawDataElement(BaseTag(tag), vr, len(encoded), encoded, 0, implicit, little, True)


def _code_item(code: MethodCodeItem, encoding: tuple[bool | None, bool | None]) -> Dataset:
    """A code item, its (ASCII) values raw in ``encoding`` where there is one."""
    item = Dataset()
    implicit, little = encoding
    if implicit is not None and little is not None:
        item.set_original_encoding(implicit, little, item._character_set)
    _put(item, 0x00080100, "SH", code.value)
    _put(item, 0x00080102, "SH", code.scheme)
    _put(item, 0x00080104, "LO", code.meaning)
    return item


_CLEAN_PIXELS = MethodCodeItem("113101", "DCM", "Clean Pixel Data Option")
