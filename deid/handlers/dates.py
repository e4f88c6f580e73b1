"""Dates, times and ages: C, JITTER and PSEUDO DATE/DATETIME on DA, DT and TM, and
the age cap on AS and Patient's Birth Date.

C (Retain Longitudinal Temporal Information with Modified Dates) and PSEUDO
DATE/DATETIME move a value by the patient's own offset; JITTER by the recipe's
days. A DA whose partner TM (StudyDate and StudyTime...) moves too is moved with
it as one date-time, so a shift with a time part carries across midnight. A value
that cannot be parsed quarantines the file: a date is never kept unmoved.

Frame Origin Timestamp (OB) is each frame's capture time as an IEEE 1588 (PTP)
timestamp, 48-bit seconds and 32-bit nanoseconds, big-endian (PS3.3 C.7.6.27):
under C its seconds move by the patient's offset, which keeps the timing between
frames exactly; a value of another length cannot be read and quarantines the file.

Ages: Patient's Age, wherever it is kept, says ``090Y`` for anyone 90 or older,
and a kept or moved Patient's Birth Date is moved further back-to-front so the
patient is exactly 90 at the (moved) study date (HIPAA Safe Harbor).
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from deid.actions import Code
from deid.dates import (
    DateValueError,
    cap_age,
    cap_birth_date,
    format_da,
    parse_da,
    shift_da,
    shift_date_time,
    shift_dt,
    shift_tm,
)
from deid.handlers.base import FileState, Step, set_text
from deid.outcome import QuarantineError, QuarantineReason
from deid.walk import element_text

PATIENT_BIRTH_DATE = 0x00100030
REFERENCE_DATES = (0x00080020, 0x00080023, 0x00080021, 0x00080022)
"""Study, Content, Series and Acquisition Date: the date ages are capped at."""


def delta_of(step: Step, state: FileState) -> timedelta:
    """How far this step moves its value."""
    if step.action.code is Code.JITTER:
        return timedelta(days=step.action.jitter_days or 0)
    return state.date_shift


@cache
def partner_time_tag(date_tag: int) -> int | None:
    """The TM that belongs with a DA (StudyDate -> StudyTime), if the dictionary has one."""
    keyword = keyword_for_tag(date_tag)
    if not keyword.endswith("Date"):
        return None
    partner = tag_for_keyword(keyword[: -len("Date")] + "Time")
    if partner is None or dictionary_VR(partner) != "TM":
        return None
    return partner


class Shift:
    """Move a DA, DT or TM value (multi-valued and ranges too)."""

    name = "dates"

    def collect(self, step: Step, state: FileState) -> None:
        """Dates are derived from the enrollment: nothing to map."""

    def apply(self, step: Step, state: FileState) -> None:
        """Write the moved value."""
        vr, text, delta = step.visit.vr, step.text(), delta_of(step, state)
        try:
            if vr == "DA":
                moved = self._shift_date(step, text, delta, state)
            elif vr == "DT":
                moved = shift_dt(text, delta)
            elif vr == "TM":
                moved = shift_tm(text, delta)
            else:
                raise DateValueError(f"{vr} is not a date or time")
        except DateValueError:
            raise QuarantineError(
                QuarantineReason.UNPARSEABLE_DATE,
                f"{step.where()} holds a {vr} value that cannot be read as a date or time, "
                "so it cannot be moved",
            ) from None
        set_text(step, moved)
        state.moved_dates[(id(step.visit.dataset), step.visit.tag)] = text

    @staticmethod
    def _shift_date(step: Step, text: str, delta: timedelta, state: FileState) -> str:
        partner = partner_time_tag(step.visit.tag)
        time_text = state.moving_times.get((id(step.visit.dataset), partner or 0))
        if time_text:
            moved, _ = shift_date_time(text, time_text, delta)
            return moved
        whole_days = round(delta.total_seconds() / 86400)
        return shift_da(text, whole_days)


PTP_TIMESTAMP_LENGTH = 10


class PtpShift:
    """Move an IEEE 1588 timestamp (Frame Origin Timestamp) by the patient's offset."""

    name = "PTP timestamps"

    def collect(self, step: Step, state: FileState) -> None:
        """Derived from the enrollment: nothing to map."""

    def apply(self, step: Step, state: FileState) -> None:
        """Write the moved timestamp."""
        value = step.visit.dataset[step.visit.key].value
        raw = bytes(value) if isinstance(value, bytes | bytearray) else b""
        seconds = int.from_bytes(raw[:6], "big") + int(delta_of(step, state).total_seconds())
        if len(raw) != PTP_TIMESTAMP_LENGTH or not 0 <= seconds < 1 << 48:
            raise QuarantineError(
                QuarantineReason.UNPARSEABLE_DATE,
                f"{step.where()} is not a 10-byte IEEE 1588 timestamp, so it cannot be moved",
            )
        moved = seconds.to_bytes(6, "big") + raw[6:]
        key = step.visit.key
        step.visit.dataset[key] = DataElement(key, step.visit.vr, moved)


class Age:
    """K/C on AS: the age, with ages of 90 and over written as ``090Y``."""

    name = "ages"

    def collect(self, step: Step, state: FileState) -> None:
        """Nothing to map."""

    def apply(self, step: Step, state: FileState) -> None:
        """Cap the age."""
        try:
            capped = cap_age(step.text())
        except DateValueError:
            raise QuarantineError(
                QuarantineReason.UNPARSEABLE_DATE,
                f"{step.where()} holds an age that cannot be read, so it cannot be capped",
            ) from None
        set_text(step, capped)


def reference_date(dataset: Dataset, state: FileState) -> date:
    """The moved study (else content, series, acquisition) date; else today, moved."""
    for tag in REFERENCE_DATES:
        text = element_text(dataset, tag)
        if text:
            try:
                return parse_da(text.split("\\")[0].split("-")[0])
            except DateValueError:
                continue
    return date.today() + timedelta(days=round(state.date_shift.total_seconds() / 86400))


def cap_birth_date_of(dataset: Dataset, state: FileState) -> None:
    """Move a kept Patient's Birth Date so nobody is older than 90 at the study."""
    text = element_text(dataset, PATIENT_BIRTH_DATE)
    if not text:
        return
    try:
        birth = parse_da(text)
    except DateValueError:
        raise QuarantineError(
            QuarantineReason.UNPARSEABLE_DATE,
            "PatientBirthDate cannot be read as a date, so the age cannot be checked",
        ) from None
    capped = cap_birth_date(birth, reference_date(dataset, state))
    if capped != birth:
        dataset[PATIENT_BIRTH_DATE] = DataElement(PATIENT_BIRTH_DATE, "DA", format_da(capped))


SHIFT = Shift()
AGE = Age()
PTP_SHIFT = PtpShift()
