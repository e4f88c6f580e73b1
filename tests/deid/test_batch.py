"""``deid run`` over a generated corpus: names, leaks, quarantine, resume, workers.

Runs go through :func:`deid.run.batch.run_batch` with the memory store served to every
worker from the test process (the way ``--anonymize`` serves it, but kept across
runs, as the embedded vault would be), and through ``main([...])`` for
``--anonymize`` itself.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pydicom
import pytest

from deid.cli import main
from deid.contract.trial_config import TrialConfig
from deid.corpus import CorpusManifest, generate_corpus
from deid.report import FileRecord, RunReport, Status
from deid.run.batch import REPORT_NAME, run_batch
from deid.run.config import BatchConfig
from deid.run.ledger import DONE_FILE, STATE_FOLDER, BatchError
from deid.run.settings import RuleSettings
from deid.store.factory import StoreSpec
from deid.store.served import StoreServer
from deid.writing import TEMP_PREFIX
from tests.deid.batch_support import inputs_with_records, plain_bytes, read_report, snapshot

EXPECTED_REASONS = {
    "not_dicom": "not-dicom",
    "truncated": "truncated",
    "encapsulated_pdf": "encapsulated-document",
    "burned_in": "burned-in-annotation",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> CorpusManifest:
    return generate_corpus(
        tmp_path_factory.mktemp("site") / "export",
        patients=3,
        studies_per_patient=2,
        series_per_study=2,
        instances_per_series=2,
        rows=32,
        cols=32,
        seed=11,
        include_bad_files=True,
    )


@pytest.fixture
def store() -> Iterator[Any]:
    """One trial's mapping store, alive for the whole test (several runs)."""
    with StoreServer() as server:
        yield server.memory(TrialConfig(key="T1"), "07", anonymized=False)


def _config(corpus: CorpusManifest, out: Path, store: Any, **changes: Any) -> BatchConfig:
    rules = changes.pop("rules", RuleSettings(options=("retain-long-modified-dates",)))
    return BatchConfig(
        input_root=corpus.root,
        output_root=out,
        quarantine_root=out.parent / f"{out.name}-quarantine",
        rules=rules,
        store=StoreSpec("T1", "07", shared_proxy=store),
        **changes,
    )


def _outputs(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.is_file() and STATE_FOLDER not in p.parts)


def _days(value: str) -> date:
    return date(int(value[:4]), int(value[4:6]), int(value[6:8]))


def _referenced_uids(ds: pydicom.Dataset) -> set[str]:
    found: set[str] = set()

    def visit(_: pydicom.Dataset, element: pydicom.DataElement) -> None:
        if element.keyword == "ReferencedSOPInstanceUID":
            found.add(str(element.value))

    ds.walk(visit)
    return found


def _written(corpus: CorpusManifest, out: Path, report: dict[str, Any]) -> dict[str, Path]:
    """Input relative path -> its output file, for written and skipped inputs."""
    return {
        relative: out / record["output"]
        for relative, record in inputs_with_records(corpus.root, report)
        if record["status"] in ("written", "skipped")
    }


def test_run_writes_what_it_can_and_quarantines_the_rest(
    corpus: CorpusManifest, store: Any, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    before = snapshot(corpus.root)
    report = run_batch(_config(corpus, out, store), workers=2)
    data = read_report(out / REPORT_NAME)

    expected = {f.path: f for f in corpus.files}
    for relative, record in inputs_with_records(corpus.root, data):
        entry = expected[relative]
        if entry.expected == "written":
            assert record["status"] == "written", (relative, record)
        else:
            assert record["status"] == "quarantined"
            assert record["reason"] == EXPECTED_REASONS[entry.kind]
    assert data["summary"]["written"] == 36 and data["summary"]["quarantined"] == 4
    assert data["summary"]["subjects"] == 3
    assert report.reasons() == {reason: 1 for reason in EXPECTED_REASONS.values()}
    # Inputs are untouched: same bytes, same modification times, same modes.
    assert snapshot(corpus.root) == before
    # Nothing half-written and nothing but the written files in OUTPUT.
    outputs = _outputs(out)
    assert not [p for p in outputs if p.name.startswith(TEMP_PREFIX)]
    assert sorted(out / r["output"] for r in data["files"] if "output" in r) == [
        p for p in outputs if p.name != REPORT_NAME
    ]


def test_output_names_come_from_new_identifiers_only(
    corpus: CorpusManifest, store: Any, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run_batch(_config(corpus, out, store))
    input_parts = {
        part.lower()
        for entry in corpus.files
        for part in re.split(r"[/_.]", entry.path)
        if len(part) > 2 and part not in ("dcm",)
    }
    for path in _outputs(out):
        relative = path.relative_to(out).as_posix()
        if relative == REPORT_NAME:
            continue
        subject, study, series, instance = relative.split("/")
        assert re.fullmatch(r"07-\d{4}\d", subject), relative
        for uid in (study, series, instance.removesuffix(".dcm")):
            assert re.fullmatch(r"2\.25\.\d+", uid), relative
        assert not input_parts & set(re.split(r"[/_.]", relative.lower()))
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert (ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID) == (subject, study, series)
        assert ds.SOPInstanceUID == instance.removesuffix(".dcm")


def test_no_identifying_original_survives_in_any_output(
    corpus: CorpusManifest, store: Any, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run_batch(_config(corpus, out, store), workers=2)
    written = _written(corpus, out, read_report(out / REPORT_NAME))
    assert len(written) == 36
    for relative, output in written.items():
        data = plain_bytes(output).lower()
        leaked = [o for o in corpus.file(relative).originals if o.lower().encode() in data]
        assert not leaked, f"{output.name}: originals of {relative} left: {leaked}"
    report_text = (out / REPORT_NAME).read_text().lower()
    for entry in corpus.files:
        assert entry.path.split("/")[0].lower() not in report_text


def test_quarantine_keeps_the_original_and_the_reason(
    corpus: CorpusManifest, store: Any, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    config = _config(corpus, out, store)
    run_batch(config)
    data = read_report(out / REPORT_NAME)
    quarantined = {
        relative: record
        for relative, record in inputs_with_records(corpus.root, data)
        if record["status"] == "quarantined"
    }
    assert len(quarantined) == 4
    for relative, record in quarantined.items():
        copy = config.quarantine_root / f"{record['input_id']}.orig"
        assert copy.read_bytes() == (corpus.root / relative).read_bytes()
        reason = read_report(config.quarantine_root / f"{record['input_id']}.reason.json")
        assert reason["source"] == relative
        assert reason["reason"] == record["reason"]
        assert reason["message"] == record["message"]
    # None of the quarantined objects reached OUTPUT, not even in part.
    written_uids = {
        pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID
        for p in _outputs(out)
        if p.suffix == ".dcm"
    }
    assert len(written_uids) == 36


def test_every_patient_keeps_one_subject_and_one_date_offset_across_workers(
    corpus: CorpusManifest, store: Any, tmp_path: Path
) -> None:
    studies = {s.study_uid: (p.index, s.study_date) for p in corpus.patients for s in p.studies}
    per_run = []
    for workers, name in ((1, "one"), (2, "two")):
        out = tmp_path / name
        run_batch(_config(corpus, out, store), workers=workers)
        subjects: dict[int, set[str]] = defaultdict(set)
        offsets: dict[int, set[int]] = defaultdict(set)
        sop_uids: set[str] = set()
        study_uids: set[str] = set()
        referenced: set[str] = set()
        for relative, output in _written(corpus, out, read_report(out / REPORT_NAME)).items():
            entry = corpus.file(relative)
            ds = pydicom.dcmread(output, stop_before_pixels=True)
            patient, original_date = studies[entry.study_uid]
            subjects[patient].add(ds.PatientID)
            offsets[patient].add((_days(ds.StudyDate) - _days(original_date)).days)
            sop_uids.add(ds.SOPInstanceUID)
            study_uids.add(ds.StudyInstanceUID)
            referenced |= _referenced_uids(ds)
        assert all(len(s) == 1 for s in subjects.values())
        assert len({next(iter(s)) for s in subjects.values()}) == 3
        assert all(len(o) == 1 and 0 not in o for o in offsets.values())
        # References (images, sources, the prior study) point at the new objects.
        assert referenced and referenced <= sop_uids | study_uids
        per_run.append((dict(subjects), dict(offsets)))
    assert per_run[0] == per_run[1]


def test_rerun_skips_what_is_done_and_redoes_what_changed(
    corpus: CorpusManifest, store: Any, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    config = _config(corpus, out, store)
    first = run_batch(config)
    assert first.counts()["written"] == 36

    second = run_batch(config)
    assert second.counts() == {"skipped": 36, "quarantined": 4}
    assert {r.output for r in second.files if r.output} == {
        r.output for r in first.files if r.output
    }

    # An output deleted since, and a stale temporary file: redone and removed.
    data = read_report(out / REPORT_NAME)
    gone = out / next(r["output"] for r in data["files"] if r["status"] == "skipped")
    gone.unlink()
    stale = gone.parent / f"{TEMP_PREFIX}crashed"
    stale.write_bytes(b"half a file")
    third = run_batch(config)
    assert third.counts() == {"skipped": 35, "written": 1, "quarantined": 4}
    assert gone.is_file() and not stale.exists()


@pytest.mark.parametrize("workers", [1, 2])
def test_an_interrupted_run_leaves_whole_files_and_resumes(
    corpus: CorpusManifest, store: Any, tmp_path: Path, workers: int
) -> None:
    out = tmp_path / "out"
    config = _config(corpus, out, store)
    seen: list[FileRecord] = []

    def interrupt_after_ten(record: FileRecord) -> None:
        seen.append(record)
        if len(seen) == 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(config, workers=workers, on_result=interrupt_after_ten)
    interrupted = read_report(out / REPORT_NAME)
    assert interrupted["stopped"] == "interrupted"
    assert interrupted["summary"]["not_processed"] > 0
    partial = [p for p in _outputs(out) if p.suffix == ".dcm"]
    assert not [p for p in _outputs(out) if p.name.startswith(TEMP_PREFIX)]
    for path in partial:
        pydicom.dcmread(path)  # whole files only

    resumed = run_batch(config, workers=workers)
    counts = resumed.counts()
    assert counts["skipped"] >= len([r for r in seen if r.status is Status.WRITTEN])
    assert counts["skipped"] + counts["written"] == 36 and counts["quarantined"] == 4
    assert len([p for p in _outputs(out) if p.suffix == ".dcm"]) == 36
    lines = (out / STATE_FOLDER / DONE_FILE).read_text().splitlines()
    assert len(lines) == 36


def test_other_settings_into_the_same_output_are_refused(
    corpus: CorpusManifest, store: Any, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run_batch(_config(corpus, out, store))
    other = _config(corpus, out, store, rules=RuleSettings(options=("clean-descriptors",)))
    with pytest.raises(BatchError, match=r"options.* differ"):
        run_batch(other)


def test_folders_that_overlap_the_input_are_refused(
    corpus: CorpusManifest, store: Any, tmp_path: Path
) -> None:
    inside = _config(corpus, corpus.root / "out", store)
    with pytest.raises(BatchError, match="overlap"):
        run_batch(inside)
    config = _config(corpus, tmp_path / "out", store)
    nested = BatchConfig(
        input_root=config.input_root,
        output_root=config.output_root,
        quarantine_root=config.output_root / "q",
        rules=config.rules,
        store=config.store,
    )
    with pytest.raises(BatchError, match="inside OUTPUT"):
        run_batch(nested)
    assert not (corpus.root / "out").exists()


def test_anonymize_is_consistent_within_a_run_and_keeps_nothing(
    corpus: CorpusManifest, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    status = main(
        ["run", str(corpus.root), str(out), "--anonymize", "--workers", "2", "--no-progress"]
    )
    assert status == 1  # the four bad files
    data = read_report(out / REPORT_NAME)
    subjects: dict[int, set[str]] = defaultdict(set)
    for relative, output in _written(corpus, out, data).items():
        ds = pydicom.dcmread(output, stop_before_pixels=True)
        subjects[corpus.file(relative).patient].add(ds.PatientID)
        assert "anonymized: no mapping kept" in ds.DeidentificationMethod
    assert sorted(len(s) for s in subjects.values()) == [1, 1, 1]
    # No store anywhere: only the outputs, the report, the run state and the quarantine.
    everything = {p.relative_to(tmp_path).parts[0] for p in tmp_path.rglob("*") if p.is_file()}
    assert everything == {"out", "out-quarantine"}
    assert not [p for p in tmp_path.rglob("*") if p.suffix in (".sqlite", ".key", ".db")]
    # A second --anonymize run into the same OUTPUT would re-pseudonymize: refused.
    again = main(["run", str(corpus.root), str(out), "--anonymize", "--no-progress"])
    assert again == 2


def test_report_summary_lines_match_the_json(
    corpus: CorpusManifest, store: Any, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    report: RunReport = run_batch(_config(corpus, out, store), report_path=tmp_path / "r.json")
    assert not (out / REPORT_NAME).exists()
    data = read_report(tmp_path / "r.json")
    assert report.summary_lines()[0].startswith("40 input files: 36 written, 0 skipped")
    assert data["settings"]["trial"] == "T1" and data["settings"]["workers"] == 1
    assert all(re.fullmatch(r"[0-9a-f]{32}", r["input_id"]) for r in data["files"])


@pytest.mark.e2e
def test_a_killed_run_leaves_whole_files_and_a_rerun_finishes(tmp_path: Path) -> None:
    """Power loss, simulated: SIGKILL to the run and its workers mid-batch."""
    corpus = generate_corpus(
        tmp_path / "export",
        patients=4,
        studies_per_patient=2,
        series_per_study=2,
        instances_per_series=10,
        rows=64,
        cols=64,
        include_documents=False,
    )
    out = tmp_path / "out"
    argv = ["run", str(corpus.root), str(out), "--trial", "T1", "--site", "07"]
    argv += ["--workers", "2", "--no-progress"]
    done = out / STATE_FOLDER / DONE_FILE
    process = subprocess.Popen(
        [sys.executable, "-m", "deid.cli", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if done.exists() and len(done.read_text().splitlines()) >= 5:
            os.killpg(process.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    assert process.wait(timeout=60) == -signal.SIGKILL, "the run ended before it was killed"
    for path in out.rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        assert len(ds.PixelData) == ds.Rows * ds.Columns * 2  # never a partial file

    assert main(argv) == 0
    report = read_report(out / REPORT_NAME)
    assert report["summary"]["written"] + report["summary"]["skipped"] == len(corpus.files)
    assert report["summary"]["skipped"] >= 5
    assert len(list(out.rglob("*.dcm"))) == len(corpus.files)
    assert not [p for p in out.rglob(f"{TEMP_PREFIX}*")]
