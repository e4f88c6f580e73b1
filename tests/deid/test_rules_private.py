from pathlib import Path

import pytest

from deid.actions import Code, ElementContext
from deid.profiles import (
    Option,
    SafePrivateError,
    build_rules,
    load_safe_private,
    load_safe_private_file,
)
from deid.profiles.safe_private import parse_safe_private

SAFE = [Option.RETAIN_SAFE_PRIVATE]


def private(tag: int, vr: str, creator: str | None) -> ElementContext:
    return ElementContext(tag, vr, "", creator, (), "1.2.840.10008.5.1.4.1.1.4")


def test_private_elements_are_removed_by_default():
    rules = build_rules([])
    for ctx in (
        private(0x0019100C, "IS", "SIEMENS MR HEADER"),  # safe-listed, but no option
        private(0x00190010, "LO", "SIEMENS MR HEADER"),
        private(0x00091001, "LO", None),
    ):
        action = rules.action_for(ctx)
        assert action.code is Code.REMOVE
        assert "Private Attributes (odd groups) X" in action.origin


def test_safe_private_keeps_listed_attributes_in_any_block():
    rules = build_rules(SAFE)
    # Same offset 0C, in blocks 10 and 11: the creator decides, not the block.
    for tag in (0x0019100C, 0x0019110C):
        action = rules.action_for(private(tag, "IS", "SIEMENS MR HEADER"))
        assert action.code is Code.KEEP, action
        assert "B Value" in action.origin and "Table E.3.10-1" in action.origin


def test_safe_private_is_creator_aware():
    rules = build_rules(SAFE)
    other_vendor = rules.action_for(private(0x0019100C, "IS", "ACME MR"))
    assert other_vendor.code is Code.REMOVE
    assert "not on the safe-private list" in other_vendor.origin
    no_creator = rules.action_for(private(0x0019100C, "IS", None))
    assert no_creator.code is Code.REMOVE


def test_safe_private_creator_padding_is_ignored():
    action = build_rules(SAFE).action_for(private(0x0019100C, "IS", "SIEMENS MR HEADER "))
    assert action.code is Code.KEEP


def test_contradicting_vr_is_removed_but_un_is_accepted():
    rules = build_rules(SAFE)
    reused = rules.action_for(private(0x0019100C, "PN", "SIEMENS MR HEADER"))
    assert reused.code is Code.REMOVE and "has VR PN" in reused.origin
    implicit = rules.action_for(private(0x0019100C, "UN", "SIEMENS MR HEADER"))
    assert implicit.code is Code.KEEP


def test_private_creators_kept_only_for_blocks_with_safe_attributes():
    rules = build_rules(SAFE)
    assert rules.action_for(private(0x00190010, "LO", "SIEMENS MR HEADER")).code is Code.KEEP
    assert rules.action_for(private(0x00190011, "LO", "ACME")).code is Code.REMOVE
    # Group length and reserved elements of a private group never stay.
    assert rules.action_for(private(0x00190000, "UL", None)).code is Code.REMOVE


def test_safe_private_uids_are_replaced_unless_uids_are_retained():
    ctx = private(0x00991002, "UI", "NQHeader")  # Analyzed Series UID
    assert build_rules(SAFE).action_for(ctx).code is Code.UID
    both = build_rules([*SAFE, Option.RETAIN_UIDS])
    assert both.action_for(ctx).code is Code.KEEP


def test_shipped_list_is_table_e_3_10_1():
    shipped = load_safe_private()
    assert len(shipped) >= 100
    entry = shipped.lookup(0x7053_1000, "Philips PET Private Group")
    assert entry is not None and entry.meaning == "SUV Factor" and entry.vr == "DS"


def test_user_file_extends_the_standard_list(tmp_path: Path):
    path = tmp_path / "safe.txt"
    path.write_text(
        "# our scanners\n"
        '(0029,"ACME CT",10) DS  Helical pitch\n'
        '(0031,"ACME CT",20)      no VR given\n',
        "utf-8",
    )
    rules = build_rules(SAFE, safe_private=load_safe_private_file(path))
    kept = rules.action_for(private(0x00291010, "DS", "ACME CT"))
    assert kept.code is Code.KEEP and "safe.txt:2" in kept.origin
    assert rules.action_for(private(0x00311020, "LO", "ACME CT")).code is Code.KEEP
    assert rules.action_for(private(0x0019100C, "IS", "SIEMENS MR HEADER")).code is Code.KEEP


def test_user_file_can_replace_the_standard_list(tmp_path: Path):
    path = tmp_path / "only.txt"
    path.write_text('%without-standard-list\n(0029,"ACME CT",10) DS\n', "utf-8")
    rules = build_rules(SAFE, safe_private=load_safe_private_file(path))
    assert rules.action_for(private(0x00291010, "DS", "ACME CT")).code is Code.KEEP
    standard = rules.action_for(private(0x0019100C, "IS", "SIEMENS MR HEADER"))
    assert standard.code is Code.REMOVE


def test_bad_user_file_lists_every_problem_with_its_line():
    text = '(0029,"ACME",10)\n(0010,"ACME",10)\n0029,1010\n%everything\n'
    with pytest.raises(SafePrivateError, match=r"(?s)line 2: .*group 0010.*line 3.*line 4"):
        parse_safe_private(text, "bad.txt")


def test_unreadable_user_file_says_so(tmp_path: Path):
    with pytest.raises(SafePrivateError, match="cannot read safe-private file"):
        load_safe_private_file(tmp_path / "missing.txt")
