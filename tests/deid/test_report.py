"""The run report: counts, reasons, JSON shape and the terminal summary."""

from __future__ import annotations

import json
from pathlib import Path

from deid.outcome import QuarantineReason
from deid.report import REASON_HELP, FileRecord, Reason, RunReport, Status


def _report() -> RunReport:
    report = RunReport(settings={"trial": "T1"})
    report.add(FileRecord("a" * 32, Status.WRITTEN, output="S1/1/2/3.dcm", subject_id="S1"))
    report.add(FileRecord("b" * 32, Status.SKIPPED, output="S1/1/2/4.dcm", subject_id="S1"))
    report.add(FileRecord("c" * 32, Status.WRITTEN, output="S2/5/6/7.dcm", subject_id="S2",
                          unreviewed_text=3))  # fmt: skip
    report.add(FileRecord("d" * 32, Status.QUARANTINED, "not-dicom", "no DICM prefix"))
    report.add(FileRecord("e" * 32, Status.QUARANTINED, "not-dicom", "no DICM prefix"))
    report.add(FileRecord("f" * 32, Status.FAILED, Reason.WRITE_ERROR, "disk full"))
    return report


def test_counts_reasons_and_completeness() -> None:
    report = _report()
    assert report.counts() == {"written": 2, "skipped": 1, "quarantined": 2, "failed": 1}
    assert report.reasons() == {"not-dicom": 2, "write-error": 1}
    assert report.unreviewed_text() == (1, 3)
    assert not report.complete
    clean = RunReport(settings={})
    clean.add(FileRecord("a" * 32, Status.SKIPPED, output="x.dcm"))
    clean.finish()
    assert clean.complete
    clean.finish(stopped="interrupted", not_processed=4)
    assert not clean.complete


def test_json_report_round_trips_records_and_summarises(tmp_path: Path) -> None:
    report = _report()
    report.finish()
    path = tmp_path / "r.json"
    report.write(path)
    data = json.loads(path.read_text())
    assert data["summary"] == {
        "inputs": 6,
        "written": 2,
        "skipped": 1,
        "quarantined": 2,
        "failed": 1,
        "not_processed": 0,
        "reasons": {"not-dicom": 2, "write-error": 1},
        "subjects": 2,
        "files_with_unreviewed_text": 1,
    }
    assert data["files"][3] == {
        "input_id": "d" * 32,
        "status": "quarantined",
        "reason": "not-dicom",
        "message": "no DICM prefix",
    }
    assert [FileRecord.from_dict(f) for f in data["files"]] == report.files


def test_summary_lines_explain_reasons_and_stops() -> None:
    report = _report()
    report.finish(stopped="the mapping store failed", not_processed=5)
    text = "\n".join(report.summary_lines())
    assert text.startswith("11 input files: 2 written, 1 skipped")
    assert "2  not-dicom: not a DICOM file" in text
    assert "1  write-error: the output could not be written" in text
    assert "--keep-unreviewed-text" in text
    assert "5 inputs not processed: rerun the same command to resume" in text


def test_every_reason_code_has_help_text() -> None:
    codes = {str(r) for r in QuarantineReason} | {str(r) for r in Reason}
    assert codes <= set(REASON_HELP)
