"""C moves or cleans, never removes: timestamps, binary values, dates written in text.

Every C row of Table E.1-1 is carried out under its options in test_engine_table.py;
here the values whose cleaning is not obvious are looked at closely.
"""

from __future__ import annotations

import pytest
from engine_fixtures import PATIENT_NAME, ct_dataset, engine, reread, write_file

from deid.dates import parse_da
from deid.handlers.fixed import dummy_value
from deid.handlers.text_dates import move_dates_in_text
from deid.outcome import Quarantined, QuarantineReason

FRAME_ORIGIN_TIMESTAMP = 0x00340007
SECONDS, NANOSECONDS = 1_700_000_000, 123_456_789
PTP = SECONDS.to_bytes(6, "big") + NANOSECONDS.to_bytes(4, "big")


def _offset(result) -> int:  # type: ignore[no-untyped-def]
    return (parse_da(result.StudyDate) - parse_da("20191231")).days


def _with(tag: int, vr: str, value: object):  # type: ignore[no-untyped-def]
    ds = ct_dataset()
    ds.add_new(tag, vr, value)
    return ds


def test_frame_origin_timestamp_moves_by_the_patients_offset(tmp_path):
    path = write_file(_with(FRAME_ORIGIN_TIMESTAMP, "OB", PTP), tmp_path / "in.dcm")
    moved = reread(engine(("retain-long-modified-dates",)).process(path))
    value = moved[FRAME_ORIGIN_TIMESTAMP].value
    assert int.from_bytes(value[:6], "big") == SECONDS + _offset(moved) * 86400
    assert value[6:] == PTP[6:]  # nanoseconds: the timing between frames stays exact
    kept = reread(engine(("retain-long-full-dates",)).process(path))
    assert kept[FRAME_ORIGIN_TIMESTAMP].value == PTP
    dummy = reread(engine(()).process(path))  # the Basic Profile: D
    expected = dummy_value("OB", "FrameOriginTimestamp")
    assert dummy[FRAME_ORIGIN_TIMESTAMP].value == bytes(10) == expected


def test_a_timestamp_that_cannot_be_read_is_never_kept_unmoved(tmp_path):
    path = write_file(_with(FRAME_ORIGIN_TIMESTAMP, "OB", b"\x01\x02\x03\x04"), tmp_path / "in.dcm")
    outcome = engine(("retain-long-modified-dates",)).process(path)
    assert isinstance(outcome, Quarantined)
    assert outcome.reason is QuarantineReason.UNPARSEABLE_DATE
    assert "FrameOriginTimestamp" in outcome.message


def test_binary_descriptions_are_kept_with_the_patients_name_blanked(tmp_path):
    family = PATIENT_NAME.split("^")[0]
    note = f"Owner: {family}; lens 35 mm".encode()  # an even length: no padding
    path = write_file(_with(0x0016002B, "OB", note), tmp_path / "in.dcm")  # Maker Note
    result = reread(engine(("retain-long-modified-dates", "clean-descriptors")).process(path))
    value = result[0x0016002B].value
    assert value == note.replace(family.encode(), b" " * len(family))  # same length
    removed = reread(engine(("retain-long-modified-dates",)).process(path))
    assert 0x0016002B not in removed  # X without the option


def test_a_signed_timestamp_cannot_be_cleaned_and_goes(tmp_path):
    path = write_file(_with(0x04000310, "OB", b"\x30\x03\x02\x01\x00"), tmp_path / "in.dcm")
    result = reread(engine(("retain-long-modified-dates",)).process(path))
    assert 0x04000310 not in result  # an RFC 3161 token: moving it breaks its signature


@pytest.mark.parametrize(
    ("text", "days", "expected"),
    [
        ("Exam performed 15/01/2020.", -30, "Exam performed 16/12/2019."),
        ("2020-01-15 and 2020/1/5 and 2020.01.15", 1, "2020-01-16 and 2020/1/6 and 2020.01.16"),
        ("compact 20200115 id 12345678", 1, "compact 20200116 id 12345678"),
        ("US style 01/25/2020", 7, "US style 02/01/2020"),
        ("03/04/2020 after 01/25/2020", 1, "03/05/2020 after 01/26/2020"),  # month-first text
        ("03/04/2020 alone", 1, "04/04/2020 alone"),  # both could be months: day-first
        ("03.04.2020", 1, "04.04.2020"),  # dots: day-first
        ("15 Jan 2020, 15 January 2020, 5-SEP-2019", 1, "16 Jan 2020, 16 January 2020, 6-SEP-2019"),
        ("Jan 31, 2020 and december 31 2019", 1, "Feb 01, 2020 and january 01 2020"),
        ("31/02/2020 is no date", 5, "31/02/2020 is no date"),
        ("UID 1.2.840.10008.20200115", 5, "UID 1.2.840.10008.20200115"),
        ("two digits 15/01/20 are not read", 5, "two digits 15/01/20 are not read"),
        ("nothing to move", 5, "nothing to move"),
    ],
)  # fmt: skip
def test_dates_written_in_text_move_in_their_own_spelling(text, days, expected):
    assert move_dates_in_text(text, days) == expected
    assert move_dates_in_text(text, 0) == text
