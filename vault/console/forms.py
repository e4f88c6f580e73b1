"""What people type into the console's forms, turned into what the services take."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from vault.errors import InvalidInputError
from vault.services.reidentification import PseudonymRef

MAX_LINES = 5000


def pseudonym_lines(text: str) -> list[PseudonymRef]:
    """One pseudonym a line: its kind, a space, the pseudonym (``FULL_NAME Roe^Anna``)."""
    refs: list[PseudonymRef] = []
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        raise InvalidInputError(f"name at most {MAX_LINES} pseudonyms")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.strip().split(None, 1)
        if len(parts) != 2:
            raise InvalidInputError(
                f"pseudonyms, line {number}: write the kind, a space, then the pseudonym "
                "(for example FULL_NAME Roe^Anna)"
            )
        refs.append(PseudonymRef(parts[0].upper(), parts[1].strip()))
    return refs


def subject_ids(text: str) -> list[str]:
    """Subject IDs separated by lines, spaces or commas."""
    found = [s for s in re.split(r"[\s,;]+", text) if s]
    if len(found) > MAX_LINES:
        raise InvalidInputError(f"name at most {MAX_LINES} subject IDs")
    return found


def site_lines(text: str) -> dict[str, str]:
    """One site a line: its ID, a space, its name (``S01 Toronto General``)."""
    sites: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.strip().split(None, 1)
        if len(parts) != 2:
            raise InvalidInputError(
                f"sites, line {number}: write the site ID, a space, then the site's name"
            )
        sites[parts[0]] = parts[1].strip()
    return sites


def day_bound(text: str | None, field: str, *, end: bool = False) -> datetime | None:
    """A ``YYYY-MM-DD`` date as the start of that day in UTC (``end``: of the next day)."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"{field} must be a date (YYYY-MM-DD)") from None
    moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return moment + timedelta(days=1) if end else moment


def optional_int(text: str | None, field: str) -> int | None:
    """An integer form field that may be left empty."""
    if text is None or not text.strip():
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidInputError(f"{field} must be a whole number") from None
