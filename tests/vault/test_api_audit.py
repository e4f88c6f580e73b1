"""The audit log through the API: listing, export, and tamper detection by verify."""

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from tests.vault.api_world import World, make_world
from vault.models import AuditCheckpoint, AuditRecord
from vault.runtime import VaultRuntime


@pytest.fixture(scope="module")
def world(runtime: VaultRuntime) -> Iterator[World]:
    w = make_world(runtime)
    for n in range(4):  # some re-identification traffic
        w.ok(
            "requester",
            "POST",
            f"/v1/trials/{w.trial}/reidentifications",
            {
                "purpose": "data_correction",
                "justification": f"correction number {n} of the series",
                "subject_ids": [f"S01-{n}"],
            },
        )
    yield w


def _verify(w: World) -> dict[str, Any]:
    return w.ok("auditor_all", "GET", "/v1/audit/verify")  # type: ignore[no-any-return]


def _records(w: World) -> list[AuditRecord]:
    with w.runtime.sessions() as session:
        rows = session.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all()
        session.expunge_all()
        return list(rows)


def _restore(w: World, rows: list[AuditRecord]) -> None:
    """Put the snapshot back (records appended since, such as the verifications, stay)."""
    with w.runtime.transaction() as session:
        for row in rows:
            session.merge(row)


def test_a_clean_chain_verifies_with_signed_checkpoints(world: World) -> None:
    report = _verify(world)
    assert report["ok"] and report["first_bad_seq"] is None
    assert report["records_checked"] == report["head_seq"] >= 10
    assert report["checkpoints_checked"] >= 2  # every 5 records in the tests


@pytest.mark.parametrize(
    "change",
    [
        {"outcome": "success", "action": "trial.create"},
        {"justification": "edited afterwards"},
        {"client_address": "10.9.9.9"},
        {"details": {"forged": True}},
    ],
)
def test_an_altered_record_is_found_at_that_record(world: World, change: dict[str, Any]) -> None:
    rows = _records(world)
    target = rows[len(rows) // 2].seq
    with world.runtime.transaction() as session:
        session.execute(update(AuditRecord).where(AuditRecord.seq == target).values(**change))
    try:
        report = _verify(world)
        assert not report["ok"] and report["first_bad_seq"] == target
        assert "altered" in report["problem"]
    finally:
        _restore(world, rows)
    assert _verify(world)["ok"]  # the restored chain, verifications appended, is whole


def test_a_deleted_record_is_found_where_it_is_missing(world: World) -> None:
    rows = _records(world)
    target = rows[3].seq
    with world.runtime.transaction() as session:
        session.execute(delete(AuditRecord).where(AuditRecord.seq == target))
    try:
        report = _verify(world)
        assert report["first_bad_seq"] == target and "missing" in report["problem"]
    finally:
        _restore(world, rows)


def test_reordered_records_are_found(world: World) -> None:
    rows = _records(world)
    a, b = rows[4], rows[5]
    fields = ("occurred_at", "principal_name", "action", "outcome", "details", "prev_hash",
              "record_hash", "justification", "purpose", "trial_key", "role", "principal_id",
              "client_address")  # fmt: skip
    with world.runtime.transaction() as session:
        session.execute(
            update(AuditRecord)
            .where(AuditRecord.seq == a.seq)
            .values(**{f: getattr(b, f) for f in fields})
        )
        session.execute(
            update(AuditRecord)
            .where(AuditRecord.seq == b.seq)
            .values(**{f: getattr(a, f) for f in fields})
        )
    try:
        report = _verify(world)
        assert report["first_bad_seq"] == a.seq
    finally:
        _restore(world, rows)


def test_removing_the_newest_records_is_found(world: World) -> None:
    rows = _records(world)
    with world.runtime.transaction() as session:
        session.execute(delete(AuditRecord).where(AuditRecord.seq > rows[-3].seq))
    try:
        report = _verify(world)
        assert report["first_bad_seq"] == rows[-2].seq and "head" in report["problem"]
    finally:
        _restore(world, rows)


def test_a_forged_checkpoint_signature_is_found(world: World) -> None:
    with world.runtime.sessions() as session:
        checkpoint = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id)).first()
        assert checkpoint is not None
        checkpoint_id, signature = checkpoint.id, checkpoint.signature
    forged = bytes([signature[0] ^ 1]) + signature[1:]
    with world.runtime.transaction() as session:
        session.execute(
            update(AuditCheckpoint)
            .where(AuditCheckpoint.id == checkpoint_id)
            .values(signature=forged)
        )
    try:
        report = _verify(world)
        assert not report["ok"]
        assert "signature" in " ".join(report["checkpoint_problems"])
    finally:
        with world.runtime.transaction() as session:
            session.execute(
                update(AuditCheckpoint)
                .where(AuditCheckpoint.id == checkpoint_id)
                .values(signature=signature)
            )


def test_listing_filters_and_pages(world: World) -> None:
    first = world.ok(
        "auditor",
        "GET",
        f"/v1/audit/records?trial={world.trial}&action=reidentification.request&limit=2",
    )
    assert len(first["records"]) == 2 and first["next_after_seq"]
    nxt = world.ok(
        "auditor",
        "GET",
        f"/v1/audit/records?trial={world.trial}&action=reidentification.request"
        f"&limit=2&after_seq={first['next_after_seq']}",
    )
    assert len(nxt["records"]) == 2
    assert all(r["seq"] > first["next_after_seq"] for r in nxt["records"])
    scoped = world.ok("auditor", "GET", "/v1/audit/records?limit=1000")["records"]
    assert scoped and {r["trial_key"] for r in scoped} == {world.trial}
    everything = world.ok("auditor_all", "GET", "/v1/audit/records?limit=1000")["records"]
    assert {r["trial_key"] for r in everything} > {world.trial}
    since = everything[-1]["occurred_at"]
    recent = world.ok("auditor_all", "GET", f"/v1/audit/records?since={since.replace('+', '%2B')}")
    assert recent["records"] and all(r["occurred_at"] >= since for r in recent["records"])
    record = first["records"][0]
    assert record["purpose"] == "data_correction" and record["principal_name"].startswith(
        "requester"
    )
    assert record["details"]["subject_ids"] and record["client_address"] == "testclient"


def test_export_as_json_lines_and_csv(world: World) -> None:
    lines = world.call("auditor", "GET", "/v1/audit/export?format=jsonl").text.splitlines()
    records = [json.loads(line) for line in lines]
    assert records and all(r["trial_key"] == world.trial for r in records)
    assert all(len(r["record_hash"]) == 64 for r in records)
    response = world.call("auditor", "GET", f"/v1/audit/export?format=csv&trial={world.trial}")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(r["seq"]) for r in rows][: len(records)] == [r["seq"] for r in records][: len(rows)]
    assert {"action", "outcome", "justification", "record_hash"} <= set(rows[0])
