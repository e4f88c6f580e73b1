"""``deid reidentify`` and ``deid requests``: help, refused command lines, an unreachable vault."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from deid.cli import main
from deid.contract.errors import ExitStatus
from deid.reidentify.http import HttpReidentificationClient
from deid.reidentify.job import REPORT_NAME, ReidentifyJob, reidentify
from deid.vault_client import VaultConnection
from deid.writing import TEMP_PREFIX
from tests.reidentify.world import JUSTIFICATION
from tests.vault.servers import free_port

CORPUS_FILE = "01-00001/2.25.1/2.25.2/2.25.3.dcm"


def _args(tmp_path: Path, token: Path, *extra: str) -> list[str]:
    return [
        "reidentify",
        str(tmp_path / "in"),
        str(tmp_path / "out"),
        "--vault",
        "http://127.0.0.1:9",
        "--token-file",
        str(token),
        "--trial",
        "ONCO-42",
        "--purpose",
        "clinical_care",
        "--justification",
        JUSTIFICATION,
        *extra,
    ]


def _token(tmp_path: Path, mode: int = 0o600) -> Path:
    path = tmp_path / "me.token"
    path.write_text("dvt_" + "a" * 40 + "\n", encoding="utf-8")
    path.chmod(mode)
    return path


def test_help_explains_the_flow_and_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "reidentify" in text and "requests" in text
    assert main(["reidentify", "--help"]) == 0
    text = capsys.readouterr().out
    for needle in ("--grant ID", "approver other than you", "incidental_finding", "  4    "):
        assert needle in text
    assert main(["requests", "approve", "--help"]) == 0
    assert "cannot decide your own" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("mode", "extra", "message"),
    [
        (0o644, [], "can be read by other users"),
        (0o600, ["--purpose", "curiosity"], "invalid choice"),
        (0o600, ["--grant", "x"], "a request ID is a number"),
    ],
)
def test_unusable_command_lines_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: int, extra: list[str], message: str
) -> None:
    (tmp_path / "in").mkdir()
    assert main(_args(tmp_path, _token(tmp_path, mode), *extra)) == ExitStatus.USAGE
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_output_inside_input_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in").mkdir()
    argv = _args(tmp_path, _token(tmp_path))
    argv[2] = str(tmp_path / "in" / "restored")
    assert main(argv) == ExitStatus.USAGE
    assert "overlap" in capsys.readouterr().err


def test_an_unreachable_vault_stops_the_job_and_writes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "in"
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = "2.25.3"
    ds.PatientID = "01-00001"
    ds.ClinicalTrialSubjectID = "01-00001"
    ds.PatientIdentityRemoved = "YES"
    (source / CORPUS_FILE).parent.mkdir(parents=True)
    ds.save_as(source / CORPUS_FILE, enforce_file_format=True)
    stale = tmp_path / "out" / "01-00001" / f"{TEMP_PREFIX}crashed"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half a file from an interrupted run")
    connection = VaultConnection(f"http://127.0.0.1:{free_port()}", "dvt_x", retries=0)
    job = ReidentifyJob(source, tmp_path / "out", "ONCO-42", "clinical_care", JUSTIFICATION)
    lines: list[str] = []
    result = reidentify(job, HttpReidentificationClient(connection), say=lines.append)
    assert result.exit_status == ExitStatus.STORE
    assert result.stopped and "unavailable" in result.stopped
    assert "deid requests list" in result.stopped
    assert [f.status for f in result.files] == ["not-written"]
    assert not list((tmp_path / "out").rglob("*.dcm"))
    assert (tmp_path / "out" / REPORT_NAME).exists()
    assert not stale.exists()
