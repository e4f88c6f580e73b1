"""The append-only, hash-chained audit log and its signed checkpoints.

Each record's hash is SHA-256 over the canonical JSON of all its fields, the
previous record's hash included, so altering, removing or reordering a record
breaks the chain at that record. Appends are serialized by the audit head row
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite serializes writers itself), so
any number of vault processes keep one linear chain. Every N records the head is
signed with the Ed25519 audit key, kept apart from the data keys.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.orm import Session

from vault.audit.events import AuditEvent
from vault.models import AuditCheckpoint, AuditRecord, utcnow
from vault.repositories import audit as repo

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> bytes:
    """The one serialization that hashes and signatures are computed over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_fields(record: AuditRecord) -> dict[str, Any]:
    """Every hashed field of ``record`` (everything but its own hash)."""
    return {
        "seq": record.seq,
        "occurred_at": _timestamp(record.occurred_at),
        "principal_id": record.principal_id,
        "principal_name": record.principal_name,
        "role": record.role,
        "client_address": record.client_address,
        "trial_key": record.trial_key,
        "action": record.action,
        "outcome": record.outcome,
        "purpose": record.purpose,
        "justification": record.justification,
        "details": record.details,
        "prev_hash": record.prev_hash,
    }


def _timestamp(value: datetime) -> str:
    return value.isoformat(timespec="microseconds")


def compute_hash(fields: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical form of a record's fields."""
    return hashlib.sha256(canonical_json(fields)).hexdigest()


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short fingerprint naming the signing key in each checkpoint."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def checkpoint_message(seq: int, record_hash: str) -> bytes:
    """What a checkpoint signs."""
    return f"deid-vault audit checkpoint v1|{seq}|{record_hash}".encode()


@dataclass(frozen=True)
class AuditSigner:
    """The audit signing key and how often it signs the head."""

    private_key: Ed25519PrivateKey
    checkpoint_interval: int

    def __repr__(self) -> str:
        return f"AuditSigner(interval={self.checkpoint_interval}, key=<masked>)"

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The key that verifies this signer's checkpoints."""
        return self.private_key.public_key()


def append(session: Session, signer: AuditSigner, event: AuditEvent) -> AuditRecord:
    """Chain ``event`` onto the log inside the caller's transaction."""
    head_seq, head_hash = repo.head(session, for_update=True)
    occurred_at = utcnow()
    record = AuditRecord(
        seq=head_seq + 1,
        occurred_at=occurred_at,
        principal_id=event.principal_id,
        principal_name=event.principal_name[:64],
        role=event.role[:32],
        client_address=event.client_address[:64],
        trial_key=event.trial_key,
        action=event.action,
        outcome=event.outcome,
        purpose=event.purpose,
        justification=event.justification,
        details=json.loads(canonical_json(event.details)),
        prev_hash=head_hash,
    )
    record.record_hash = compute_hash(record_fields(record))
    repo.add_record(session, record)
    repo.move_head(session, record.seq, record.record_hash)
    if record.seq % signer.checkpoint_interval == 0:
        sign_checkpoint(session, signer, record.seq, record.record_hash)
    return record


def sign_checkpoint(
    session: Session, signer: AuditSigner, seq: int | None = None, record_hash: str | None = None
) -> AuditCheckpoint:
    """Sign the chain head (or the given record) and store the checkpoint."""
    if seq is None or record_hash is None:
        seq, record_hash = repo.head(session)
    checkpoint = AuditCheckpoint(
        seq=seq,
        record_hash=record_hash,
        signed_at=utcnow(),
        key_id=key_id(signer.public_key),
        signature=signer.private_key.sign(checkpoint_message(seq, record_hash)),
    )
    repo.add_checkpoint(session, checkpoint)
    return checkpoint
