"""Every row of Table E.1-1 under every option set resolves to the expected action.

The expected code is computed here from the shipped JSON with the standard's rules
written out again independently (option overrides profile; disagreeing options:
most conservative; combined codes: value-keeping alternative), not by calling the
resolver under test.
"""

import itertools
import json
from pathlib import Path

import pytest
from pydicom.datadict import dictionary_VR, keyword_for_tag

import deid.profiles
from deid.actions import Code, ElementContext
from deid.profiles import Option, OptionError, build_rules

TABLE_JSON = (
    Path(deid.profiles.__file__).parent / "data" / "confidentiality_profile_attributes.json"
)
ROWS = json.loads(TABLE_JSON.read_text("utf-8"))

EXPECTED_LETTER = {
    "X": Code.REMOVE,
    "Z": Code.ZERO,
    "D": Code.DUMMY,
    "K": Code.KEEP,
    "C": Code.CLEAN,
    "U": Code.UID,
    "X/Z": Code.ZERO,
    "X/D": Code.DUMMY,
    "Z/D": Code.DUMMY,
    "X/Z/D": Code.DUMMY,
    "X/Z/U*": Code.KEEP,
}
STRICTNESS = "XZDUCK"  # most conservative first
COLUMN = {
    Option.RETAIN_SAFE_PRIVATE: "rtnSafePrivOpt",
    Option.RETAIN_UIDS: "rtnUIDsOpt",
    Option.RETAIN_DEVICE_IDENTITY: "rtnDevIdOpt",
    Option.RETAIN_INSTITUTION_IDENTITY: "rtnInstIdOpt",
    Option.RETAIN_PATIENT_CHARACTERISTICS: "rtnPatCharsOpt",
    Option.RETAIN_LONG_FULL_DATES: "rtnLongFullDatesOpt",
    Option.RETAIN_LONG_MODIFIED_DATES: "rtnLongModifDatesOpt",
    Option.CLEAN_DESCRIPTORS: "cleanDescOpt",
    Option.CLEAN_STRUCTURED_CONTENT: "cleanStructContOpt",
    Option.CLEAN_GRAPHICS: "cleanGraphOpt",
}


def expected_code(row: dict, options: frozenset) -> Code:
    overrides = [row[COLUMN[o]] for o in options if COLUMN[o] in row]
    code = min(overrides, key=STRICTNESS.index) if overrides else row["basicProfile"]
    return EXPECTED_LETTER[code]


def sample_contexts(row: dict) -> list[ElementContext]:
    """Elements the row governs: its exact tag, or several tags of its range."""
    tag_text = row["tag"]
    if tag_text == "(50XX,XXXX)":
        tags = [0x50000000, 0x50003000, 0x501E0010, 0x50FE0005]
    elif tag_text == "(60XX,3000)":
        tags = [0x60003000, 0x60023000, 0x601E3000, 0x60FE3000]
    elif tag_text == "(60XX,4000)":
        tags = [0x60004000, 0x601E4000]
    elif tag_text.startswith("(GGGG,EEEE)"):
        tags = [0x00091010, 0x00291120, 0x7FE11001, 0x0019100C]
    else:
        tags = [int(row["id"], 16)]
    contexts = []
    for tag in tags:
        try:
            vr = dictionary_VR(tag).split(" or ")[0]
        except KeyError:
            vr = "OB"
        private = None
        if (tag >> 16) & 1:
            # (0019,xx0C) of SIEMENS MR HEADER is B Value on Table E.3.10-1.
            private = SAFE_CREATOR if tag == 0x0019100C else "NOT A SAFE CREATOR"
            vr = "IS" if tag == 0x0019100C else "UN"
        contexts.append(ElementContext(tag, vr, keyword_for_tag(tag) or "", private, (), "1.2.3"))
    return contexts


SAFE_CREATOR = "SIEMENS MR HEADER"


def private_expectation(want: Code, ctx: ElementContext) -> Code:
    """C on the private row keeps what the safe-private list lists, removes the rest."""
    if want is not Code.CLEAN:
        return want
    return Code.KEEP if ctx.private_creator == SAFE_CREATOR else Code.REMOVE


def option_sets() -> list[frozenset]:
    singles = [frozenset({o}) for o in Option]
    pairs = [
        frozenset(p)
        for p in itertools.combinations(Option, 2)
        if set(p) != {Option.RETAIN_LONG_FULL_DATES, Option.RETAIN_LONG_MODIFIED_DATES}
    ]
    everything_full = frozenset(Option) - {Option.RETAIN_LONG_MODIFIED_DATES}
    everything_modified = frozenset(Option) - {Option.RETAIN_LONG_FULL_DATES}
    return [frozenset(), *singles, *pairs, everything_full, everything_modified]


def test_table_has_621_rows_of_2024b():
    assert len(ROWS) == 621
    assert len(deid.profiles.load_table()) == 621


@pytest.mark.parametrize(
    "options",
    option_sets(),
    ids=lambda s: "+".join(sorted(o.value for o in s)) or "basic",
)
def test_every_row_resolves_as_the_standard_says(options):
    rules = build_rules(options)
    checked = 0
    for row in ROWS:
        want = expected_code(row, options)
        for ctx in sample_contexts(row):
            if (ctx.tag >> 16) & 1:
                want = private_expectation(expected_code(row, options), ctx)
            action = rules.action_for(ctx)
            assert action.code is want, (row["name"], row["tag"], hex(ctx.tag), action)
            assert action.table_code == row["basicProfile"]
            checked += 1
    assert checked >= 621


def test_origin_names_row_code_and_option():
    rules = build_rules([Option.RETAIN_LONG_MODIFIED_DATES])
    ctx = ElementContext(0x00080022, "DA", "AcquisitionDate", None, (), "")
    origin = rules.action_for(ctx).origin
    assert "Acquisition Date (0008,0022)" in origin
    assert "Modified Dates Option" in origin and "Basic Profile X/Z" in origin


def test_combined_code_origin_says_which_alternative():
    action = build_rules([]).action_for(
        ElementContext(0x00081140, "SQ", "ReferencedImageSequence", None, (), "")
    )
    assert action.code is Code.KEEP
    assert "X/Z/U* -> K" in action.origin


def test_conflicting_options_take_the_more_conservative_code():
    # Date of Last Calibration: Retain Device Identity K, Modified Dates C.
    ctx = ElementContext(0x00181200, "DA", "DateOfLastCalibration", None, (), "")
    device_only = build_rules([Option.RETAIN_DEVICE_IDENTITY]).action_for(ctx)
    both = build_rules(
        [Option.RETAIN_DEVICE_IDENTITY, Option.RETAIN_LONG_MODIFIED_DATES]
    ).action_for(ctx)
    assert device_only.code is Code.KEEP
    assert both.code is Code.CLEAN
    assert "more conservative than Retain Device Identity Option K" in both.origin


def test_full_and_modified_dates_exclude_each_other():
    with pytest.raises(OptionError, match="exclude each other"):
        build_rules(["retain-long-full-dates", "retain-long-modified-dates"])


def test_unknown_option_name_lists_known_ones():
    with pytest.raises(OptionError, match=r"unknown option 'retain-everything'.*retain-uids"):
        build_rules(["retain-everything"])


def test_decisions_do_not_depend_on_depth_or_sop_class():
    rules = build_rules([])
    top = ElementContext(0x00100010, "PN", "PatientName", None, (), "1.2.840.10008.5.1.4.1.1.2")
    nested = ElementContext(
        0x00100010, "PN", "PatientName", None, (0x00081115, 0x0040A730), "1.2.3"
    )
    assert rules.action_for(top) == rules.action_for(nested)
