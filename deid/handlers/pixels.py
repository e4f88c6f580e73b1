"""Pixel masks: rectangles blanked in uncompressed pixel data (Clean Pixel Data).

A mask names a rectangle in pixel coordinates and, optionally, the images it is
for (their Modality, Rows and Columns: burned-in text sits at fixed places for a
given scanner and protocol). Where a mask applies, every frame's rectangle is set
to 0 in every sample, the object is marked Burned In Annotation ``NO``, and the
De-identification Method Code Sequence gets "Clean Pixel Data Option" (113101).
The Burned In Annotation policy then no longer refuses the file.

Only native (uncompressed) pixel data of 8, 16 or 32 bits allocated is masked:
decoding and re-encoding compressed pixel data would change every pixel, so a
file that needs a mask but has compressed pixels stays quarantined.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydicom import config
from pydicom.dataelem import DataElement
from pydicom.dataset import FileDataset
from pydicom.multival import MultiValue

from deid.outcome import QuarantineError, QuarantineReason
from deid.walk import element_text

PIXEL_DATA = 0x7FE00010

_DTYPES = {8: "u1", 16: "u2", 32: "u4"}


@dataclass(frozen=True, slots=True)
class PixelMask:
    """A rectangle to blank, for the images it matches (``None`` matches any)."""

    x: int
    y: int
    width: int
    height: int
    modality: str | None = None
    rows: int | None = None
    columns: int | None = None

    def __post_init__(self) -> None:
        if min(self.x, self.y) < 0 or min(self.width, self.height) <= 0:
            raise ValueError("a pixel mask needs x, y >= 0 and a positive width and height")

    def matches(self, modality: str, rows: int, columns: int) -> bool:
        """True when this mask is for an image of that modality and size."""
        return (
            (self.modality is None or self.modality.upper() == modality.upper())
            and (self.rows is None or self.rows == rows)
            and (self.columns is None or self.columns == columns)
        )


def masks_for(dataset: FileDataset, masks: Sequence[PixelMask]) -> list[PixelMask]:
    """The masks that apply to this image (none without pixel data)."""
    if not masks or PIXEL_DATA not in dataset:
        return []
    modality = element_text(dataset, 0x00080060)
    rows, columns = _int(dataset, 0x00280010), _int(dataset, 0x00280011)
    return [mask for mask in masks if mask.matches(modality, rows, columns)]


def apply_masks(dataset: FileDataset, masks: Sequence[PixelMask]) -> None:
    """Blank each mask's rectangle in every frame; mark the object cleaned."""
    syntax = dataset.file_meta.TransferSyntaxUID
    bits = _int(dataset, 0x00280100)
    if syntax.is_compressed or bits not in _DTYPES:
        raise QuarantineError(
            QuarantineReason.BURNED_IN_ANNOTATION,
            "a pixel mask applies, but the pixel data is compressed or not 8, 16 or 32 "
            "bits allocated, so it cannot be masked",
        )
    rows, columns = _int(dataset, 0x00280010), _int(dataset, 0x00280011)
    samples = _int(dataset, 0x00280002) or 1
    frames = _int(dataset, 0x00280008) or 1
    planar = _int(dataset, 0x00280006)
    dtype = np.dtype(_DTYPES[bits]).newbyteorder("<" if syntax.is_little_endian else ">")
    element = dataset[PIXEL_DATA]
    raw = bytes(element.value)
    count = frames * rows * columns * samples
    if len(raw) < count * dtype.itemsize:
        raise QuarantineError(
            QuarantineReason.TRUNCATED,
            "PixelData is shorter than Rows, Columns, Samples and Frames say",
        )
    pixels = np.frombuffer(raw, dtype=dtype, count=count).copy()
    if planar and samples > 1:
        image = pixels.reshape(frames, samples, rows, columns)
        for mask in masks:
            image[:, :, mask.y : mask.y + mask.height, mask.x : mask.x + mask.width] = 0
    else:
        image = pixels.reshape(frames, rows, columns, samples)
        for mask in masks:
            image[:, mask.y : mask.y + mask.height, mask.x : mask.x + mask.width, :] = 0
    masked = image.tobytes() + raw[count * dtype.itemsize :]  # keep any padding byte
    dataset[PIXEL_DATA] = DataElement(PIXEL_DATA, element.VR, masked, validation_mode=config.IGNORE)
    dataset[0x00280301] = DataElement(0x00280301, "CS", "NO", validation_mode=config.IGNORE)


def _int(dataset: FileDataset, tag: int) -> int:
    element = dataset.get(tag)  # US and IS alike: decoded by pydicom
    if element is None or element.value in (None, ""):
        return 0
    value = element.value
    return int(value[0] if isinstance(value, MultiValue) else value)
