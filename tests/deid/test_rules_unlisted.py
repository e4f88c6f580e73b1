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


def test_unreviewed_text_fails_closed_and_is_flagged():
    action = build_rules([]).action_for(ctx(0x30040006))  # Dose Comment (LO)
    assert action.code is Code.REMOVE and action.unreviewed_text
    assert "not in Table E.1-1" in action.origin and "not on the reviewed list" in action.origin
    assert build_rules([]).action_for(ctx(0x00281055)).code is Code.KEEP  # reviewed safe
    assert build_rules([]).action_for(ctx(0x00180015)).code is Code.KEEP  # Body Part (CS)


@pytest.mark.parametrize(
    ("tag", "vr", "sop_class", "code", "why"),
    [
        # Content Description: Type 2 in the presentation states, in no CT module.
        (0x00700081, "LO", "1.2.840.10008.5.1.4.1.1.11.1", Code.ZERO, "Type 2 in IOD"),
        (0x00700081, "LO", "1.2.840.10008.5.1.4.1.1.2", Code.REMOVE, "not in IOD ct-image"),
        (0x00700081, "LO", "1.2.3.4", Code.ZERO, "Type 2 in some IOD"),
        # Hanging Protocol Name: Type 1 in the Hanging Protocol IOD.
        (0x00720002, "SH", "1.2.840.10008.5.1.4.38.1", Code.DUMMY, "Type 1 in IOD"),
    ],
)
def test_unreviewed_text_the_iod_needs_is_emptied_or_given_a_dummy(tag, vr, sop_class, code, why):
    rules = build_rules([])
    action = rules.action_for(ElementContext(tag, vr, keyword_for_tag(tag), None, (), sop_class))
    assert action.code is code and action.unreviewed_text, action
    assert f"X/Z/D -> {code.value} ({why}" in action.origin
    assert rules.known_action(tag, vr, None) is None  # decided per SOP class


def test_keeping_unreviewed_text_is_explicit():
    kept = build_rules([], keep_unreviewed_text=True).action_for(ctx(0x30040006))
    assert kept.code is Code.CLEAN and kept.unreviewed_text
    assert "--keep-unreviewed-text" in kept.origin and "removed whole" in kept.origin
    assert build_rules([], keep_unreviewed_text=True).action_for(ctx(0x00281055)).code is Code.KEEP


def test_reviewed_identifying_text_is_removed():
    action = build_rules([]).action_for(ctx(0x00100033))  # birth date, other calendar
    assert action.code is Code.REMOVE and "Birth Date" in action.origin


def test_unknown_standard_tag_in_un_is_treated_as_text():
    action = build_rules([]).action_for(ElementContext(0x00F01234, "UN", "", None, (), ""))
    assert action.unreviewed_text and action.code is Code.REMOVE
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


def test_overlay_group_goes_with_its_data_even_under_clean_graphics():
    rows = ctx(0x60020010, "US")  # Overlay Rows of the second overlay
    removed = build_rules([]).action_for(rows)
    assert removed.code is Code.REMOVE and "overlay group 6002" in removed.origin
    # An overlay bitmap cannot be searched for burned-in text: C cannot be carried
    # out on it, so the overlay goes whole (its data is Type 1) under Clean Graphics too.
    graphics = build_rules([Option.CLEAN_GRAPHICS])
    data = graphics.action_for(ctx(0x60023000, "OW"))
    assert data.code is Code.REMOVE and "cannot be searched for burned-in text" in data.origin
    assert graphics.action_for(rows).code is Code.REMOVE
    assert graphics.action_for(ctx(0x60024000, "LT")).code is Code.REMOVE  # its comments


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
