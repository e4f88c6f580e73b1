"""Elements no exact Table E.1-1 row names: unlisted attributes, overlays, file meta."""

import json
from pathlib import Path

import pytest
from pydicom.datadict import dictionary_VR, keyword_for_tag

import deid.profiles
from deid.actions import Code, ElementContext
from deid.profiles import Option, build_rules, load_table
from deid.profiles.tags import parse_tag
from deid.profiles.unlisted import TEXT_VRS

REVIEW = json.loads(
    (Path(deid.profiles.__file__).parent / "data/reviewed_text_attributes.json").read_text()
)


def ctx(tag: int, vr: str | None = None) -> ElementContext:
    vr = vr or dictionary_VR(tag).split(" or ")[0]
    return ElementContext(tag, vr, keyword_for_tag(tag) or "", None, (), "1.2.3")


@pytest.mark.parametrize("section", ["safe", "remove"])
def test_reviewed_entries_are_unlisted_text_attributes_with_reasons(section):
    table = load_table()
    for entry in REVIEW[section]:
        tag = parse_tag(entry["tag"])
        assert keyword_for_tag(tag) == entry["keyword"], entry
        assert set(dictionary_VR(tag).split(" or ")) & TEXT_VRS, entry
        assert table.row_for(tag) is None, entry
        assert len(entry["reason"]) > 10 and "\n" not in entry["reason"], entry


def test_reviewed_safe_text_is_kept_without_flag():
    action = build_rules([]).action_for(ctx(0x00281055))  # Window Center & Width Explanation
    assert action.code is Code.KEEP and not action.unreviewed_text
    assert "reviewed safe" in action.origin and "window preset" in action.origin


def test_unreviewed_text_is_kept_and_flagged():
    action = build_rules([]).action_for(ctx(0x30040006))  # Dose Comment (LO)
    assert action.code is Code.KEEP and action.unreviewed_text
    assert "not in Table E.1-1" in action.origin


def test_strict_removes_unreviewed_text_only():
    strict = build_rules([], strict=True)
    assert strict.action_for(ctx(0x30040006)).code is Code.REMOVE
    assert strict.action_for(ctx(0x00281055)).code is Code.KEEP
    assert strict.action_for(ctx(0x00180015)).code is Code.KEEP  # Body Part Examined (CS)


def test_reviewed_identifying_text_is_removed():
    action = build_rules([]).action_for(ctx(0x00100033))  # birth date, other calendar
    assert action.code is Code.REMOVE and "Birth Date" in action.origin


def test_unknown_standard_tag_in_un_is_treated_as_text():
    action = build_rules([]).action_for(ElementContext(0x00F01234, "UN", "", None, (), ""))
    assert action.unreviewed_text and action.code is Code.KEEP
    known_un = build_rules([]).action_for(ElementContext(0x00180050, "UN", "", None, (), ""))
    assert not known_un.unreviewed_text  # Slice Thickness: DS in the dictionary


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ([], Code.REMOVE),
        ([Option.RETAIN_LONG_FULL_DATES], Code.KEEP),
        ([Option.RETAIN_LONG_MODIFIED_DATES], Code.CLEAN),
    ],
)
def test_unlisted_dates_follow_the_temporal_option(options, code):
    action = build_rules(options).action_for(ctx(0x00080416))  # Expiration DateTime
    assert action.code is code and "a date" in action.origin


def test_overlay_group_goes_with_its_data_unless_graphics_are_cleaned():
    rows = ctx(0x60020010, "US")  # Overlay Rows of the second overlay
    removed = build_rules([]).action_for(rows)
    assert removed.code is Code.REMOVE and "overlay group 6002" in removed.origin
    kept = build_rules([Option.CLEAN_GRAPHICS]).action_for(rows)
    assert kept.code is Code.KEEP
    data = build_rules([Option.CLEAN_GRAPHICS]).action_for(ctx(0x60023000, "OW"))
    assert data.code is Code.CLEAN


def test_curves_are_removed_or_cleaned():
    curve = ctx(0x50100010, "US")
    assert build_rules([]).action_for(curve).code is Code.REMOVE
    assert build_rules([Option.CLEAN_GRAPHICS]).action_for(curve).code is Code.CLEAN


@pytest.mark.parametrize(
    ("tag", "code"),
    [
        (0x00020000, Code.KEEP),
        (0x00020001, Code.KEEP),
        (0x00020002, Code.KEEP),
        (0x00020003, Code.UID),  # Table E.1-1: U, follows SOP Instance UID
        (0x00020010, Code.KEEP),
        (0x00020012, Code.REMOVE),
        (0x00020013, Code.REMOVE),
        (0x00020016, Code.REMOVE),
        (0x00020017, Code.REMOVE),
        (0x00020018, Code.REMOVE),
        (0x00020100, Code.REMOVE),
        (0x00020102, Code.REMOVE),
        (0x00020099, Code.REMOVE),  # unknown future element: fail closed
    ],
)
def test_file_meta(tag, code):
    action = build_rules([]).action_for(ElementContext(tag, "UN", "", None, (), ""))
    assert action.code is code, action


def test_media_storage_uid_kept_with_retain_uids():
    action = build_rules([Option.RETAIN_UIDS]).action_for(ctx(0x00020003))
    assert action.code is Code.KEEP
