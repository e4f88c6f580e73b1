"""Every row of Table E.1-1 under every option set resolves to the expected action.

The expected code is computed here from the shipped JSON with the standard's rules
written out again independently (option overrides profile; disagreeing options:
most conservative; combined codes: by the attribute's Type, read here from the
shipped IOD data), not by calling the resolver under test.
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

IOD_TYPES = json.loads(
    (Path(deid.profiles.__file__).parent / "data" / "iod_attribute_types.json").read_text("utf-8")
)
EXPECTED_LETTER = {
    "X": Code.REMOVE,
    "Z": Code.ZERO,
    "D": Code.DUMMY,
    "K": Code.KEEP,
    "C": Code.CLEAN,
    "U": Code.UID,
}
# PS3.15 E.1.1: X/Z is X unless Type 2 (then Z); X/D X unless Type 1 (then D); Z/D
# Z unless Type 1; X/Z/D by Type 3, 2, 1; X/Z/U* X, Z or U for Type 3, 2, 1 sequences.
# Conditional Types count as their condition met; Type 1 on an X/Z needs a dummy;
# Type 2 on an X/D, which has no empty choice, a dummy.
BY_TYPE = {
    "X/Z": {"1": "D", "2": "Z", "3": "X"},
    "X/D": {"1": "D", "2": "D", "3": "X"},
    "Z/D": {"1": "D", "2": "Z", "3": "Z"},
    "X/Z/D": {"1": "D", "2": "Z", "3": "X"},
    "X/Z/U*": {"1": "U", "2": "Z", "3": "X"},
}


def top_level_type(tag: int) -> str:
    """The strictest Type of ``tag`` at the top level of any IOD ('3' if none)."""
    types = [t for path, t, _ in IOD_TYPES["attributes"].get(f"{tag:08X}", []) if path == ""]
    return min((t.rstrip("C") for t in types), default="3")


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


def expected_code(row: dict, options: frozenset, tag: int = 0) -> Code:
    """For an element of an unknown SOP class at the top level: the strictest Type."""
    overrides = [row[COLUMN[o]] for o in options if COLUMN[o] in row]
    code = min(overrides, key=STRICTNESS.index) if overrides else row["basicProfile"]
    if code in BY_TYPE:
        code = BY_TYPE[code][top_level_type(tag)]
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
OVERLAY_ROWS = ("(60XX,3000)", "(60XX,4000)")


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
        for ctx in sample_contexts(row):
            want = expected_code(row, options, ctx.tag)
            if (ctx.tag >> 16) & 1:
                want = private_expectation(want, ctx)
            action = rules.action_for(ctx)
            if row["tag"] in OVERLAY_ROWS and want is Code.CLEAN:
                # An overlay bitmap cannot be searched for text: the overlay group goes.
                assert action.code is Code.REMOVE and "overlay" in action.origin, action
                continue
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


CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"


@pytest.mark.parametrize(
    ("tag", "vr", "keyword", "parents", "sop_class", "code", "why"),
    [
        # Type 3 in General Study: removed (it used to be emptied, an invalid sequence).
        (0x00081110, "SQ", "ReferencedStudySequence", (), CT_IMAGE, Code.REMOVE,
         "X/Z -> X (Type 3 in IOD ct-image, module general-study)"),
        (0x00081070, "PN", "OperatorsName", (), CT_IMAGE, Code.REMOVE,
         "X/Z/D -> X (Type 3 in IOD ct-image, module general-series)"),
        (0x00081140, "SQ", "ReferencedImageSequence", (), CT_IMAGE, Code.REMOVE,
         "X/Z/U* -> X (Type 3 in IOD ct-image"),
        # Type 1C in the SR Document Content module: a dummy value.
        (0x0040A032, "DT", "ObservationDateTime", (0x0040A730,), BASIC_TEXT_SR, Code.DUMMY,
         "X/D -> D (Type 1C in IOD basic-text-sr, module sr-document-content)"),
        # Deeper in the same tree: a sequence nested in itself counts once.
        (0x0040A032, "DT", "ObservationDateTime", (0x0040A730,) * 5, BASIC_TEXT_SR,
         Code.DUMMY, "Type 1C in IOD basic-text-sr"),
        # The attribute is not part of this IOD at this place: removing keeps it valid.
        (0x00080082, "SQ", "InstitutionCodeSequence", (0x00081111,), CT_IMAGE, Code.REMOVE,
         "X/Z/D -> X (not in IOD ct-image at this depth)"),
        # A SOP class in no table: the strictest Type any IOD gives.
        (0x00081110, "SQ", "ReferencedStudySequence", (0x0040A370,), "1.2.3.4", Code.ZERO,
         "X/Z -> Z (Type 2 in some IOD, the strictest (SOP class in no IOD table))"),
    ],
)  # fmt: skip
def test_combined_codes_resolve_by_the_type_in_the_objects_iod(
    tag, vr, keyword, parents, sop_class, code, why
):
    action = build_rules([]).action_for(ElementContext(tag, vr, keyword, None, parents, sop_class))
    assert action.code is code, action
    assert why in action.origin


def test_combined_decisions_are_cached_per_place():
    rules = build_rules([])
    ct = ElementContext(0x00081110, "SQ", "ReferencedStudySequence", None, (), CT_IMAGE)
    assert rules.action_for(ct).code is Code.REMOVE
    assert rules.known_action(0x00081110, "SQ", None) is None  # never context-free
    other = ElementContext(0x00081110, "SQ", "ReferencedStudySequence", None, (0x0040A370,), "")
    assert rules.action_for(other).code is Code.ZERO
    assert rules.action_for(ct).code is Code.REMOVE


def test_an_option_with_a_single_code_needs_no_type():
    rules = build_rules([Option.RETAIN_UIDS])
    ctx = ElementContext(0x00081110, "SQ", "ReferencedStudySequence", None, (), CT_IMAGE)
    assert rules.action_for(ctx).code is Code.KEEP
    assert rules.known_action(0x00081110, "SQ", None) is not None


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
