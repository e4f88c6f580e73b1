"""The vault stops while a site de-identifies through it; a rerun finishes the batch.

``deid run --vault`` (two workers, its own process) runs until its first outputs
appear, then the vault process is terminated. The run must stop with a clear
message and exit status 3, leave no partial or temporary file, and every file it
did write must carry only pseudonyms the vault recorded: the site's forward lookup
finds each of them, and after a restart the rerun leaves every such file byte for
byte as it was while it completes the rest.
"""

from __future__ import annotations

import hashlib
import subprocess
import time
from pathlib import Path

import httpx
import pydicom
import pytest

from deid.corpus import CorpusManifest, generate_corpus
from deid.run.batch import REPORT_NAME
from deid.writing import TEMP_PREFIX
from tests.deid.batch_support import read_report
from tests.e2e.deployment import TRIAL, Deployment, deid_command, deployment, start_deid
from tests.vault.databases import BACKENDS

pytestmark = pytest.mark.e2e
SITE = "S01"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> CorpusManifest:
    """Four patients, two studies of two CT series each, with an SR and a KOS: 496 files,
    enough for chunks of the full size (a worker asks for its next chunks while the
    first are synced: with few chunks, it would be done before the vault stops)."""
    return generate_corpus(
        tmp_path_factory.mktemp("corpus") / "site",
        patients=4,
        studies_per_patient=2,
        series_per_study=2,
        instances_per_series=30,
        rows=16,
        cols=16,
        seed=23,
    )


def _outputs(out: Path) -> dict[Path, str]:
    """Every DICOM file in OUTPUT with the hash of its bytes."""
    return {
        path: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in out.rglob("*.dcm")
        if path.is_file()
    }


def _stop_vault_once_files_appear(
    deployed: Deployment, process: subprocess.Popen[bytes], out: Path
) -> None:
    deadline = time.monotonic() + 120
    while len(list(out.rglob("*.dcm"))) < 3:
        assert process.poll() is None, "deid ended before the vault could be stopped"
        assert time.monotonic() < deadline, "deid wrote nothing"
        time.sleep(0.01)
    deployed.server.stop()


def _recorded_uids(deployed: Deployment, corpus: CorpusManifest) -> set[str]:
    """The pseudonyms the vault holds for the corpus's UIDs (forward lookup)."""
    uids = {(entry.study_uid, entry.series_uid, entry.sop_uid) for entry in corpus.files}
    originals = sorted({uid for triple in uids for uid in triple if uid})
    items = [{"kind": "UID", "original": uid} for uid in originals]
    answer = httpx.post(
        f"{deployed.base}/v1/trials/{TRIAL}/sites/{SITE}/pseudonyms/lookup",
        json={"items": items},
        headers=deployed.uploader(SITE),
        timeout=30,
    )
    answer.raise_for_status()
    return {p for p in answer.json()["pseudonyms"] if p is not None}


@pytest.mark.parametrize("backend", BACKENDS)
def test_stopped_vault_stops_the_run_and_a_rerun_completes_it(
    backend: str, corpus: CorpusManifest, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    log = tmp_path / "deid.log"
    with deployment(backend, tmp_path) as deployed:
        command = deid_command(deployed, SITE, corpus.root, out, "--vault-timeout", "5")
        process = start_deid(command, log)
        try:
            _stop_vault_once_files_appear(deployed, process, out)
            status = process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
        text = log.read_text()
        assert status == 3, text
        assert f"the vault at {deployed.base} is unavailable" in text, text
        assert "rerun" in text
        assert "Traceback" not in text
        written_before = _outputs(out)
        assert 3 <= len(written_before) < len(corpus.files), text
        assert not list(out.rglob(f"{TEMP_PREFIX}*"))
        for path in written_before:
            complete = pydicom.dcmread(path)
            if "PixelData" in complete:
                assert complete.pixel_array.size  # complete, down to the last pixel

        deployed.server.start()
        recorded = _recorded_uids(deployed, corpus)
        for path in written_before:
            written = pydicom.dcmread(path, stop_before_pixels=True)
            uids = {written.StudyInstanceUID, written.SeriesInstanceUID, written.SOPInstanceUID}
            assert uids <= recorded, f"{path.name} carries a UID the vault did not record"

        rerun = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        report = read_report(out / REPORT_NAME)
        assert report["summary"]["inputs"] == len(corpus.files)
        assert {f["status"] for f in report["files"]} <= {"written", "skipped"}
        after = _outputs(out)
        assert {path: after.get(path) for path in written_before} == written_before
        assert set(after) == {out / f["output"] for f in report["files"]}
