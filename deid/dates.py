"""Dates, times and ages: moving them by a patient's offset and capping old ages.

Every value is moved with real :class:`~datetime.datetime` arithmetic, so a shift
that crosses midnight carries into the date (DT values, and DA+TM pairs moved
together with :func:`shift_date_time`) and intervals stay exact. Multi-valued
values (``\\``) and ranges (``20200101-20200301``) are moved part by part, keeping
each part's precision (a year-only DT stays year-only).

A value that cannot be parsed raises :class:`DateValueError`, whose message names
the VR but never the value: the engine quarantines the file rather than keep a
date it cannot move.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta

from deid.contract.errors import DeidError

HIPAA_AGE_CAP_YEARS = 90
"""HIPAA Safe Harbor: ages over 89 are aggregated into a single 90-or-older group."""
CAPPED_AGE = "090Y"

_DA = re.compile(r"(\d{4})\.?(\d{2})\.?(\d{2})")
_TM = re.compile(r"(\d{2})(?::?(\d{2})(?::?(\d{2})(\.\d{1,6})?)?)?")
_DT = re.compile(
    r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,6})?([+-]\d{4})?",
)
_AS = re.compile(r"(\d{3})([DWMY])")
_DAYS_PER_UNIT = {"D": 1.0, "W": 7.0, "M": 365.25 / 12, "Y": 365.25}

_Shift = Callable[[str], str]
_Predicate = Callable[[str], bool]


class DateValueError(DeidError, ValueError):
    """A DA, DT, TM or AS value that cannot be parsed (the message holds no value)."""


def parse_da(text: str) -> date:
    """Parse one DA value (``YYYYMMDD``, or the ACR-NEMA ``YYYY.MM.DD``)."""
    match = _DA.fullmatch(text.strip())
    if match is None:
        raise DateValueError("a DA value is not a date (YYYYMMDD)")
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise DateValueError("a DA value is not a calendar date") from None


def format_da(value: date) -> str:
    """Render a date as DA."""
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"


def shift_da(value: str, days: int) -> str:
    """Move every date in a DA value (multi-valued, ranges) by ``days``."""
    return _each_part(value, lambda part: format_da(_add_days(parse_da(part), days)), "DA")


def shift_dt(value: str, delta: timedelta) -> str:
    """Move every date-time in a DT value by ``delta``, keeping precision and offset."""
    return _each_part(value, lambda part: _shift_one_dt(part, delta), "DT", _is_single_dt)


def shift_tm(value: str, delta: timedelta) -> str:
    """Move a TM value by ``delta`` on its own, wrapping around midnight.

    A time that belongs with a date is moved with :func:`shift_date_time` instead,
    so that the day carries.
    """
    anchor = date(2000, 1, 1)

    def shift_one(part: str) -> str:
        _, hms, fraction = _shift_tm_on(anchor, part, delta)
        return hms + fraction

    return _each_part(value, shift_one, "TM")


def shift_date_time(da: str, tm: str, delta: timedelta) -> tuple[str, str]:
    """Move a DA+TM pair (StudyDate+StudyTime...) together, carrying across midnight.

    Multi-valued or range pairs, and pairs with an empty part, are moved part by
    part: the date by whole days, the time on its own.
    """
    da, tm = da.strip(), tm.strip()
    if not da or not tm or "\\" in da + tm or "-" in da + tm:
        return shift_da(da, _whole_days(delta)) if da else da, shift_tm(tm, delta) if tm else tm
    moved, hms, fraction = _shift_tm_on(parse_da(da), tm, delta)
    return format_da(moved.date()), hms + fraction


def _whole_days(delta: timedelta) -> int:
    return (
        delta.days
        if delta.seconds == 0 and delta.microseconds == 0
        else round(delta.total_seconds() / 86400)
    )


def _add_days(value: date, days: int) -> date:
    try:
        return value + timedelta(days=days)
    except OverflowError:
        raise DateValueError("a date moved outside the years 1-9999") from None


def _each_part(
    value: str,
    shift_one: _Shift,
    vr: str,
    is_single: _Predicate | None = None,
) -> str:
    """Apply ``shift_one`` to each value of a multi-valued value and each range end."""
    out: list[str] = []
    for item in value.split("\\"):
        item = item.strip()
        if not item:
            out.append(item)
        elif "-" in item and not (is_single is not None and is_single(item)):
            ends = item.split("-")
            if len(ends) != 2 or not (ends[0] or ends[1]):
                raise DateValueError(f"a {vr} range is malformed")
            out.append("-".join(shift_one(end) if end else end for end in ends))
        else:
            out.append(shift_one(item))
    return "\\".join(out)


def _is_single_dt(text: str) -> bool:
    # "20200101120000-0500" is one DT with a UTC offset, not a range; "2019-2020" is a
    # range, since -2020 is no valid offset (PS3.5 6.2: -1200 to +1400).
    match = _DT.fullmatch(text)
    if match is None:
        return False
    offset = match[8]
    return offset is None or (int(offset[1:3]) <= 14 and int(offset[3:5]) < 60)


def _shift_one_dt(text: str, delta: timedelta) -> str:
    match = _DT.fullmatch(text)
    if match is None:
        raise DateValueError("a DT value is not a date-time")
    year, month, day, hour, minute, second, fraction, utc_offset = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
        )
    except ValueError:
        raise DateValueError("a DT value is not a calendar date-time") from None
    try:
        moment += delta
    except OverflowError:
        raise DateValueError("a date moved outside the years 1-9999") from None
    rendered = f"{moment.year:04d}{moment.month:02d}{moment.day:02d}"
    rendered += f"{moment.hour:02d}{moment.minute:02d}{moment.second:02d}"
    precision = 4 + sum(2 for part in (month, day, hour, minute, second) if part)
    return rendered[:precision] + (fraction or "") + (utc_offset or "")


def _shift_tm_on(day: date, text: str, delta: timedelta) -> tuple[datetime, str, str]:
    """The time on ``day`` moved by ``delta``: (moment, HH[MM[SS]] of same precision, fraction)."""
    match = _TM.fullmatch(text.strip())
    if match is None:
        raise DateValueError("a TM value is not a time (HHMMSS.FFFFFF)")
    hour, minute, second, fraction = match.groups()
    try:
        moment = datetime(day.year, day.month, day.day, int(hour), int(minute or 0))
        # 60 is a leap second: kept as the last second of the minute.
        moment += timedelta(seconds=min(int(second or 0), 59)) + delta
    except (ValueError, OverflowError):
        raise DateValueError("a TM value is not a time of day") from None
    precision = 2 + (2 if minute else 0) + (2 if second else 0)
    hms = f"{moment.hour:02d}{moment.minute:02d}{moment.second:02d}"[:precision]
    return moment, hms, fraction or ""


def parse_age(value: str) -> tuple[int, str]:
    """Parse an AS value (``045Y``) into (number, unit)."""
    match = _AS.fullmatch(value.strip())
    if match is None:
        raise DateValueError("an AS value is not an age (nnnD/W/M/Y)")
    return int(match[1]), match[2]


def cap_age(value: str) -> str:
    """The AS value with ages of 90 years or more aggregated into ``090Y`` (HIPAA)."""
    if not value.strip():
        return value
    number, unit = parse_age(value)
    if number * _DAYS_PER_UNIT[unit] >= HIPAA_AGE_CAP_YEARS * 365.25 - 0.5:
        return CAPPED_AGE
    return value.strip()


def age_in_years(birth: date, on: date) -> int:
    """Completed years between ``birth`` and ``on``."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def cap_birth_date(birth: date, on: date) -> date:
    """``birth``, or for someone 90 or older on ``on`` the date that makes them exactly 90."""
    if age_in_years(birth, on) < HIPAA_AGE_CAP_YEARS:
        return birth
    year = on.year - HIPAA_AGE_CAP_YEARS
    # 29 February has no counterpart in most years.
    return on.replace(year=year, day=28) if (on.month, on.day) == (2, 29) else on.replace(year=year)
