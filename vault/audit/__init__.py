"""The audit log: events, the hash chain with signed checkpoints, verification, export."""

from vault.audit.chain import AuditSigner, append, sign_checkpoint
from vault.audit.events import AuditEvent, Outcome, anonymous_event
from vault.audit.verify import VerificationReport, verify_chain

__all__ = [
    "AuditEvent",
    "AuditSigner",
    "Outcome",
    "VerificationReport",
    "anonymous_event",
    "append",
    "sign_checkpoint",
    "verify_chain",
]
