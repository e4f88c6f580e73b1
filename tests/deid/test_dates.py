from datetime import date, timedelta

import pytest

from deid.dates import (
    DateValueError,
    age_in_years,
    cap_age,
    cap_birth_date,
    parse_da,
    shift_da,
    shift_date_time,
    shift_dt,
    shift_tm,
)


@pytest.mark.parametrize(
    ("value", "days", "expected"),
    [
        ("20200301", -1, "20200229"),  # leap day
        ("20201231", 1, "20210101"),
        ("2020.03.01", -1, "20200229"),  # ACR-NEMA spelling, normalised
        ("20200101\\20200315", -10, "20191222\\20200305"),
        ("20200101-20200301", 30, "20200131-20200331"),
        ("-20200301", 30, "-20200331"),
        ("20200101-", 30, "20200131-"),
        ("", 30, ""),
    ],
)
def test_shift_da(value, days, expected):
    assert shift_da(value, days) == expected


def test_intervals_survive_any_offset():
    first, second = "20190615", "20200301"
    for days in (-3650, -400, -1, 1, 29, 365):
        a, b = parse_da(shift_da(first, days)), parse_da(shift_da(second, days))
        assert (b - a) == (parse_da(second) - parse_da(first))


@pytest.mark.parametrize(
    ("value", "delta", "expected"),
    [
        ("20201231233000", timedelta(hours=1), "20210101003000"),
        ("20200101000000.123456+0100", timedelta(days=-1), "20191231000000.123456+0100"),
        ("20200101120000-0500", timedelta(days=2), "20200103120000-0500"),  # offset, no range
        ("2020", timedelta(days=-400), "2018"),  # precision kept
        ("202003", timedelta(days=-1), "202002"),
        ("2019-2020", timedelta(days=366), "2020-2021"),  # a range of years
        ("20200101-20200201", timedelta(days=1), "20200102-20200202"),
        ("20200101\\20200102", timedelta(days=1), "20200102\\20200103"),
    ],
)
def test_shift_dt(value, delta, expected):
    assert shift_dt(value, delta) == expected


def test_da_tm_pairs_carry_across_midnight():
    assert shift_date_time("20201231", "233000", timedelta(hours=1)) == ("20210101", "003000")
    assert shift_date_time("20200101", "0030", timedelta(minutes=-45)) == ("20191231", "2345")
    assert shift_date_time("20200101", "00:30:00.5", timedelta(minutes=-45)) == (
        "20191231",
        "234500.5",
    )
    # whole days leave the time alone
    assert shift_date_time("20200101", "101010.123", timedelta(days=-7)) == (
        "20191225",
        "101010.123",
    )
    # a pair with a missing part moves part by part
    assert shift_date_time("20200101", "", timedelta(days=-7)) == ("20191225", "")
    assert shift_tm("233000", timedelta(hours=1)) == "003000"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: shift_da("2020013", 1), "DA value is not a date"),
        (lambda: shift_da("20201340", 1), "not a calendar date"),
        (lambda: shift_da("00000000", 1), "not a calendar date"),
        (lambda: shift_da("2020-01-02-03", 1), "DA range is malformed"),
        (lambda: shift_da("99991231", 1), "outside the years"),
        (lambda: shift_dt("2020AB", timedelta(1)), "DT value is not a date-time"),
        (lambda: shift_tm("2561", timedelta(1)), "not a time of day"),
        (lambda: shift_tm("noon", timedelta(1)), "TM value is not a time"),
    ],
)
def test_unparseable_values_raise_without_the_value(call, message):
    with pytest.raises(DateValueError, match=message) as caught:
        call()
    assert not any(ch.isdigit() for ch in str(caught.value).replace("1-9999", ""))


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        ("045Y", "045Y"),
        ("089Y", "089Y"),
        ("090Y", "090Y"),
        ("104Y", "090Y"),
        ("1100M", None),  # not AS: four digits
        ("999M", "999M"),  # 83 years
        ("006W", "006W"),
        ("", ""),
    ],
)
def test_ages_over_89_are_capped(age, expected):
    if expected is None:
        with pytest.raises(DateValueError, match="not an age"):
            cap_age(age)
    else:
        assert cap_age(age) == expected


def test_birth_dates_of_the_very_old_make_them_exactly_90():
    study = date(2020, 6, 15)
    assert cap_birth_date(date(1950, 1, 1), study) == date(1950, 1, 1)
    capped = cap_birth_date(date(1920, 1, 1), study)
    assert capped == date(1930, 6, 15) and age_in_years(capped, study) == 90
    assert cap_birth_date(date(1900, 1, 1), date(2020, 2, 29)) == date(1930, 2, 28)
