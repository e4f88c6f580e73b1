"""Two sites de-identify in parallel through one deployed vault (uvicorn on loopback).

Per backend (SQLite, PostgreSQL): a trial with two sites, a corpus whose shared
patients were seen at both sites, ``deid run --vault`` for both sites at once (two
processes, two workers each); then one subject per patient across the sites, one
date offset per patient, no original in any output byte and none in clear in any
table of the vault's database.
"""

from __future__ import annotations

import subprocess
from collections import defaultdict
from datetime import date
from pathlib import Path

import pydicom
import pytest
from sqlalchemy import func, select

from deid.corpus import CorpusManifest, generate_corpus
from deid.run.batch import REPORT_NAME
from tests.deid.batch_support import inputs_with_records, plain_bytes, read_report
from tests.e2e.deployment import (
    TRIAL,
    Deployment,
    SiteInput,
    deid_command,
    deployment,
    split_between_sites,
    start_deid,
)
from tests.vault.databases import BACKENDS, sqlite_file_bytes, table_bytes
from vault.crypto import normalize
from vault.db import create_vault_engine
from vault.models import Mapping, Subject

pytestmark = pytest.mark.e2e
SHARED_PATIENTS = (1, 2)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> CorpusManifest:
    """Six patients, two studies each, CT with an SR and a KOS per study: 48 files."""
    return generate_corpus(
        tmp_path_factory.mktemp("corpus") / "all",
        patients=6,
        studies_per_patient=2,
        series_per_study=1,
        instances_per_series=2,
        rows=16,
        cols=16,
        seed=11,
    )


def _run_both_sites(deployed: Deployment, inputs: list[SiteInput], work: Path) -> None:
    processes = [
        (
            share,
            start_deid(
                deid_command(deployed, share.site, share.root, work / f"out-{share.site}"),
                work / f"deid-{share.site}.log",
            ),
        )
        for share in inputs
    ]
    for share, process in processes:
        try:
            status = process.wait(timeout=300)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        log = (work / f"deid-{share.site}.log").read_text()
        assert status == 0, log
        assert f"{len(share.files)} input files: {len(share.files)} written" in log, log
        assert f"the vault at {deployed.base}" in log


def _outputs(share: SiteInput, work: Path) -> dict[str, Path]:
    out = work / f"out-{share.site}"
    return {
        relative: out / record["output"]
        for relative, record in inputs_with_records(share.root, read_report(out / REPORT_NAME))
    }


def _days(text: str) -> date:
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def _needles(corpus: CorpusManifest) -> set[str]:
    originals = {o for entry in corpus.files for o in entry.originals}
    originals |= {p.folder for p in corpus.patients}
    return {o for o in originals if len(o) >= 4}


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_sites_in_parallel_share_subjects_and_leak_nothing(
    backend: str, corpus: CorpusManifest, tmp_path: Path
) -> None:
    inputs = split_between_sites(corpus, tmp_path, SHARED_PATIENTS)
    assert all(share.files for share in inputs)
    with deployment(backend, tmp_path) as deployed:
        _run_both_sites(deployed, inputs, tmp_path)

        subjects: dict[int, set[str]] = defaultdict(set)
        offsets: dict[int, set[int]] = defaultdict(set)
        sites_of: dict[int, set[str]] = defaultdict(set)
        needles = [n.lower().encode() for n in _needles(corpus)]
        for share in inputs:
            for relative, output in _outputs(share, tmp_path).items():
                entry = share.files[relative]
                written = pydicom.dcmread(output)
                assert written.ClinicalTrialProtocolID == TRIAL
                assert written.ClinicalTrialSiteID == share.site
                subjects[entry.patient].add(str(written.PatientID))
                sites_of[entry.patient].add(share.site)
                if entry.kind == "CT":
                    original = corpus.patients[entry.patient]
                    study = next(s for s in original.studies if s.study_uid == entry.study_uid)
                    shift = _days(written.StudyDate) - _days(study.study_date)
                    offsets[entry.patient].add(shift.days)
                data = plain_bytes(output).lower()
                leaked = [n for n in needles if n in data]
                assert not leaked, f"{output}: {len(leaked)} originals of the corpus left"

        assert {p: sites_of[p] for p in SHARED_PATIENTS} == {
            p: {"S01", "S02"} for p in SHARED_PATIENTS
        }
        assert all(len(ids) == 1 for ids in subjects.values()), subjects
        assert len({next(iter(ids)) for ids in subjects.values()}) == len(corpus.patients)
        assert all(len(days) == 1 for days in offsets.values()), offsets
        assert all(-730 <= next(iter(days)) <= -30 for days in offsets.values())

        engine = create_vault_engine(deployed.database_url)
        try:
            with engine.connect() as connection:
                assert connection.execute(select(func.count()).select_from(Subject)).scalar() == 6
                assert connection.execute(select(func.count()).select_from(Mapping)).scalar() > 48
            dumped = table_bytes(engine)
            raw = sqlite_file_bytes(engine)
        finally:
            engine.dispose()
        forms = {f for n in _needles(corpus) for f in (n, normalize("FULL_NAME", n), n.upper())}
        encoded = {f.encode() for f in forms if len(f) >= 4}
        hits = [(table, n) for table, data in dumped.items() for n in encoded if n in data]
        assert not hits, f"{len(hits)} originals stored in clear in {sorted({t for t, _ in hits})}"
        assert raw is None or not [n for n in encoded if n in raw]
