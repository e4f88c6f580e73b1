"""The shipped IOD and module Types: complete for what they are used for, licensed."""

from __future__ import annotations

from importlib import resources

import pytest
from pydicom.datadict import DicomDictionary
from pydicom.uid import UID

from deid.profiles import load_table
from deid.profiles.codes import is_combined
from deid.profiles.iod import load_iod_types, normalized_path, strictest
from deid.profiles.unlisted import TEXT_VRS, load_reviewed_text

DATA = resources.files("deid.profiles").joinpath("data")


def test_every_combined_code_row_has_types():
    types = load_iod_types()
    rows = [
        row
        for row in load_table().rows
        if row.tag is not None
        and any(is_combined(code) for code in (row.basic, *(c for _, c in row.option_codes)))
    ]
    assert len(rows) == 49
    assert [row.name for row in rows if not types.covers(row.tag)] == []


def test_unreviewed_text_attributes_the_modules_use_have_types():
    """Regenerate with tools/iod_types.py when the review or the table changes."""
    types, review, table = load_iod_types(), load_reviewed_text(), load_table()
    reviewed = review.safe.keys() | review.remove.keys()
    for tag in types.tags():
        listed = table.exact(tag) is not None
        assert listed or tag not in reviewed, f"{tag:08X} is reviewed: regenerate the data"
    unreviewed = [
        tag
        for tag, entry in DicomDictionary.items()
        if tag not in reviewed
        and table.exact(tag) is None
        and tag >> 16 not in (0x0000, 0x0002)
        and set(entry[0].split(" or ")) & TEXT_VRS
    ]
    assert sum(types.covers(tag) for tag in unreviewed) >= 90


@pytest.mark.parametrize(
    ("uid", "iod"),
    [
        ("1.2.840.10008.5.1.4.1.1.2", "ct-image"),
        ("1.2.840.10008.5.1.4.1.1.4", "mr-image"),
        ("1.2.840.10008.5.1.4.1.1.88.33", "comprehensive-sr"),
        ("1.2.840.10008.5.1.4.1.1.66.4", "segmentation"),
        ("1.2.840.10008.5.1.4.1.1.481.2", "rt-dose"),
    ],
)
def test_common_sop_classes_map_to_their_iod(uid, iod):
    assert load_iod_types().iod_of(uid) == iod, UID(uid).name


def test_helpers():
    assert normalized_path((0x0040A730, 0x0040A730, 0x0040A730, 0x00081199)) == (
        0x0040A730,
        0x00081199,
    )
    assert strictest(["3", "2C", "1C", "2"]) == "1C"
    assert strictest([]) is None


def test_the_licences_ship_beside_the_data():
    for name in ("LICENSE-highdicom.txt", "LICENSE-innolitics-dicom-standard.txt"):
        assert "Permission is hereby granted, free of charge" in DATA.joinpath(name).read_text()
    assert "iod_attribute_types.json" in DATA.joinpath("README.md").read_text()
    assert load_iod_types().source.startswith("highdicom ")
