"""Reading, exporting and verifying the audit log (auditors only; never an original)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from vault.audit import Outcome, VerificationReport, sign_checkpoint, verify_chain
from vault.audit.chain import record_fields
from vault.authz import Caller, require_admin
from vault.db import make_session_factory
from vault.errors import ForbiddenError, NotFoundError
from vault.models import AuditCheckpoint, AuditRecord, Role
from vault.repositories import audit as repo
from vault.repositories import trials as trials_repo
from vault.runtime import VaultRuntime
from vault.services.common import record

EXPORT_COLUMNS = (
    "seq", "occurred_at", "principal_id", "principal_name", "role", "client_address",
    "trial_key", "action", "outcome", "purpose", "justification", "details", "prev_hash",
    "record_hash",
)  # fmt: skip
MAX_PAGE = 1000


def audit_scope(session: Session, caller: Caller, trial: str | None) -> repo.AuditFilter:
    """The records the caller may read: all for a global auditor, else its trials' records."""
    if caller.has_global(Role.AUDITOR):
        return repo.AuditFilter(trial=trial)
    trial_ids = {b.trial_id for b in caller.bindings if b.role is Role.AUDITOR and b.trial_id}
    if not trial_ids:
        raise ForbiddenError("this needs the auditor role")
    keys = frozenset(t.key for t in trials_repo.list_trials(session, trial_ids))
    if trial is not None and trial not in keys:
        raise NotFoundError("trial not found")
    return repo.AuditFilter(trials=keys, trial=trial)


def audit_filter(
    session: Session,
    caller: Caller,
    trial: str | None = None,
    *,
    principal: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> repo.AuditFilter:
    """The records matching these filters that the caller may read (see :func:`audit_scope`)."""
    return replace(
        audit_scope(session, caller, trial),
        principal=principal,
        action=action,
        outcome=outcome,
        since=since,
        until=until,
    )


def list_records(
    session: Session, caller: Caller, f: repo.AuditFilter, after_seq: int = 0, limit: int = 100
) -> Sequence[AuditRecord]:
    """A page of records (filter already scoped by :func:`audit_scope`)."""
    del caller  # the filter carries the caller's scope
    return repo.page(session, f, after_seq, max(1, min(limit, MAX_PAGE)))


def as_dict(record_row: AuditRecord) -> dict[str, Any]:
    """A record as exported and served (its hash fields included)."""
    return {**record_fields(record_row), "record_hash": record_row.record_hash}


def export_lines(session: Session, f: repo.AuditFilter, fmt: str) -> Iterator[str]:
    """Every matching record as JSON lines or CSV, fetched page by page."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if fmt == "csv":
        writer.writerow(EXPORT_COLUMNS)
        yield _drain(buffer)
    after = 0
    while True:
        rows = repo.page(session, f, after, MAX_PAGE)
        if not rows:
            return
        for row in rows:
            data = as_dict(row)
            if fmt == "csv":
                data["details"] = json.dumps(data["details"], sort_keys=True)
                writer.writerow([_csv_safe(data[c]) for c in EXPORT_COLUMNS])
                yield _drain(buffer)
            else:
                yield json.dumps(data, sort_keys=True, ensure_ascii=False) + "\n"
        after = rows[-1].seq


def stream_export(runtime: VaultRuntime, f: repo.AuditFilter, fmt: str) -> Iterator[str]:
    """:func:`export_lines` for a streamed response body, in a read-only session of its own.

    The request's transaction has ended by the time the body streams.
    """
    with make_session_factory(runtime.engine, read_only=True)() as session:
        yield from export_lines(session, f, fmt)


def _csv_safe(value: Any) -> Any:
    # Spreadsheets run cells starting with = + - @ as formulas; quote them as text.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return "" if value is None else value


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def record_access(
    session: Session, runtime: VaultRuntime, caller: Caller, action: str, details: dict[str, object]
) -> None:
    """Audit an auditor's export or verification."""
    record(session, runtime, caller.event(action, Outcome.SUCCESS, details=details))


def verify(session: Session, runtime: VaultRuntime, caller: Caller) -> VerificationReport:
    """Verify the whole chain and every checkpoint (any auditor; reveals no content)."""
    if not any(b.role is Role.AUDITOR for b in caller.bindings):
        raise ForbiddenError("this needs the auditor role")
    return verify_chain(session, runtime.signer.public_key)


def checkpoint_now(session: Session, runtime: VaultRuntime, caller: Caller) -> AuditCheckpoint:
    """Sign the current head at once (admin)."""
    require_admin(caller)
    record(session, runtime, caller.event("audit.checkpoint", Outcome.SUCCESS))
    return sign_checkpoint(session, runtime.signer)
