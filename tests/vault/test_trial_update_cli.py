"""``deid-vault trial update`` on a site's vault: the next files carry the new names."""

import io
from pathlib import Path

import pydicom
import pytest

from deid.cli import main as deid_main
from deid.corpus import generate_corpus
from tests.deid.batch_support import read_report
from vault.cli import main as vault_main

TRIAL = "ONC-42"


def _deid(source: Path, out: Path, store: Path, *extra: str) -> list[pydicom.Dataset]:
    argv = ["run", str(source), str(out), "--trial", TRIAL, "--site", "S01"]
    argv += ["--store", str(store), "--workers", "1", "--no-progress", *extra]
    assert deid_main(argv) == 0
    report = read_report(out / "deid-report.json")
    return [pydicom.dcmread(out / f["output"]) for f in report["files"] if f.get("output")]


def _vault(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return vault_main(list(argv), out=out), out.getvalue()


def test_names_changed_after_creation_reach_the_next_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "export"
    generate_corpus(
        source,
        patients=1,
        studies_per_patient=1,
        series_per_study=1,
        instances_per_series=2,
        rows=16,
        cols=16,
        seed=3,
        include_documents=False,
    )
    store = tmp_path / "site-vault" / "vault.sqlite"
    config = tmp_path / "onco42.toml"
    config.write_text('protocol_name = "Onco 42"\n[sites]\nS01 = "General"\n')
    before = _deid(source, tmp_path / "first", store, "--trial-config", str(config))
    assert {str(ds.ClinicalTrialSponsorName) for ds in before} == {"UNSPECIFIED SPONSOR"}

    monkeypatch.setenv("VAULT_DATABASE_URL", f"sqlite:///{store}")
    monkeypatch.setenv("VAULT_KEY_DIR", str(store.parent / "keys"))
    # The configuration file, put right, is applied to the trial that exists.
    config.write_text('sponsor_name = "Acme Oncology"\nprotocol_name = "Onco 42"\n')
    code, out = _vault("trial", "update", TRIAL, "--config", str(config))
    assert (code, out) == (0, f"trial {TRIAL}: sponsor_name\n")
    code, out = _vault("trial", "update", TRIAL, "--site", "S01=Halifax Infirmary")
    assert (code, out) == (0, f"trial {TRIAL}: site S01 renamed\n")
    assert _vault("trial", "update", TRIAL, "--set", "grant_ttl_hours=24") == (
        0,
        f"trial {TRIAL}: nothing changed\n",
    )
    # What shaped the files already written stays.
    assert _vault("trial", "update", TRIAL, "--set", "date_offset_max_days=-1")[0] == 2
    assert "date_offset_max_days can no longer change" in capsys.readouterr().err
    assert _vault("trial", "update", TRIAL, "--set", "sponsor_name")[0] == 2
    assert "--set takes NAME=VALUE, not 'sponsor_name'" in capsys.readouterr().err
    assert _vault("trial", "update", TRIAL)[0] == 2
    assert "name what to change" in capsys.readouterr().err

    after = _deid(source, tmp_path / "second", store)
    assert {(str(ds.ClinicalTrialSponsorName), str(ds.ClinicalTrialSiteName)) for ds in after} == {
        ("Acme Oncology", "Halifax Infirmary")
    }
    assert {str(ds.ClinicalTrialProtocolName) for ds in before + after} == {"Onco 42"}
    # The same patient, the same subject, the same shifted dates: only the names moved.
    assert sorted((ds.PatientID, ds.StudyDate, ds.SOPInstanceUID) for ds in before) == sorted(
        (ds.PatientID, ds.StudyDate, ds.SOPInstanceUID) for ds in after
    )
    code, out = _vault("audit", "export", "--format", "csv", "--action", "trial.update")
    assert code == 0 and len(out.splitlines()) == 3  # the header and two changes
