import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from deid.profiles import load_table
from deid.profiles.codes import UnknownCodeError, action_code, is_combined, resolve_by_type
from deid.profiles.iod import TypeFinding
from deid.profiles.table import ProfileTable, TableDataError, TableRow, is_curve

TABLE = load_table()


@pytest.mark.parametrize(
    ("tag", "name"),
    [
        (0x00100010, "Patient's Name"),
        (0x50000000, "Curve Data"),
        (0x50FE3000, "Curve Data"),
        (0x60003000, "Overlay Data"),
        (0x60FE3000, "Overlay Data"),
        (0x601E4000, "Overlay Comments"),
        (0x00091010, "Private Attributes"),
        (0x7FE10010, "Private Attributes"),
        (0x00020003, "Media Storage SOP Instance UID"),
    ],
)
def test_row_for_finds_exact_range_and_private_rows(tag, name):
    row = TABLE.row_for(tag)
    assert row is not None and row.name == name


@pytest.mark.parametrize(
    ("tag", "name"),
    [
        (0x50010000, "Private Attributes"),  # odd group: private, not a curve
        (0x51000000, None),  # beyond the curve groups
        (0x60000010, None),  # Overlay Rows: not listed
        (0x61003000, None),  # beyond the overlay groups
        (0x00180015, None),  # Body Part Examined: not listed
    ],
)
def test_row_for_does_not_stretch_ranges(tag, name):
    row = TABLE.row_for(tag)
    assert (row.name if row else None) == name


def test_is_curve_only_even_groups():
    assert is_curve(0x501E0000)
    assert not is_curve(0x501F0000)


@pytest.mark.parametrize(
    ("code", "type_", "single"),
    [
        ("X/Z", "3", "X"),
        ("X/Z", "2", "Z"),
        ("X/Z", "2C", "Z"),
        ("X/Z", "1", "D"),  # Z may be a dummy: a Type 1 attribute needs a value
        ("X/D", "3", "X"),
        ("X/D", "2", "D"),  # no empty alternative
        ("X/D", "1C", "D"),
        ("Z/D", "3", "Z"),
        ("Z/D", "2", "Z"),
        ("Z/D", "1", "D"),
        ("X/Z/D", "3", "X"),
        ("X/Z/D", "2", "Z"),
        ("X/Z/D", "1", "D"),
        ("X/Z/U*", "3", "X"),
        ("X/Z/U*", "2", "Z"),
        ("X/Z/U*", "1", "U"),
        ("X/Z/D", None, "X"),  # not part of the IOD: removing it keeps it valid
        ("Z/D", None, "Z"),
    ],
)
def test_combined_codes_resolve_by_the_attributes_type(code, type_, single):
    found = TypeFinding(type_, f"Type {type_} in IOD test")
    assert resolve_by_type(code, found) == (single, found.reason)


def test_single_codes_need_no_type_and_unknown_codes_are_refused():
    assert resolve_by_type("U", TypeFinding("1", "x")) == ("U", "")
    with pytest.raises(UnknownCodeError, match=r"unknown Table E\.1-1 action code 'Q'"):
        is_combined("Q")
    with pytest.raises(UnknownCodeError, match="not a single"):
        action_code("X/Z")


def test_every_code_in_the_table_is_known():
    for row in TABLE.rows:
        for code in (row.basic, *(code for _, code in row.option_codes)):
            assert is_combined(code) or action_code(code)


def test_missing_range_rows_are_a_data_error():
    row = TableRow("Patient's Name", "(0010,0010)", 0x00100010, "Z", (), True)
    with pytest.raises(TableDataError, match=r"lacks the rows .*50XX,XXXX"):
        ProfileTable((row,))


def test_table_loads_from_an_installed_wheel(tmp_path: Path):
    """The data is read through importlib.resources, so a zipped install works."""
    root = Path(__file__).resolve().parents[2]
    archive = tmp_path / "deid.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in (root / "deid").rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, path.relative_to(root).as_posix())
    script = (
        "import deid.profiles as p; assert '.zip' in p.__file__, p.__file__; "
        "print(len(p.load_table()), len(p.load_safe_private()))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={"PYTHONPATH": str(archive)},
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "621"


def test_json_rows_have_the_documented_keys():
    data = json.loads(
        (
            Path(__file__).resolve().parents[2] / "deid/profiles/data/"
            "confidentiality_profile_attributes.json"
        ).read_text("utf-8")
    )
    assert {row["basicProfile"] for row in data} <= {
        "X", "Z", "D", "K", "C", "U", "X/Z", "X/D", "Z/D", "X/Z/D", "X/Z/U*",
    }  # fmt: skip
