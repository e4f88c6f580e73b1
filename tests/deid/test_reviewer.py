import itertools
from pathlib import Path

import pytest

from deid.actions import Code, ElementContext
from deid.profiles import (
    AcceptanceError,
    Option,
    OptionError,
    PatientNamePolicy,
    RecipeContradictionError,
    Severity,
    build_rules,
    check_recipe_file,
    parse_recipe,
    review,
    trial_recipe,
    validate_options,
)
from deid.profiles.describe import describe_options, describe_pseudo_classes, options_table

HEAD = "FORMAT dicom\n%header\n"


def findings_by_line(text: str, options=()):
    found = review(parse_recipe(HEAD + text, "site.recipe"), options)
    return {f.line: f for f in found}


@pytest.mark.parametrize(
    ("rule", "severity", "message"),
    [
        ("KEEP PatientName", Severity.ERROR, "keeps what the profile empties (Z)"),
        ("KEEP OtherPatientNames", Severity.ERROR, "keeps what the profile removes (X)"),
        ("KEEP SOPInstanceUID", Severity.ERROR, "replaces with a new UID (U)"),
        ("KEEP StudyDescription", Severity.ERROR, "removes (X)"),
        ("REPLACE OtherPatientIDs X123", Severity.ERROR, "where the profile removes"),
        ("ADD PatientAddress Somewhere", Severity.ERROR, "where the profile removes"),
        ("PSEUDO IssuerOfPatientID ID_ALPHANUMERICAL", Severity.ERROR, "profile removes"),
        ("BLANK SOPInstanceUID", Severity.ERROR, "U needs a non-empty UID"),
        ("BLANK VerifyingObserverName", Severity.ERROR, "dummy (Type 1)"),
        ("JITTER StudyDate 10", Severity.ERROR, "select retain-long-modified-dates"),
        ("PSEUDO PatientBirthDate DATE", Severity.ERROR, "keeps a shifted date"),
        ("PSEUDO PatientAge FULL_NAME", Severity.INVALID, "cannot produce a valid AS value"),
        ("REPLACE StudyInstanceUID 1.2.3", Severity.WARNING, "references will collide"),
        ("REMOVE SeriesInstanceUID", Severity.WARNING, "references to it break"),
    ],
)
def test_contradictions_under_the_basic_profile(rule, severity, message):
    finding = findings_by_line(rule)[3]
    assert finding.severity is severity
    assert message in finding.message
    assert finding.rule_text == rule
    assert finding.acceptable is (severity is Severity.ERROR)


@pytest.mark.parametrize(
    "rule",
    [
        "REMOVE PatientSex",
        "BLANK PatientName",
        "BLANK OtherPatientNames",  # empty instead of removed: nothing identifying
        "REPLACE PatientName Anonymous",
        "PSEUDO PatientID SUBJECT_ID",
        "PSEUDO StudyInstanceUID UID",
        "KEEP WindowCenterWidthExplanation",  # not in Table E.1-1, reviewed safe
        "KEEP BodyPartExamined",
        "REMOVE contains:Comment",
    ],
)
def test_rules_that_do_not_contradict(rule):
    assert findings_by_line(rule) == {}


def test_option_changes_the_verdict():
    assert findings_by_line("KEEP PatientAge")[3].severity is Severity.ERROR
    assert findings_by_line("KEEP PatientAge", [Option.RETAIN_PATIENT_CHARACTERISTICS]) == {}
    removed = findings_by_line("REMOVE PatientAge", [Option.RETAIN_PATIENT_CHARACTERISTICS])
    assert removed[3].severity is Severity.WARNING and "option" in removed[3].message
    jitter = findings_by_line("JITTER StudyDate 10", [Option.RETAIN_LONG_MODIFIED_DATES])
    assert jitter[3].severity is Severity.WARNING and "same 10 days" in jitter[3].message


def test_field_expression_names_the_attributes_it_contradicts():
    finding = findings_by_line("KEEP contains:PatientBirth")[3]
    assert finding.severity is Severity.ERROR
    assert "PatientBirthDate (0010,0030)" in finding.attributes[0] or any(
        "PatientBirthDate" in a for a in finding.attributes
    )
    assert any("PatientBirthName" in a for a in finding.attributes)
    assert "PatientBirthDate" in finding.message


def test_expressions_reach_overlays():
    finding = findings_by_line("KEEP startswith:Overlay")[3]
    assert any("OverlayData" in a for a in finding.attributes)


def test_expression_overridden_by_an_exact_rule_is_not_blamed_for_it():
    found = findings_by_line("KEEP startswith:PatientName\nBLANK PatientName\n")
    assert found == {}


def test_private_keep_outside_the_safe_list_is_a_contradiction():
    found = findings_by_line('KEEP (0029,"ACME CT",10)')
    assert found[3].severity is Severity.ERROR and "removes (X)" in found[3].message
    safe = findings_by_line('KEEP (0019,"SIEMENS MR HEADER",0C)', [Option.RETAIN_SAFE_PRIVATE])
    assert safe == {}


def test_unapplied_sections_are_reported():
    found = review(parse_recipe("FORMAT dicom\n%labels\nMaintainer me\n"), [])
    assert [(f.severity, f.line) for f in found] == [(Severity.INFO, 2)]


def option_sets():
    """No option, each alone, each pair, and everything (either date option)."""
    for n in (0, 1, 2, len(Option) - 1):
        for combo in itertools.combinations(Option, n):
            try:
                yield validate_options(combo)
            except OptionError:
                continue


@pytest.mark.parametrize("policy", list(PatientNamePolicy))
def test_trial_recipe_never_contradicts_any_option_set(policy):
    recipe = trial_recipe(policy)
    for options in option_sets():
        blocking = [f for f in review(recipe, options) if f.severity is not Severity.WARNING]
        assert blocking == [], (sorted(o.value for o in options), blocking)


def test_build_rules_refuses_a_contradicting_recipe():
    recipe = parse_recipe(HEAD + "REMOVE PatientSex\nKEEP PatientName\n", "site.recipe")
    with pytest.raises(RecipeContradictionError, match=r"site\.recipe line 4.*empties") as caught:
        build_rules([], recipe=recipe)
    assert [f.line for f in caught.value.findings] == [4]
    assert "--accept-deviation 4:" in str(caught.value)


def test_accepted_deviation_runs_and_is_recorded():
    recipe = parse_recipe(HEAD + "KEEP PatientName\n", "site.recipe")
    (finding,) = review(recipe, [])
    rules = build_rules([], recipe=recipe, accepted_deviations=[finding.acceptance])
    action = rules.action_for(ElementContext(0x00100010, "PN", "PatientName", None, (), ""))
    assert action.code is Code.KEEP
    assert [f.line for f in rules.accepted_deviations] == [3]
    assert "accepted deviation: site.recipe line 3" in rules.method_description()


def test_editing_an_accepted_line_revokes_the_acceptance():
    original = parse_recipe(HEAD + "KEEP PatientName\n", "site.recipe")
    (finding,) = review(original, [])
    edited = parse_recipe(HEAD + "KEEP OtherPatientNames\n", "site.recipe")
    with pytest.raises(AcceptanceError, match=r"matches no contradiction in site\.recipe"):
        build_rules([], recipe=edited, accepted_deviations=[finding.acceptance])


def test_acceptance_syntax_and_recipe_requirement():
    recipe = parse_recipe(HEAD + "KEEP PatientName\n")
    with pytest.raises(AcceptanceError, match="takes LINE:FINGERPRINT"):
        build_rules([], recipe=recipe, accepted_deviations=["3"])
    with pytest.raises(AcceptanceError, match="needs a recipe"):
        build_rules([], accepted_deviations=["3:abcdef12"])


def test_invalid_rules_cannot_be_accepted():
    recipe = parse_recipe(HEAD + "PSEUDO PatientAge FULL_NAME\n")
    with pytest.raises(RecipeContradictionError, match="cannot produce a valid AS"):
        build_rules([], recipe=recipe)


def test_check_recipe_file_reports_and_sets_the_exit_status(tmp_path: Path):
    good = tmp_path / "good.recipe"
    good.write_text(HEAD + "REMOVE contains:Comment\nBLANK PatientName\n", "utf-8")
    report = check_recipe_file(good, ["retain-long-modified-dates"])
    assert report.ok and report.exit_status == 0
    assert "OK: the recipe can run" in report.render()

    bad = tmp_path / "bad.recipe"
    bad.write_text(HEAD + "KEEP PatientName\n", "utf-8")
    report = check_recipe_file(bad, [])
    assert report.exit_status == 1
    assert "bad.recipe line 3: error" in report.render()
    (finding,) = report.errors
    accepted = check_recipe_file(bad, [], accepted_deviations=[finding.acceptance])
    assert accepted.exit_status == 0 and "accepted deviation" in accepted.render()

    broken = tmp_path / "broken.recipe"
    broken.write_text(HEAD + "KEEP NoSuchAttribute\n", "utf-8")
    report = check_recipe_file(broken, [])
    assert report.exit_status == 1
    assert report.errors[0].severity is Severity.INVALID and not report.errors[0].acceptable


def test_descriptions_cover_every_option_and_class():
    options = describe_options()
    assert {d.cli_name for d in options} == {o.value for o in Option}
    assert [d.cli_name for d in options if d.default] == ["retain-long-modified-dates"]
    assert "113100" in options_table()
    classes = {d.name: d for d in describe_pseudo_classes()}
    assert "PN" in classes["FULL_NAME"].vrs and classes["DATE"].source.startswith("the original")
