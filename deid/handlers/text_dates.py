"""Dates written in free text, moved by the patient's offset.

Text that is kept (cleaned descriptions, SR text under Clean Structured Content,
unreviewed text kept on request) may say "Exam performed 15/01/2020": next to the
moved Study Date, the true date would give the patient's offset away. Each date
found is moved by the same whole days as the patient's dates, in the spelling it
was written in:

- ``2020-01-15``, ``2020/01/15``, ``2020.01.15`` and ``20200115``;
- ``15/01/2020``, ``15.01.2020``, ``15-01-2020`` and the month-first
  ``01/15/2020``: a first number above 12 makes it day-first, a second one above
  12 month-first; when both could be months, the order another date of the same
  text shows, else day-first (dots are always day-first);
- ``15 Jan 2020``, ``15 January 2020``, ``15-Jan-2020``, ``Jan 15, 2020``,
  ``January 15 2020`` (English month names, any case).

Years are 1900-2099 with four digits; something that reads as no real date
(``31/02/2020``) is left as it is. Two-digit years are not recognized.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

_MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_YEAR = r"(?:19|20)\d\d"
_PATTERN = re.compile(
    rf"""(?<![\w.])(?:
      (?P<iy>{_YEAR})(?P<isep>[-/.])(?P<im>\d{{1,2}})(?P=isep)(?P<id>\d{{1,2}})
    | (?P<cy>{_YEAR})(?P<cm>0[1-9]|1[0-2])(?P<cd>0[1-9]|[12]\d|3[01])
    | (?P<na>\d{{1,2}})(?P<nsep>[-/.])(?P<nb>\d{{1,2}})(?P=nsep)(?P<ny>{_YEAR})
    | (?P<dd>\d{{1,2}})(?P<dsep>[ -])(?P<dmon>{_MONTH})(?P=dsep)(?P<dy>{_YEAR})
    | (?P<mmon>{_MONTH})\ (?P<md>\d{{1,2}})(?P<mcomma>,?)\ (?P<my>{_YEAR})
    )(?![\w])""",
    re.IGNORECASE | re.VERBOSE,
)


def move_dates_in_text(text: str, days: int) -> str:
    """``text`` with every date it spells moved by ``days`` days."""
    if days == 0 or not any(c.isdigit() for c in text):
        return text
    matches = list(_PATTERN.finditer(text))
    if not matches:
        return text
    day_first = _day_first(matches)
    out: list[str] = []
    last = 0
    for match in matches:
        moved = _moved(match, days, day_first)
        out.append(text[last : match.start()])
        out.append(match.group(0) if moved is None else moved)
        last = match.end()
    out.append(text[last:])
    return "".join(out)


def _day_first(matches: list[re.Match[str]]) -> bool:
    """Whether the numeric dates of this text are day-first, as far as it shows."""
    for match in matches:
        if match.group("na") is not None:
            first, second = int(match.group("na")), int(match.group("nb"))
            if first > 12 >= second:
                return True
            if second > 12 >= first:
                return False
    return True


def _padded(number: int, like: str) -> str:
    return f"{number:02d}" if len(like) == 2 else str(number)


def _month_name(month: int, like: str) -> str:
    name = _MONTHS[month - 1]
    name = name[: len(like)] if len(like) <= 3 else name
    if like.isupper():
        return name.upper()
    return name.capitalize() if like[:1].isupper() else name


def _shift(year: int, month: int, day: int, days: int) -> date | None:
    try:
        return date(year, month, day) + timedelta(days=days)
    except (ValueError, OverflowError):
        return None


def _moved(match: re.Match[str], days: int, day_first: bool) -> str | None:
    g = match.group
    if g("iy") is not None:
        new = _shift(int(g("iy")), int(g("im")), int(g("id")), days)
        if new is None:
            return None
        sep = g("isep")
        return f"{new.year:04d}{sep}{_padded(new.month, g('im'))}{sep}{_padded(new.day, g('id'))}"
    if g("cy") is not None:
        new = _shift(int(g("cy")), int(g("cm")), int(g("cd")), days)
        return None if new is None else f"{new.year:04d}{new.month:02d}{new.day:02d}"
    if g("na") is not None:
        first, second, sep = g("na"), g("nb"), g("nsep")
        is_day_first = sep == "." or int(first) > 12 or (int(second) <= 12 and day_first)
        day_text, month_text = (first, second) if is_day_first else (second, first)
        new = _shift(int(g("ny")), int(month_text), int(day_text), days)
        if new is None:
            return None
        day_out, month_out = _padded(new.day, day_text), _padded(new.month, month_text)
        a, b = (day_out, month_out) if is_day_first else (month_out, day_out)
        return f"{a}{sep}{b}{sep}{new.year:04d}"
    if g("dd") is not None:
        month = _month_number(g("dmon"))
        new = _shift(int(g("dy")), month, int(g("dd")), days)
        if new is None:
            return None
        sep = g("dsep")
        name = _month_name(new.month, g("dmon"))
        return f"{_padded(new.day, g('dd'))}{sep}{name}{sep}{new.year:04d}"
    month = _month_number(g("mmon"))
    new = _shift(int(g("my")), month, int(g("md")), days)
    if new is None:
        return None
    name = _month_name(new.month, g("mmon"))
    return f"{name} {_padded(new.day, g('md'))}{g('mcomma')} {new.year:04d}"


def _month_number(name: str) -> int:
    lowered = name.lower()
    return next(i for i, full in enumerate(_MONTHS, start=1) if full.startswith(lowered[:3]))
