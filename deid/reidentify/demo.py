"""The re-identification half of ``deid demo``: one subject back, with a second person's approval.

On the demo's embedded vault: an administrator creates a requester, an approver
and an auditor; the requester asks to re-identify one subject's files (pending:
the trial requires approval), the approver approves, the requester spends the
grant and the files are restored; the auditor reads the trail and verifies the
chain. Everything goes through the vault's own services, as a deployed vault
would run them, reached through :mod:`deid.embedded`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from pydicom import dcmread

from deid.contract.errors import ExitStatus, VaultRefusedError
from deid.corpus import CorpusManifest
from deid.reidentify.job import REPORT_NAME, ReidentifyJob, reidentify
from deid.run.batch import REPORT_NAME as DEID_REPORT
from deid.writing import input_files

if TYPE_CHECKING:
    from deid.embedded import EmbeddedVault

REQUESTER = "dr.rivera"
APPROVER = "dr.chen"
AUDITOR = "privacy.office"
PURPOSE = "incidental_finding"
JUSTIFICATION = (
    "Incidental finding on the week-12 CT; the treating team must be told (case IF-2026-031)."
)
SHOWN = ("PatientName", "PatientID", "StudyDate", "StudyInstanceUID", "PatientIdentityRemoved")


def _step(text: str) -> None:
    print(f"\n-- {text}")


def _first_subject(source: Path, output: Path) -> tuple[str, Path]:
    """The subject of the first written file, and that file's input path."""
    report = json.loads((output / DEID_REPORT).read_text(encoding="utf-8"))
    for (path, _), record in zip(input_files(source), report["files"], strict=False):
        if record["status"] == "written":
            return str(record["subject_id"]), path
    raise RuntimeError("the demo de-identified no file")


def _originals_of(manifest: CorpusManifest, input_path: Path) -> list[str]:
    """Every identifying value the demo generated for the patient of ``input_path``."""
    relative = input_path.relative_to(manifest.root).as_posix()
    patient = manifest.file(relative).patient
    values = [v for f in manifest.files if f.patient == patient for v in f.originals]
    return sorted({v for v in values if len(v) >= 4})


def run_reidentification(out: Path, trial: str, site: str, manifest: CorpusManifest) -> int:
    """Re-identify one subject of ``site`` with approval; print the audit trail. 0 when all held."""
    source = out / "input" / f"site-{site}"
    deidentified = out / "deidentified" / f"site-{site}"
    restored = out / "reidentified"
    subject, input_path = _first_subject(source, deidentified)
    from deid.embedded import open_administration

    vault = open_administration(out / "vault" / "vault.sqlite")
    try:
        _step("the vault's administrator creates three people (no one of them can do it all)")
        for name, roles, what in (
            (
                REQUESTER,
                ("reidentify_requester", "approver"),
                "may ask for re-identification, and approve other people's requests",
            ),
            (APPROVER, ("approver",), "may approve or deny other people's requests"),
            (AUDITOR, ("auditor",), "may read and verify the audit log, never an original"),
        ):
            vault.add_principal(name, what, roles, trial)
            print(f"   {name:15} {', '.join(roles):34} {what}")
        requester = vault.reidentification_client(REQUESTER)
        approver = vault.reidentification_client(APPROVER)
        job = ReidentifyJob(
            deidentified, restored, trial, PURPOSE, JUSTIFICATION, subjects=(subject,)
        )

        _step(f"{REQUESTER} asks to re-identify subject {subject} ({PURPOSE})")
        first = reidentify(job, requester, say=lambda line: print(f"   {line}"))
        pending = first.subjects[0].pending_ids()
        if len(pending) != 1:
            print("   the request was not left pending for approval; the demo stops")
            return 1
        (request_id,) = pending
        print(f"   trial {trial} requires a second person's approval: nothing is restored yet")

        _step(f"{REQUESTER} is an approver too, but tries to approve their own request: refused")
        try:
            requester.approve(trial, request_id, "my own")
            print("   UNEXPECTED: the requester approved their own request")
            return 1
        except VaultRefusedError as exc:
            print(f"   {exc}")

        _step(f"{APPROVER} reads request {request_id} and approves it")
        info = approver.get(trial, request_id)
        print(f"   purpose: {info.purpose}; justification: {info.justification}")
        print(f"   subjects: {', '.join(info.subject_ids)}; pseudonyms: {len(info.pseudonyms)}")
        decided = approver.approve(trial, request_id, "Checked with the treating team.")
        print(
            f"   request {decided.id}: {decided.status}, grant expires {decided.grant_expires_at}"
        )

        _step(f"{REQUESTER} reruns with --grant {request_id}: the grant is spent, files restored")
        granted = ReidentifyJob(
            deidentified,
            restored,
            trial,
            PURPOSE,
            JUSTIFICATION,
            grants=(request_id,),
            subjects=(subject,),
        )
        second = reidentify(granted, requester, say=lambda line: print(f"   {line}"))
        written = [f for f in second.files if f.status == "written"]
        print(f"   {len(written)} files of subject {subject} written to {restored}")
        status = ExitStatus.OK if written and second.exit_status == ExitStatus.OK else 1
        if written:
            _compare(manifest, deidentified, restored, written[0].input)

        _step(f"{REQUESTER} tries to spend grant {request_id} a second time: refused")
        try:
            requester.release(trial, request_id)
            print("   UNEXPECTED: a grant was used twice")
            status = 1
        except VaultRefusedError as exc:
            print(f"   {exc}")

        vault.checkpoint()
        status = max(status, _audit(vault, trial, _originals_of(manifest, input_path)))
        print(f"\n(the re-identification report is {restored / REPORT_NAME})")
        return status
    finally:
        vault.close()


def _compare(manifest: CorpusManifest, deidentified: Path, restored: Path, relative: str) -> None:
    """One file: de-identified and re-identified, and whether it equals the original export."""
    before = dcmread(deidentified / relative, stop_before_pixels=True)
    after = dcmread(restored / relative, stop_before_pixels=True)
    entry = next(f for f in manifest.files if f.sop_uid == str(after.SOPInstanceUID))
    original = dcmread(manifest.root / entry.path, stop_before_pixels=True)
    print("   one file, de-identified -> re-identified (an invented patient):")
    for keyword in SHOWN:
        old, new = str(before.get(keyword, "")), str(after.get(keyword, ""))
        print(f"     {keyword:24} {old[:40]:42} -> {new[:40]}")
    same = all(str(original.get(k, "")) == str(after.get(k, "")) for k in SHOWN[:-1])
    print(f"   patient, UIDs and dates equal the original export: {'yes' if same else 'NO'}")


def _audit(vault: EmbeddedVault, trial: str, originals: list[str]) -> int:
    """Print the trial's re-identification audit trail and verify the chain."""
    _step(f"{AUDITOR} reads the audit trail of the re-identification (no originals in it)")
    trail = vault.audit_trail(AUDITOR, trial, "reidentification.")
    report = vault.verify_audit(AUDITOR)
    for r in trail:
        details = r["details"]
        print(
            f"   #{r['seq']:<4} {str(r['occurred_at'])[:19]}  {r['principal_name']:14} "
            f"{r['action']:27} {r['outcome']:8} request {details.get('request_id', '-')}, "
            f"status {details.get('status', '-')}, subjects {details.get('subject_ids', [])}, "
            f"{len(details.get('pseudonyms', []))} pseudonyms"
            + (f", reason: {details['reason']}" if details.get("reason") else "")
        )
    text = json.dumps(trail, default=str).lower()
    leaked = [v for v in originals if v.lower() in text]
    print(
        f"   checked: {len(originals)} original values of this patient, "
        f"{'NONE' if not leaked else len(leaked)} of them in the trail"
    )
    verdict = (
        "verified (hash chain and signatures)"
        if report.ok
        else f"BROKEN at record {report.first_bad_seq}"
    )
    print(
        f"   audit chain {verdict}: {report.records_checked} records, "
        f"{report.checkpoints_checked} signed checkpoints"
    )
    return 0 if report.ok and not leaked else 1
