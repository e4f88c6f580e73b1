"""PS3.15 Table E.1-1, loaded from the package data and looked up by tag.

Exact tags are found in one dict lookup. Four rows cover ranges and are found by
arithmetic on the tag: curves ``(50XX,XXXX)`` (every element of the even groups
0x5000-0x50FE), overlay data ``(60XX,3000)`` and overlay comments ``(60XX,4000)``
(even groups 0x6000-0x60FE), and private attributes (every odd group).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from deid.contract.errors import DeidError

DATA_PACKAGE = "deid.profiles"
DATA_DIR = "data"
TABLE_FILE = "confidentiality_profile_attributes.json"
TABLE_EDITION = "2024b"

CURVE_ROW_TAG = "(50XX,XXXX)"
OVERLAY_DATA_ROW_TAG = "(60XX,3000)"
OVERLAY_COMMENTS_ROW_TAG = "(60XX,4000)"
PRIVATE_ROW_TAG = "(GGGG,EEEE) WHERE GGGG IS ODD"


class TableDataError(DeidError, RuntimeError):
    """The shipped Table E.1-1 data is missing or malformed (a packaging bug)."""


@dataclass(frozen=True, slots=True)
class TableRow:
    """One row of Table E.1-1."""

    name: str
    tag_text: str
    """As the table writes it: ``(0010,0010)``, ``(60XX,3000)``..."""
    tag: int | None
    """The exact tag; ``None`` for the range and private rows."""
    basic: str
    """The Basic Profile code, possibly combined (``X/Z``, ``X/Z/U*``...)."""
    option_codes: tuple[tuple[str, str], ...]
    """(option table key, code) for every option column that has a code."""
    in_standard_iod: bool
    """Used in a standard composite IOD (the table's ``stdCompIOD`` column)."""

    def option_code(self, table_key: str) -> str | None:
        """The code in the option column ``table_key``, if the row has one."""
        for key, code in self.option_codes:
            if key == table_key:
                return code
        return None

    def label(self) -> str:
        """``Patient's Name (0010,0010)``: how origins and findings name the row."""
        where = "(odd groups)" if self.tag_text == PRIVATE_ROW_TAG else self.tag_text
        return f"{self.name} {where}"


def is_curve(tag: int) -> bool:
    """True for any element of a curve group (even groups 0x5000-0x50FE)."""
    group = tag >> 16
    return 0x5000 <= group <= 0x50FE and not group & 1


def is_overlay_group(group: int) -> bool:
    """True for the even overlay groups 0x6000-0x60FE."""
    return 0x6000 <= group <= 0x60FE and not group & 1


def is_private(tag: int) -> bool:
    """True for elements of odd groups (private attributes, creators included)."""
    return bool((tag >> 16) & 1)


class ProfileTable:
    """Table E.1-1 with O(1) lookup by tag."""

    def __init__(self, rows: tuple[TableRow, ...]) -> None:
        self.rows = rows
        self._exact: dict[int, TableRow] = {row.tag: row for row in rows if row.tag is not None}
        ranged = {row.tag_text: row for row in rows if row.tag is None}
        missing = {CURVE_ROW_TAG, OVERLAY_DATA_ROW_TAG, OVERLAY_COMMENTS_ROW_TAG, PRIVATE_ROW_TAG}
        missing -= ranged.keys()
        if missing:
            raise TableDataError(f"Table E.1-1 data lacks the rows {sorted(missing)}")
        self.curve_row = ranged[CURVE_ROW_TAG]
        self.overlay_data_row = ranged[OVERLAY_DATA_ROW_TAG]
        self.overlay_comments_row = ranged[OVERLAY_COMMENTS_ROW_TAG]
        self.private_row = ranged[PRIVATE_ROW_TAG]

    def __len__(self) -> int:
        return len(self.rows)

    def exact(self, tag: int) -> TableRow | None:
        """The row listing exactly ``tag``, without range or private rows."""
        return self._exact.get(tag)

    def row_for(self, tag: int) -> TableRow | None:
        """The row that governs ``tag``: exact, curve, overlay or private; else ``None``."""
        row = self._exact.get(tag)
        if row is not None:
            return row
        group = tag >> 16
        if group & 1:
            return self.private_row
        if is_curve(tag):
            return self.curve_row
        if is_overlay_group(group):
            element = tag & 0xFFFF
            if element == 0x3000:
                return self.overlay_data_row
            if element == 0x4000:
                return self.overlay_comments_row
        return None


def _parse_tag(text: str) -> int | None:
    digits = text.strip("()").replace(",", "")
    if len(digits) == 8 and all(c in "0123456789abcdefABCDEF" for c in digits):
        return int(digits, 16)
    return None


_ROW_KEYS = frozenset({"name", "tag", "id", "stdCompIOD", "basicProfile"})


def _row(raw: dict[str, str]) -> TableRow:
    try:
        return TableRow(
            name=raw["name"],
            tag_text=raw["tag"],
            tag=_parse_tag(raw["tag"]),
            basic=raw["basicProfile"],
            option_codes=tuple((k, v) for k, v in raw.items() if k not in _ROW_KEYS),
            in_standard_iod=raw["stdCompIOD"] == "Y",
        )
    except KeyError as missing:
        raise TableDataError(f"Table E.1-1 row {raw!r} lacks {missing}") from None


def read_data(name: str) -> str:
    """The text of the package data file ``deid/profiles/data/<name>``."""
    return resources.files(DATA_PACKAGE).joinpath(DATA_DIR, name).read_text("utf-8")


@cache
def load_table() -> ProfileTable:
    """Table E.1-1 (edition 2024b) from the package data (works from a wheel)."""
    try:
        text = read_data(TABLE_FILE)
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        raise TableDataError(f"package data {TABLE_FILE} is missing: {exc}") from exc
    return ProfileTable(tuple(_row(raw) for raw in json.loads(text)))
