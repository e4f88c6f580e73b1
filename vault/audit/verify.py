"""Verification of the audit chain and its checkpoints, with the public key only."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.orm import Session

from vault.audit.chain import (
    GENESIS_HASH,
    checkpoint_message,
    compute_hash,
    key_id,
    record_fields,
)
from vault.models import AuditRecord
from vault.repositories import audit as repo


@dataclass
class VerificationReport:
    """The outcome of a verification; ``first_bad_seq`` pinpoints the first problem."""

    ok: bool = True
    records_checked: int = 0
    checkpoints_checked: int = 0
    head_seq: int = 0
    first_bad_seq: int | None = None
    problem: str | None = None
    checkpoint_problems: list[str] = field(default_factory=list)

    def fail(self, seq: int, problem: str) -> None:
        """Record the first chain problem (later ones follow from it)."""
        if self.first_bad_seq is None:
            self.ok = False
            self.first_bad_seq = seq
            self.problem = problem


def _check_records(records: Iterable[AuditRecord], report: VerificationReport) -> dict[int, str]:
    hashes: dict[int, str] = {}
    expected_seq, prev_hash = 1, GENESIS_HASH
    for record in records:
        report.records_checked += 1
        if record.seq != expected_seq:
            report.fail(
                expected_seq,
                f"record {expected_seq} is missing (the next record present is {record.seq})",
            )
            return hashes
        if compute_hash(record_fields(record)) != record.record_hash:
            report.fail(record.seq, f"record {record.seq} was altered (its hash does not match)")
            return hashes
        if record.prev_hash != prev_hash:
            report.fail(
                record.seq,
                f"record {record.seq} does not follow record {record.seq - 1} "
                "(records were reordered, or the previous one was replaced)",
            )
            return hashes
        hashes[record.seq] = record.record_hash
        expected_seq, prev_hash = record.seq + 1, record.record_hash
    return hashes


def verify_chain(session: Session, public_key: Ed25519PublicKey) -> VerificationReport:
    """Walk every record in order and check every checkpoint's signature."""
    report = VerificationReport()
    head_seq, head_hash = repo.head(session)
    report.head_seq = head_seq
    hashes = _check_records(repo.records_in_order(session), report)
    if report.ok:
        last_seq = max(hashes, default=0)
        if last_seq != head_seq or hashes.get(last_seq, "0" * 64) != head_hash:
            report.fail(
                last_seq + 1,
                f"the chain ends at record {last_seq} but its head is record {head_seq}: "
                "records at the end were removed or the head was altered",
            )
    expected_key = key_id(public_key)
    for checkpoint in repo.checkpoints_in_order(session):
        report.checkpoints_checked += 1
        label = f"checkpoint at record {checkpoint.seq}"
        try:
            if checkpoint.key_id != expected_key:
                raise InvalidSignature
            public_key.verify(
                checkpoint.signature, checkpoint_message(checkpoint.seq, checkpoint.record_hash)
            )
        except InvalidSignature:
            report.checkpoint_problems.append(f"{label}: the signature does not verify")
            report.fail(checkpoint.seq, f"{label} has a bad signature")
            continue
        if checkpoint.seq in hashes and hashes[checkpoint.seq] != checkpoint.record_hash:
            report.checkpoint_problems.append(f"{label}: the signed hash differs from the record")
            report.fail(
                checkpoint.seq, f"record {checkpoint.seq} differs from its signed checkpoint"
            )
    return report
