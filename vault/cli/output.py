"""How listings are shown: an aligned table for people, or JSON (``--json``) for programs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TextIO

Row = Mapping[str, object]


def moment(value: datetime | None) -> str | None:
    """A time as ISO 8601 in UTC, to the second (None stays None)."""
    return value.isoformat(timespec="seconds") if value is not None else None


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, Mapping):  # a mapping shows its keys (a trial's site keys)
        value = list(value)
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


def print_table(
    rows: Sequence[Row], columns: Sequence[tuple[str, str]], out: TextIO, *, empty: str
) -> None:
    """``rows`` under ``columns`` ((key, heading) pairs), aligned; ``empty`` when none."""
    if not rows:
        print(empty, file=out)
        return
    cells = [[heading for _, heading in columns]]
    cells += [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    for line in cells:
        print("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip(), file=out)


def print_json(data: object, out: TextIO) -> None:
    """``data`` as indented JSON (times as ISO 8601)."""
    print(json.dumps(data, indent=2, default=str), file=out)


def show(
    rows: Sequence[Row],
    columns: Sequence[tuple[str, str]],
    out: TextIO,
    *,
    as_json: bool,
    empty: str,
) -> None:
    """A listing: JSON (every field of every row) or a table of ``columns``."""
    if as_json:
        print_json(list(rows), out)
    else:
        print_table(rows, columns, out, empty=empty)
