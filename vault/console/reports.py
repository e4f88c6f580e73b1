"""What auditors read in the console: audit pages newest first, one record, checkpoints,
and the re-identification dashboard. Every function takes a filter already scoped by
:func:`vault.services.audit.audit_scope`, which is where the auditor rule lives.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.orm import Session

from vault.console.charts import BarChart, grouped_bars
from vault.errors import NotFoundError
from vault.models import AuditCheckpoint, AuditRecord, utcnow
from vault.repositories import audit as audit_repo
from vault.repositories import console as repo
from vault.repositories.audit import AuditFilter

REQUEST = "reidentification.request"
DENY = "reidentification.deny"
SERIES = {"requests": "Requests", "denials": "Denials", "bulk": "Bulk requests"}
WEEKS = 12
MAX_TRIALS_CHARTED = 12


@dataclass(frozen=True)
class AuditPage:
    """Records newest first, and where the neighbouring pages start."""

    records: Sequence[AuditRecord]
    newer_after: int | None
    """Pass as ``after`` for the next newer page (None: this is the newest)."""
    older_before: int | None
    """Pass as ``before`` for the next older page (None: this is the oldest)."""


def audit_page(
    session: Session, scope: AuditFilter, before: int | None, after: int | None, limit: int
) -> AuditPage:
    """One page of records, newest first: before ``before``, or just after ``after``."""
    if after is not None:
        records = list(reversed(audit_repo.page(session, scope, after, limit)))
    else:
        records = list(audit_repo.page_before(session, scope, before, limit))
    if not records:
        return AuditPage(records, None, None)
    newest, oldest = records[0].seq, records[-1].seq
    newer = audit_repo.page(session, scope, newest, 1)
    older = audit_repo.page_before(session, scope, oldest, 1)
    return AuditPage(records, newest if newer else None, oldest if older else None)


def audit_record(session: Session, scope: AuditFilter, seq: int) -> AuditRecord:
    """Record ``seq`` if it is within ``scope`` (404 otherwise, as for a missing one)."""
    rows = audit_repo.page(session, scope, seq - 1, 1) if seq > 0 else []
    if not rows or rows[0].seq != seq:
        raise NotFoundError("audit record not found")
    return rows[0]


def checkpoints(
    session: Session, scope: AuditFilter, limit: int = 100
) -> Sequence[AuditCheckpoint]:
    """The newest signed checkpoints (they hold sequence numbers and hashes, no content)."""
    del scope  # proof that the caller is an auditor; checkpoints span every trial
    return audit_repo.checkpoints(session, limit)


@dataclass(frozen=True)
class Dashboard:
    """Re-identification activity in the auditor's scope over recent weeks."""

    since: date
    per_week: BarChart
    per_trial: BarChart
    totals: dict[str, int]


def _week_start(moment: datetime) -> date:
    day = moment.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def dashboard(session: Session, scope: AuditFilter, now: datetime | None = None) -> Dashboard:
    """Requests, denials and bulk requests per week and per trial, from the audit log."""
    now = now or utcnow()
    first_week = _week_start(now) - timedelta(weeks=WEEKS - 1)
    since = datetime.combine(first_week, time(), UTC)
    weeks = [first_week + timedelta(weeks=n) for n in range(WEEKS)]
    by_week: dict[str, Counter[date]] = {
        "requests": Counter(),
        "denials": Counter(),
        "bulk": Counter(),
    }
    by_trial: dict[str, Counter[str]] = {
        "requests": Counter(),
        "denials": Counter(),
        "bulk": Counter(),
    }
    for trial, occurred_at, action, outcome, details in repo.audit_events(
        session, (REQUEST, DENY), since, scope.trials, scope.trial
    ):
        if outcome != "success":
            continue
        kinds = ["denials"] if action == DENY else ["requests"]
        if action == REQUEST and details.get("bulk"):
            kinds.append("bulk")
        for kind in kinds:
            by_week[kind][_week_start(occurred_at)] += 1
            by_trial[kind][trial or "-"] += 1
    labels = [f"{w:%d %b}" for w in weeks]
    per_week = grouped_bars(
        "per-week",
        "Re-identification requests per week",
        f"Requests, denials and bulk requests in each of the last {WEEKS} weeks "
        "(weeks start on Monday, UTC).",
        labels,
        {SERIES[kind]: [counts[w] for w in weeks] for kind, counts in by_week.items()},
    )
    trials = sorted(
        set(by_trial["requests"]) | set(by_trial["denials"]),
        key=lambda t: (-by_trial["requests"][t], t),
    )[:MAX_TRIALS_CHARTED]
    per_trial = grouped_bars(
        "per-trial",
        "Re-identification requests per trial",
        f"Requests, denials and bulk requests per trial in the last {WEEKS} weeks "
        f"(the {MAX_TRIALS_CHARTED} busiest trials).",
        trials,
        {SERIES[kind]: [counts[t] for t in trials] for kind, counts in by_trial.items()},
    )
    totals = {kind: sum(counts.values()) for kind, counts in by_week.items()}
    return Dashboard(first_week, per_week, per_trial, totals)
