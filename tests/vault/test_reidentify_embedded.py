"""Re-identification of files through the vault's services in process (the embedded
client), on SQLite and PostgreSQL: the engine de-identifies into the vault, then
``deid.reidentify`` takes one subject back with a second person's approval."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from deid.corpus import generate_corpus
from deid.dicomfile import write_dataset
from deid.engine import Engine
from deid.outcome import Deidentified
from deid.profiles import build_rules
from deid.reidentify.embedded import EmbeddedReidentificationClient, principal_caller
from deid.reidentify.job import (
    EXIT_OK,
    EXIT_PENDING,
    ReidentifyJob,
    reidentify,
)
from deid.vault_client import VaultRefusedError
from deid.writing import input_files
from tests.reidentify.world import assert_restored
from tests.vault import factories
from vault.authz import Binding
from vault.embedded import EmbeddedStore
from vault.models import Role, Trial
from vault.runtime import VaultRuntime

JUSTIFICATION = "Safety report for a serious adverse event, case SAE-0042."


def _deidentify(
    runtime: VaultRuntime, tmp_path: Path
) -> tuple[Trial, Path, dict[str, tuple[Path, str]]]:
    """The trial, the de-identified folder, and per output file its input and subject."""
    trial = factories.trial(runtime, sites=("S01",))
    store = EmbeddedStore(runtime, factories.uploader(runtime, trial), trial.key, "S01")
    engine = Engine(build_rules(("retain-long-modified-dates",), with_trial_recipe=True), store)
    corpus = generate_corpus(
        tmp_path / "export", patients=2, studies_per_patient=1, series_per_study=1,
        instances_per_series=2, rows=16, cols=16, seed=3,
    )  # fmt: skip
    deidentified = tmp_path / "deid"
    originals: dict[str, tuple[Path, str]] = {}
    for path, _ in input_files(corpus.root):
        outcome = engine.process(path)
        assert isinstance(outcome, Deidentified)
        relative = f"{outcome.subject_id}/{outcome.instance_uid}.dcm"
        (deidentified / outcome.subject_id).mkdir(parents=True, exist_ok=True)
        write_dataset(outcome.dataset, deidentified / relative)
        originals[relative] = (path, outcome.subject_id)
    return trial, deidentified, originals


def test_one_subject_back_with_approval(runtime: VaultRuntime, tmp_path: Path) -> None:
    trial, deidentified, originals = _deidentify(runtime, tmp_path)
    subject = sorted({s for _, s in originals.values()})[0]

    requester = factories.caller(runtime, Binding(Role.REIDENTIFY_REQUESTER, trial.id))
    approver = factories.caller(runtime, Binding(Role.APPROVER, trial.id))
    as_requester = EmbeddedReidentificationClient(runtime, requester)
    as_approver = EmbeddedReidentificationClient(runtime, principal_caller(runtime, approver.name))
    output = tmp_path / "restored"
    job = ReidentifyJob(
        deidentified, output, trial.key, "safety_reporting", JUSTIFICATION, subjects=(subject,)
    )
    lines: list[str] = []
    first = reidentify(job, as_requester, say=lines.append)
    assert first.exit_status == EXIT_PENDING
    (outcome,) = first.subjects
    assert outcome.status == "pending"
    (request_id,) = outcome.pending_ids()
    with pytest.raises(VaultRefusedError, match="approver role") as refused:
        as_requester.approve(trial.key, request_id)
    assert refused.value.status == 403
    assert as_approver.approve(trial.key, request_id).status == "approved"

    granted = ReidentifyJob(
        deidentified, output, trial.key, "safety_reporting", JUSTIFICATION,
        grants=(request_id,), subjects=(subject,),
    )  # fmt: skip
    second = reidentify(granted, as_requester, say=lines.append)
    assert second.exit_status == EXIT_OK
    restored = 0
    for relative, (original, subject_id) in originals.items():
        if subject_id != subject:
            assert not (output / relative).exists()
            continue
        assert assert_restored(output / relative, original) >= 5
        restored += 1
    assert restored >= 4  # two CT images, an SR and a KOS
    with pytest.raises(VaultRefusedError, match="already released"):
        as_requester.release(trial.key, request_id)
    info = as_approver.get(trial.key, request_id)
    assert info.status == "released" and info.decided_by == approver.name
    assert len(as_approver.list_requests(trial.key, "released")) == 1


def test_a_subject_with_more_pseudonyms_than_one_request_takes_gets_several(
    runtime: VaultRuntime, tmp_path: Path
) -> None:
    trial, deidentified, originals = _deidentify(runtime, tmp_path)
    subject = sorted({s for _, s in originals.values()})[1]
    requester = factories.caller(runtime, Binding(Role.REIDENTIFY_REQUESTER, trial.id))
    approver = EmbeddedReidentificationClient(
        runtime, factories.caller(runtime, Binding(Role.APPROVER, trial.id))
    )
    as_requester = EmbeddedReidentificationClient(runtime, requester)
    output = tmp_path / "restored"
    job = ReidentifyJob(
        deidentified, output, trial.key, "data_correction", JUSTIFICATION,
        subjects=(subject,), max_request_items=7,
    )  # fmt: skip
    first = reidentify(job, as_requester, say=lambda line: None)
    ids = first.subjects[0].pending_ids()
    assert len(ids) >= 3
    requests = [approver.get(trial.key, i) for i in ids]
    assert all(r.subject_ids == (subject,) and len(r.pseudonyms) <= 7 for r in requests)
    for request_id in ids[:-1]:
        approver.approve(trial.key, request_id)
    partly = replace(job, grants=tuple(ids))
    second = reidentify(partly, as_requester, say=lambda line: None)
    assert second.exit_status == EXIT_PENDING  # one part still waits: nothing written...
    assert not [f for f in second.files if f.status == "written"]
    assert all(approver.get(trial.key, i).status == "approved" for i in ids[:-1])  # ...or spent
    approver.approve(trial.key, ids[-1])
    done = reidentify(partly, as_requester, say=lambda line: None)
    assert done.exit_status == EXIT_OK
    assert all(approver.get(trial.key, i).status == "released" for i in ids)
    for relative, (original, subject_id) in originals.items():
        if subject_id == subject:
            assert assert_restored(output / relative, original) >= 5
