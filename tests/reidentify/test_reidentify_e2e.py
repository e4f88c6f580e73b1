"""``deid reidentify`` and ``deid requests`` end to end: ``deid run`` into the embedded
store, that store served by a real ``deid-vault serve`` on loopback, real tokens, real
files. Restored files must equal the originals in identity, UIDs and dates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from deid.contract.errors import ExitStatus, VaultRefusedError
from deid.reidentify.http import HttpReidentificationClient
from deid.reidentify.job import REPORT_NAME
from deid.vault_client import VaultConnection
from tests.reidentify.world import (
    TRIAL,
    World,
    assert_restored,
    file_elements,
    request_ids,
    site_world,
    tree_digest,
    vault_cli,
)

pytestmark = pytest.mark.e2e

KOS_CLASS = "1.2.840.10008.5.1.4.1.1.88.59"
CT_CLASS = "1.2.840.10008.5.1.4.1.1.2"
TOOL_IMPLEMENTATION_UID = "1.2.826.0.1.3680043.10.1234.1"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with site_world(tmp_path_factory.mktemp("site")) as built:
        yield built


def _approve_all(world: World, ids: dict[str, int], who: str = "abe") -> None:
    for request_id in ids.values():
        assert (
            world.requests(who, "approve", str(request_id), "--comment", "checked") == ExitStatus.OK
        )


def _grants(ids: dict[str, int]) -> list[str]:
    return [arg for i in ids.values() for arg in ("--grant", str(i))]


def _audited_requests(world: World) -> set[int]:
    with world.http("otto") as client:
        answer = client.get(
            "/v1/audit/records",
            params={"trial": TRIAL, "action": "reidentification.request", "limit": 1000},
        )
        answer.raise_for_status()
        verified = client.get("/v1/audit/verify")
        verified.raise_for_status()
    assert verified.json()["ok"] is True
    return {r["details"]["request_id"] for r in answer.json()["records"]}


def test_subset_pending_then_approved_is_restored(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chosen = world.subjects[:2]
    left_out = world.subjects[2]
    output = tmp_path / "restored"
    before = tree_digest(world.deidentified)
    subject_args = [a for s in chosen for a in ("--subject", s)]

    assert world.reidentify("rita", world.deidentified, output, *subject_args) == ExitStatus.PENDING
    ids = request_ids(output / REPORT_NAME)
    assert sorted(ids) == chosen
    text = capsys.readouterr().out
    for request_id in ids.values():
        assert f"request {request_id}" in text
    assert "--grant" in text and "approve" in text
    assert not list(output.rglob("*.dcm"))  # nothing restored before approval

    _approve_all(world, ids)
    assert world.reidentify("rita", world.deidentified, output, *subject_args, *_grants(ids)) == 0

    checked_sequences = 0
    written = 0
    for pair in world.pairs:
        restored = output / pair.deidentified
        if pair.subject_id == left_out:
            assert not restored.exists()
            continue
        written += 1
        checked = assert_restored(restored, pair.original)
        assert checked >= 5
        checked_sequences += sum(
            1 for p, (vr, _) in file_elements(restored).items() if vr == "UI" and "[" in p
        )
        # The de-identified file really differed: the restore did the work.
        deid = dcmread(world.deidentified / pair.deidentified, stop_before_pixels=True)
        orig = dcmread(pair.original, stop_before_pixels=True)
        assert deid.StudyInstanceUID != orig.StudyInstanceUID
        assert deid.PatientID != orig.PatientID
    assert written >= 10 and checked_sequences > 0  # SR and KOS references were checked
    assert tree_digest(world.deidentified) == before  # inputs untouched
    output_text = capsys.readouterr()
    report_text = (output / REPORT_NAME).read_text(encoding="utf-8")
    for original in world.patient_originals():
        assert original not in output_text.out + output_text.err + report_text
    assert set(ids.values()) <= _audited_requests(world)


def test_a_used_grant_is_refused(world: World, tmp_path: Path) -> None:
    subject = world.subjects[0]
    first = tmp_path / "first"
    assert world.reidentify("rita", world.deidentified, first, "--subject", subject) == 4
    ids = request_ids(first / REPORT_NAME)
    _approve_all(world, ids)
    assert (
        world.reidentify("rita", world.deidentified, first, "--subject", subject, *_grants(ids))
        == 0
    )

    again = tmp_path / "again"
    status = world.reidentify(
        "rita", world.deidentified, again, "--subject", subject, *_grants(ids)
    )
    assert status == ExitStatus.PROBLEMS
    report = json.loads((again / REPORT_NAME).read_text(encoding="utf-8"))
    assert report["summary"]["written"] == 0
    assert all("already used" in f["reason"] for f in report["files"] if f["status"] != "skipped")
    assert not list(again.rglob("*.dcm"))
    # The vault itself refuses a second release.
    token = world.tokens["rita"].read_text(encoding="utf-8").strip()
    client = HttpReidentificationClient(VaultConnection(world.base_url, token))
    with pytest.raises(VaultRefusedError, match="already released") as refused:
        client.release(TRIAL, ids[subject])
    assert refused.value.status == 410
    client.close()


def test_own_request_cannot_be_approved_and_a_denied_one_is_not_released(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    subject = world.subjects[-1]
    output = tmp_path / "out"
    assert world.reidentify("carol", world.deidentified, output, "--subject", subject) == 4
    (request_id,) = request_ids(output / REPORT_NAME).values()
    capsys.readouterr()
    assert world.requests("carol", "approve", str(request_id)) == ExitStatus.STORE
    assert "your own request" in capsys.readouterr().err
    assert world.requests("abe", "show", str(request_id)) == ExitStatus.OK
    shown = capsys.readouterr().out
    assert "pending" in shown and subject in shown and "carol" in shown
    assert world.requests("abe", "deny", str(request_id), "--comment", "no case") == ExitStatus.OK
    assert world.requests("abe", "list", "--status", "denied") == ExitStatus.OK
    assert str(request_id) in capsys.readouterr().out
    status = world.reidentify(
        "carol", world.deidentified, output, "--subject", subject, "--grant", str(request_id)
    )
    assert status == ExitStatus.PROBLEMS
    assert not list(output.rglob("*.dcm"))
    report = json.loads((output / REPORT_NAME).read_text(encoding="utf-8"))
    assert any("denied" in (f.get("reason") or "") for f in report["files"])
    # A requester who is no approver cannot decide at all.
    assert world.requests("rita", "approve", str(request_id)) == ExitStatus.STORE


def _derived_kos(world: World, subject: str) -> tuple[Dataset, list[str]]:
    """A key-object selection another program made from two of the subject's CT images."""
    images = [
        dcmread(world.deidentified / p.deidentified, stop_before_pixels=True)
        for p in world.pairs
        if p.subject_id == subject
    ]
    images = [i for i in images if i.SOPClassUID == CT_CLASS][:2]
    kos = Dataset()
    kos.file_meta = FileMetaDataset()
    kos.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    kos.file_meta.MediaStorageSOPClassUID = KOS_CLASS
    kos.SOPClassUID = KOS_CLASS
    kos.SOPInstanceUID = generate_uid()
    kos.file_meta.MediaStorageSOPInstanceUID = kos.SOPInstanceUID
    kos.file_meta.ImplementationClassUID = TOOL_IMPLEMENTATION_UID
    kos.PatientName = images[0].PatientName
    kos.PatientID = images[0].PatientID
    kos.PatientIdentityRemoved = "YES"
    kos.StudyInstanceUID = images[0].StudyInstanceUID
    kos.StudyDate = images[0].StudyDate
    kos.SeriesInstanceUID = generate_uid()
    kos.ContentDate = "20260315"
    kos.Modality = "KO"
    evidence_series = Dataset()
    evidence_series.SeriesInstanceUID = images[0].SeriesInstanceUID
    refs = []
    for image in images:
        ref = Dataset()
        ref.ReferencedSOPClassUID = image.SOPClassUID
        ref.ReferencedSOPInstanceUID = image.SOPInstanceUID
        refs.append(ref)
    evidence_series.ReferencedSOPSequence = DicomSequence(refs)
    evidence = Dataset()
    evidence.StudyInstanceUID = images[0].StudyInstanceUID
    evidence.ReferencedSeriesSequence = DicomSequence([evidence_series])
    kos.CurrentRequestedProcedureEvidenceSequence = DicomSequence([evidence])
    return kos, [str(i.SOPInstanceUID) for i in images]


def test_a_new_object_referencing_deidentified_images_gets_its_references_restored(
    world: World, tmp_path: Path
) -> None:
    subject = world.subjects[1]
    kos, image_uids = _derived_kos(world, subject)
    source = tmp_path / "ai-results"
    source.mkdir()
    kos.save_as(source / "kos.dcm", enforce_file_format=True)
    output = tmp_path / "restored"
    assert world.reidentify("rita", source, output) == ExitStatus.PENDING
    ids = request_ids(output / REPORT_NAME)
    assert list(ids) == [subject]
    _approve_all(world, ids)
    assert world.reidentify("rita", source, output, *_grants(ids)) == ExitStatus.OK

    restored = dcmread(output / "kos.dcm")
    originals = {
        str(dcmread(world.deidentified / p.deidentified, stop_before_pixels=True).SOPInstanceUID): (
            dcmread(p.original, stop_before_pixels=True)
        )
        for p in world.pairs
        if p.subject_id == subject
    }
    first = originals[image_uids[0]]
    evidence = restored.CurrentRequestedProcedureEvidenceSequence[0]
    series = evidence.ReferencedSeriesSequence[0]
    assert [r.ReferencedSOPInstanceUID for r in series.ReferencedSOPSequence] == [
        originals[uid].SOPInstanceUID for uid in image_uids
    ]
    assert series.SeriesInstanceUID == first.SeriesInstanceUID
    assert evidence.StudyInstanceUID == restored.StudyInstanceUID == first.StudyInstanceUID
    assert restored.PatientID == first.PatientID
    assert restored.IssuerOfPatientID == first.IssuerOfPatientID
    assert restored.PatientName == first.PatientName
    assert restored.StudyDate == first.StudyDate  # copied from the images: moved back
    assert restored.ContentDate == "20260315"  # the tool's own date: kept
    # Its own new UIDs are unknown to the vault and stay.
    assert restored.SOPInstanceUID == kos.SOPInstanceUID
    assert restored.SeriesInstanceUID == kos.SeriesInstanceUID
    assert restored.file_meta.MediaStorageSOPInstanceUID == kos.SOPInstanceUID


def test_the_audit_log_holds_every_request_and_verifies(world: World, tmp_path: Path) -> None:
    output = tmp_path / "out"
    assert world.reidentify("rita", world.deidentified, output) == ExitStatus.PENDING
    ids = request_ids(output / REPORT_NAME)
    assert sorted(ids) == world.subjects  # one request per subject
    audited = _audited_requests(world)
    assert set(ids.values()) <= audited
    with world.http("rita") as client:
        mine = client.get(f"/v1/trials/{TRIAL}/reidentifications").json()["requests"]
    assert {r["id"] for r in mine} <= audited
    assert "audit chain OK" in vault_cli(world.env, "audit", "verify")
