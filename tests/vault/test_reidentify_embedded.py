"""Re-identification of files through the vault's services in process (the embedded
client), on SQLite and PostgreSQL: the engine de-identifies into the vault, then
``deid.reidentify`` takes one subject back with a second person's approval."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from deid.contract.errors import ExitStatus, VaultRefusedError
from deid.reidentify.job import ReidentifyJob, reidentify
from tests.reidentify.world import assert_restored, deidentify_in_process
from tests.vault import factories
from vault.authz import Binding
from vault.embedded_reidentification import EmbeddedReidentificationClient, principal_caller
from vault.models import Role
from vault.runtime import VaultRuntime

JUSTIFICATION = "Safety report for a serious adverse event, case SAE-0042."


def test_one_subject_back_with_approval(runtime: VaultRuntime, tmp_path: Path) -> None:
    trial, deidentified, originals = deidentify_in_process(runtime, tmp_path)
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
    assert first.exit_status == ExitStatus.PENDING
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
    assert second.exit_status == ExitStatus.OK
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
    trial, deidentified, originals = deidentify_in_process(runtime, tmp_path)
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
    assert second.exit_status == ExitStatus.PENDING  # one part still waits: nothing written...
    assert not [f for f in second.files if f.status == "written"]
    assert all(approver.get(trial.key, i).status == "approved" for i in ids[:-1])  # ...or spent
    approver.approve(trial.key, ids[-1])
    done = reidentify(partly, as_requester, say=lambda line: None)
    assert done.exit_status == ExitStatus.OK
    assert all(approver.get(trial.key, i).status == "released" for i in ids)
    for relative, (original, subject_id) in originals.items():
        if subject_id == subject:
            assert assert_restored(output / relative, original) >= 5
