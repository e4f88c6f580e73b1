import pytest
from pydicom.sr.codedict import codes

from deid.profiles import (
    BASIC_PROFILE_CODE,
    DEFAULT_TRIAL_OPTIONS,
    Option,
    OptionError,
    effective_code,
    load_table,
    method_codes,
    parse_option,
    validate_options,
)

# pydicom's concept dictionary is generated from PS3.16; CID 7050 keywords.
CID_7050 = {
    Option.RETAIN_SAFE_PRIVATE: codes.DCM.RetainSafePrivateOption,
    Option.RETAIN_UIDS: codes.DCM.RetainUidsOption,
    Option.RETAIN_DEVICE_IDENTITY: codes.DCM.RetainDeviceIdentityOption,
    Option.RETAIN_INSTITUTION_IDENTITY: codes.DCM.RetainInstitutionIdentityOption,
    Option.RETAIN_PATIENT_CHARACTERISTICS: codes.DCM.RetainPatientCharacteristicsOption,
    Option.RETAIN_LONG_FULL_DATES: codes.DCM.RetainLongitudinalTemporalInformationFullDatesOption,
    Option.RETAIN_LONG_MODIFIED_DATES: (
        codes.DCM.RetainLongitudinalTemporalInformationModifiedDatesOption
    ),
    Option.CLEAN_DESCRIPTORS: codes.DCM.CleanDescriptorsOption,
    Option.CLEAN_STRUCTURED_CONTENT: codes.DCM.CleanStructuredContentOption,
    Option.CLEAN_GRAPHICS: codes.DCM.CleanGraphicsOption,
}


@pytest.mark.parametrize("option", list(Option), ids=lambda o: o.value)
def test_option_codes_match_cid_7050(option):
    concept = CID_7050[option]
    assert option.code.value == concept.value
    assert option.code.meaning == concept.meaning
    assert option.code.scheme == concept.scheme_designator == "DCM"


def test_basic_profile_code():
    concept = codes.DCM.BasicApplicationConfidentialityProfile
    assert (BASIC_PROFILE_CODE.value, BASIC_PROFILE_CODE.meaning) == (
        concept.value,
        concept.meaning,
    )


def test_every_option_has_a_column_in_the_table():
    keys = {key for row in load_table().rows for key, _ in row.option_codes}
    assert {option.table_key for option in Option} == keys


@pytest.mark.parametrize(
    ("name", "option"),
    [
        ("retain-uids", Option.RETAIN_UIDS),
        ("RETAIN_UIDS", Option.RETAIN_UIDS),
        ("rtnUIDsOpt", Option.RETAIN_UIDS),
        (" clean-graphics ", Option.CLEAN_GRAPHICS),
    ],
)
def test_parse_option_accepts_cli_enum_and_table_names(name, option):
    assert parse_option(name) is option


def test_parse_option_rejects_unknown_names():
    with pytest.raises(OptionError, match="unknown option 'keep-all'"):
        parse_option("keep-all")


def test_dates_options_are_exclusive():
    with pytest.raises(OptionError, match="retain-long-full-dates and retain-long-modified"):
        validate_options([Option.RETAIN_LONG_FULL_DATES, "retain-long-modified-dates"])


def test_default_trial_options_move_dates():
    assert frozenset({Option.RETAIN_LONG_MODIFIED_DATES}) == DEFAULT_TRIAL_OPTIONS


def test_method_codes_start_with_the_profile_and_follow_table_order():
    got = method_codes({Option.CLEAN_DESCRIPTORS, Option.RETAIN_UIDS})
    assert [c.value for c in got] == ["113100", "113110", "113105"]


def test_effective_code_reports_the_deciding_option():
    calibration = load_table().exact(0x00181200)
    assert calibration is not None
    result = effective_code(
        calibration, {Option.RETAIN_DEVICE_IDENTITY, Option.RETAIN_LONG_MODIFIED_DATES}
    )
    assert (result.code, result.option) == ("C", Option.RETAIN_LONG_MODIFIED_DATES)
    assert result.overruled == (Option.RETAIN_DEVICE_IDENTITY,)
    assert effective_code(calibration, set()) == ("X", None, ())


def test_descriptions_are_one_line():
    for option in Option:
        assert option.description and "\n" not in option.description
