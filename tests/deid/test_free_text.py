"""Free text PS3.15 does not list and nobody reviewed fails closed; keeping it is asked.

Dose Comment (3004,0006), LO, stands for such an attribute: not in Table E.1-1, not
on ``reviewed_text_attributes.json``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_fixtures import (
    PATIENT_NAME,
    ct_dataset,
    engine,
    reread,
    result_bytes,
    store,
    write_file,
)
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from deid.cli import main
from deid.dates import parse_da
from deid.engine import Engine
from deid.handlers.text_dates import move_dates_in_text
from deid.outcome import Deidentified
from deid.profiles import build_rules, parse_recipe, review
from deid.run.settings import RuleSettings
from deid.store.memory import MemoryStore

DOSE_COMMENT = 0x30040006
TRIAL = ("retain-long-modified-dates",)
NOTE = "Given 15/01/2020 at 10:00, 2 mg"


def _with_free_text(note: str = NOTE) -> Dataset:
    ds = ct_dataset()
    ds.add_new(DOSE_COMMENT, "LO", note)
    nested = Dataset()
    nested.add_new(DOSE_COMMENT, "LO", note)
    nested.DoseReferenceNumber = 1
    ds.DoseReferenceSequence = Sequence([nested])  # not in Table E.1-1: kept, walked into
    return ds


def _offset(result: Dataset) -> int:
    return (parse_da(result.StudyDate) - parse_da("20191231")).days


@pytest.mark.parametrize("options", [TRIAL, ()], ids=["trial", "basic"])
def test_unreviewed_text_is_removed_by_default_at_any_depth(options, tmp_path):
    outcome = engine(options).process(write_file(_with_free_text(), tmp_path / "in.dcm"))
    assert isinstance(outcome, Deidentified)
    result = reread(outcome)
    assert DOSE_COMMENT not in result
    assert DOSE_COMMENT not in result.DoseReferenceSequence[0]
    assert result.DoseReferenceSequence[0].DoseReferenceNumber == 1  # a number: kept
    assert b"15/01/2020" not in result_bytes(outcome)
    assert outcome.unreviewed_text == 2  # the report counts them


def _keeping_engine(options: tuple[str, ...] = TRIAL, mapping_store: MemoryStore | None = None):  # type: ignore[no-untyped-def]
    rules = RuleSettings(options=options, keep_unreviewed_text=True).build_rules()
    return Engine(rules, mapping_store or store())


def test_kept_unreviewed_text_has_its_dates_moved(tmp_path):
    outcome = _keeping_engine().process(write_file(_with_free_text(), tmp_path / "in.dcm"))
    result = reread(outcome)
    moved = move_dates_in_text(NOTE, _offset(result))
    assert moved != NOTE and moved.startswith("Given ") and moved.endswith(" at 10:00, 2 mg")
    assert result[DOSE_COMMENT].value == moved
    assert result.DoseReferenceSequence[0][DOSE_COMMENT].value == moved
    assert outcome.unreviewed_text == 2  # kept, and still counted


def test_kept_unreviewed_text_naming_the_patient_is_removed_whole(tmp_path):
    family = PATIENT_NAME.split("^")[0]
    ds = _with_free_text(f"for {family}: given 15/01/2020")
    outcome = _keeping_engine().process(write_file(ds, tmp_path / "in.dcm"))
    result = reread(outcome)
    assert DOSE_COMMENT not in result  # never half a value
    assert family.encode() not in result_bytes(outcome)


def test_under_full_dates_kept_text_keeps_its_dates(tmp_path):
    options = ("retain-long-full-dates",)
    outcome = _keeping_engine(options).process(write_file(_with_free_text(), tmp_path / "in.dcm"))
    assert reread(outcome)[DOSE_COMMENT].value == NOTE


def test_a_recipe_keep_keeps_unreviewed_text_the_same_way(tmp_path):
    recipe = parse_recipe("FORMAT dicom\n%header\nKEEP DoseComment\n", "site.recipe")
    assert review(recipe, TRIAL) == []  # an explicit keep, not a contradiction
    the_engine = Engine(build_rules(TRIAL, recipe=recipe, with_trial_recipe=True), store())
    result = reread(the_engine.process(write_file(_with_free_text(), tmp_path / "in.dcm")))
    assert result[DOSE_COMMENT].value == move_dates_in_text(NOTE, _offset(result))
    rows = the_engine.inspect(dcmread(tmp_path / "in.dcm")).rows
    row = next(r for r in rows if r.keyword == "DoseComment" and "[" not in r.path)
    assert "kept by site.recipe line 3" in row.action and "removed whole" in row.action


def test_dates_in_cleaned_descriptions_move_with_the_patient(tmp_path):
    ds = ct_dataset()
    ds.StudyDescription = "CT head 2019-12-31 follow-up of 01 Dec 2019"
    options = (*TRIAL, "clean-descriptors")
    result = reread(engine(options).process(write_file(ds, tmp_path / "in.dcm")))
    offset = _offset(result)
    assert result.StudyDescription == move_dates_in_text(ds.StudyDescription, offset)
    assert "2019-12-31" not in result.StudyDescription


def test_the_command_line_keeps_unreviewed_text_only_when_asked(tmp_path, capsys):
    path = write_file(_with_free_text(), tmp_path / "in.dcm")
    assert main(["inspect", str(path)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("DoseComment "))
    assert "REMOVE" in line and "fails closed" in line
    assert main(["inspect", str(path), "--keep-unreviewed-text"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("DoseComment "))
    assert "CLEAN" in line and "--keep-unreviewed-text" in line
    assert main(["inspect", str(path), "--strict"]) == 0  # older scripts: now the default
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("DoseComment "))
    assert "REMOVE" in line
    assert main(["inspect", str(path), "--strict", "--keep-unreviewed-text"]) == 2
    assert "not allowed with" in capsys.readouterr().err


def test_run_settings_carry_the_choice(tmp_path: Path):
    kept = RuleSettings(keep_unreviewed_text=True)
    assert kept.fingerprint()["keep_unreviewed_text"] is True
    assert RuleSettings().fingerprint()["keep_unreviewed_text"] is False
