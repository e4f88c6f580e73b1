from pathlib import Path

import pytest

from deid.actions import Code, ElementContext
from deid.profiles import (
    Directive,
    Option,
    PatientNamePolicy,
    RecipeError,
    build_rules,
    load_recipe_file,
    parse_recipe,
    parse_variables,
    review,
    trial_recipe,
)

HEAD = "FORMAT dicom\n%header\n"


def accepting(recipe, options=()):
    """Rules for a recipe whose contradictions are all accepted (tests of precedence)."""
    acceptances = {f.acceptance for f in review(recipe, options) if f.acceptable}
    return build_rules(options, recipe=recipe, accepted_deviations=acceptances)


def ctx(tag: int, vr: str, keyword: str = "", creator: str | None = None) -> ElementContext:
    return ElementContext(tag, vr, keyword, creator, (), "1.2.3")


def test_every_directive_and_tag_form():
    recipe = parse_recipe(
        HEAD
        + "KEEP SeriesDescription\n"
        + "remove (0008,0090)  # lower case directive, trailing comment\n"
        + "BLANK 00081010\n"
        + "REPLACE InstitutionName Trial Imaging Core\n"
        + "ADD PatientIdentityRemoved YES\n"
        + "JITTER StudyDate -7\n"
        + "PSEUDO AccessionNumber id_alphanumerical\n"
        + 'REMOVE (0019,"SIEMENS MR HEADER",0C)\n',
        "site.recipe",
    )
    by_line = {rule.line: rule for rule in recipe.rules}
    assert by_line[3].directive is Directive.KEEP and by_line[3].tag == 0x0008103E
    assert by_line[4].directive is Directive.REMOVE and by_line[4].tag == 0x00080090
    assert by_line[5].tag == 0x00081010
    assert by_line[6].value == "Trial Imaging Core"
    assert by_line[8].jitter_days == -7
    assert by_line[9].pseudo_class == "ID_ALPHANUMERICAL"
    assert by_line[10].private is not None and by_line[10].private.creator == "SIEMENS MR HEADER"
    assert by_line[4].text == "REMOVE (0008,0090)"
    assert by_line[4].where == "site.recipe line 4"


def test_bad_recipe_lists_every_problem_with_its_line():
    text = (
        "%header\n"
        "FOO PatientName\n"
        "KEEP NotAKeyword\n"
        "JITTER StudyDate soon\n"
        "REPLACE PatientID func:make_id\n"
        "REPLACE AccessionNumber ABCDEFGHIJKLMNOPQRSTUVWXYZ\n"
        "PSEUDO PatientName NOPE\n"
        "KEEP (0002,0012)\n"
        "JITTER PatientName 3\n"
    )
    with pytest.raises(RecipeError) as caught:
        parse_recipe(text, "bad.recipe")
    lines = {problem.line: problem.message for problem in caught.value.problems}
    assert "missing FORMAT dicom" in lines[1]
    assert "unknown directive 'FOO'" in lines[2]
    assert "not a DICOM keyword" in lines[3]
    assert "whole days" in lines[4]
    assert "func: is not supported" in lines[5] and "PSEUDO" in lines[5]
    assert "exceeds the maximum length of 16" in lines[6]
    assert "unknown PSEUDO class 'NOPE'" in lines[7]
    assert "file meta" in lines[8]
    assert "JITTER moves dates" in lines[9]
    assert "bad.recipe line 6" in str(caught.value)


def test_rule_outside_header_and_unknown_section():
    with pytest.raises(RecipeError, match=r"(?s)line 2: rule outside a section.*%fancy"):
        parse_recipe("FORMAT dicom\nKEEP PatientName\n%fancy\n")


def test_other_sections_are_reported_not_silently_ignored():
    recipe = parse_recipe(
        "FORMAT dicom\n%filter whitelist\nLABEL CT\n  contains Modality CT\n"
        "%header\nKEEP SeriesDescription\n%labels\nMaintainer site\n"
    )
    names = [(s.name, s.line, s.lines) for s in recipe.unapplied_sections]
    assert names == [("%filter whitelist", 2, 2), ("%labels", 7, 1)]


def test_variables():
    recipe = parse_recipe(HEAD + "REPLACE InstitutionName var:site\n", variables={"site": "Core"})
    assert recipe.rules[0].value == "Core"
    with pytest.raises(RecipeError, match="var:site has no value: pass --var site=VALUE"):
        parse_recipe(HEAD + "REPLACE InstitutionName var:site\n")
    assert parse_variables(["a=1", "b_2=x=y"]) == {"a": "1", "b_2": "x=y"}
    with pytest.raises(ValueError, match="--var takes NAME=VALUE"):
        parse_variables(["novalue"])


@pytest.mark.parametrize(
    ("expression", "selected", "not_selected"),
    [
        ("contains:Physician|Operator", "ReferringPhysicianName", "PatientName"),
        ("startswith:patient", "PatientAge", "OtherPatientIDs"),
        ("endswith:Name", "PatientName", "PatientNameSomething"),
        ("except:UID", "PatientName", "SOPInstanceUID"),
        ("all", "PatientName", None),
        ("ALL", "StudyDate", None),
        ("allfields", "StudyDate", None),
    ],
)
def test_field_expressions(expression, selected, not_selected):
    from pydicom.datadict import tag_for_keyword

    rule = parse_recipe(HEAD + f"REMOVE {expression}\n").rules[0]
    assert rule.matches(tag_for_keyword(selected), selected, None)
    if not_selected and tag_for_keyword(not_selected):
        assert not rule.matches(tag_for_keyword(not_selected), not_selected, None)
    # Never private attributes nor file meta.
    assert not rule.matches(0x00091010, "", "ACME")
    assert not rule.matches(0x00020010, "TransferSyntaxUID", None)


def test_unknown_expander_is_an_error():
    with pytest.raises(RecipeError, match=r"unknown field expression 'select:x'"):
        parse_recipe(HEAD + "REMOVE select:x\n")


def test_exact_rule_beats_expression_and_later_line_beats_earlier():
    recipe = parse_recipe(
        HEAD
        + "KEEP SeriesDescription\n"  # line 3: exact
        + "REMOVE contains:Description\n"  # line 4: expression, later, still loses
        + "BLANK StudyDescription\n"  # line 5
        + "REPLACE StudyDescription CT\n"  # line 6: later exact wins
    )
    rules = accepting(recipe, [Option.CLEAN_DESCRIPTORS])
    series = rules.action_for(ctx(0x0008103E, "LO", "SeriesDescription"))
    assert series.code is Code.KEEP and "line 3" in series.origin
    study = rules.action_for(ctx(0x00081030, "LO", "StudyDescription"))
    assert study.code is Code.REPLACE and study.value == "CT" and "line 6" in study.origin
    other = rules.action_for(ctx(0x00400254, "LO", "PerformedProcedureStepDescription"))
    assert other.code is Code.REMOVE and "line 4" in other.origin


def test_later_layer_beats_earlier_layer():
    trial = trial_recipe()
    user = parse_recipe(HEAD + "BLANK contains:PatientName\n", "user.recipe")
    action = build_rules([], recipe=[trial, user]).action_for(ctx(0x00100010, "PN", "PatientName"))
    assert action.code is Code.BLANK and "user.recipe line 3" in action.origin


def test_expression_replace_and_jitter_only_touch_attributes_they_fit():
    recipe = parse_recipe(HEAD + "REPLACE contains:Name ANON\nJITTER contains:Date 5\n")
    rules = accepting(recipe, [Option.RETAIN_LONG_FULL_DATES])
    assert rules.action_for(ctx(0x00100010, "PN", "PatientName")).code is Code.REPLACE
    # A code sequence matched by contains:Name cannot hold "ANON": the profile decides.
    seq = rules.action_for(ctx(0x00081032, "SQ", "ProcedureCodeSequence"))
    assert seq.code is not Code.REPLACE
    assert rules.action_for(ctx(0x00080020, "DA", "StudyDate")).jitter_days == 5


def test_private_rule_is_creator_aware():
    recipe = parse_recipe(HEAD + 'KEEP (0019,"GEMS_ACQU_01",23)\n')
    rules = accepting(recipe)
    assert rules.action_for(ctx(0x00191123, "DS", "", "GEMS_ACQU_01")).code is Code.KEEP
    assert rules.action_for(ctx(0x00191123, "DS", "", "OTHER")).code is Code.REMOVE


def test_add_rules_become_additions():
    recipe = parse_recipe(HEAD + "ADD PatientIdentityRemoved YES\nADD BodyPartExamined HEAD\n")
    rules = build_rules([], recipe=recipe)
    assert [(a.keyword, a.value, a.vr) for a in rules.additions] == [
        ("PatientIdentityRemoved", "YES", "CS"),
        ("BodyPartExamined", "HEAD", "CS"),
    ]
    existing = rules.action_for(ctx(0x00180015, "CS", "BodyPartExamined"))
    assert existing.code is Code.REPLACE and existing.value == "HEAD"


def test_trial_recipe_follows_the_patient_name_policy():
    default = build_rules([], recipe=trial_recipe())
    name = ctx(0x00100010, "PN", "PatientName")
    assert default.action_for(name).pseudo_class == "FULL_NAME"
    subject = build_rules([], recipe=trial_recipe(PatientNamePolicy.SUBJECT_ID))
    assert subject.action_for(name).pseudo_class == "SUBJECT_ID"
    assert default.action_for(ctx(0x00100020, "LO", "PatientID")).pseudo_class == "SUBJECT_ID"


def test_build_rules_can_layer_the_trial_recipe_itself():
    user = parse_recipe(HEAD + "BLANK AccessionNumber\n", "user.recipe")
    rules = build_rules(
        [],
        recipe=user,
        with_trial_recipe=True,
        patient_name_policy=PatientNamePolicy.SUBJECT_ID,
    )
    assert [r.source for r in rules.recipes] == ["default trial recipe", "user.recipe"]
    assert rules.action_for(ctx(0x00100010, "PN", "PatientName")).pseudo_class == "SUBJECT_ID"
    assert rules.action_for(ctx(0x00080050, "SH", "AccessionNumber")).code is Code.BLANK
    assert rules.patient_name_policy is PatientNamePolicy.SUBJECT_ID


def test_recipe_file(tmp_path: Path):
    path = tmp_path / "site.recipe"
    path.write_text(HEAD + "KEEP SeriesDescription\n", "utf-8")
    assert load_recipe_file(path).source == "site.recipe"
    with pytest.raises(RecipeError, match="cannot read the recipe"):
        load_recipe_file(tmp_path / "missing.recipe")
