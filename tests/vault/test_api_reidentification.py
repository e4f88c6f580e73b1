"""The re-identification flow through the HTTP API."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update

from tests.vault.api_world import World, make_world
from vault.models import ReidentificationRequest, utcnow
from vault.runtime import VaultRuntime


@pytest.fixture(scope="module")
def world(runtime: VaultRuntime) -> Iterator[World]:
    yield make_world(runtime)


@pytest.fixture(scope="module")
def immediate(runtime: VaultRuntime) -> Iterator[World]:
    yield make_world(runtime, reidentification_policy="immediate", bulk_reidentification_limit=2)


def _upload(w: World) -> tuple[str, dict[str, str]]:
    base = f"/v1/trials/{w.trial}/sites/S01"
    subject = w.ok("uploader", "POST", f"{base}/enroll", {"patient_key": "MRN-777"})
    items = [
        {"kind": "FULL_NAME", "original": "DOE^JANE", "proposal": "Roe^Anna"},
        {"kind": "UID", "original": "1.2.840.5.6", "proposal": "2.25.56"},
    ]
    answers = w.ok("uploader", "POST", f"{base}/pseudonyms", {"items": items})["pseudonyms"]
    assert answers == ["Roe^Anna", "2.25.56"]
    return subject["subject_id"], subject


def _request(w: World, who: str = "requester", **body: object) -> dict:  # type: ignore[type-arg]
    payload = {
        "purpose": "incidental_finding",
        "justification": "radiologist reported an incidental finding",
        "pseudonyms": [{"kind": "FULL_NAME", "pseudonym": "Roe^Anna"}],
        **body,
    }
    return w.ok(who, "POST", f"/v1/trials/{w.trial}/reidentifications", payload)  # type: ignore[no-any-return]


def _path(w: World, request_id: int, action: str = "") -> str:
    tail = f"/{action}" if action else ""
    return f"/v1/trials/{w.trial}/reidentifications/{request_id}{tail}"


def _actions(w: World, request_id: int) -> list[tuple[str, str]]:
    records = w.ok("auditor", "GET", f"/v1/audit/records?trial={w.trial}&limit=1000")["records"]
    return [
        (r["action"], r["outcome"]) for r in records if r["details"].get("request_id") == request_id
    ]


def test_approval_flow_releases_once_to_the_requester(world: World) -> None:
    subject_id, subject = _upload(world)
    request = _request(
        world,
        subject_ids=[subject_id],
        pseudonyms=[
            {"kind": "FULL_NAME", "pseudonym": "Roe^Anna"},
            {"kind": "UID", "pseudonym": "2.25.56"},
            {"kind": "UID", "pseudonym": "2.25.404"},
        ],
    )
    assert request["status"] == "pending" and request["subject_count"] == 1
    rid = request["id"]
    conflict = world.call("requester", "POST", _path(world, rid, "release"))
    assert conflict.status_code == 409 and "pending" in conflict.json()["message"]
    pending = world.ok(
        "approver", "GET", f"/v1/trials/{world.trial}/reidentifications?status=pending"
    )
    assert rid in [r["id"] for r in pending["requests"]]
    approved = world.ok("approver", "POST", _path(world, rid, "approve"), {"comment": "ok"})
    assert approved["status"] == "approved" and approved["grant_expires_at"]
    # Nobody but the requester may spend the grant.
    assert world.call("requester2", "POST", _path(world, rid, "release")).status_code == 404
    released = world.ok("requester", "POST", _path(world, rid, "release"))
    assert released["request"]["status"] == "released"
    assert released["pseudonyms"] == [
        {"kind": "FULL_NAME", "pseudonym": "Roe^Anna", "original": "DOE^JANE"},
        {"kind": "UID", "pseudonym": "2.25.56", "original": "1.2.840.5.6"},
        {"kind": "UID", "pseudonym": "2.25.404", "original": None},
    ]
    assert released["subjects"] == [
        {
            "subject_id": subject_id,
            "patient_key": "MRN-777",
            "date_offset_days": subject["date_offset_days"],
        }
    ]
    again = world.call("requester", "POST", _path(world, rid, "release"))
    assert again.status_code == 410 and "already released" in again.json()["message"]
    assert _actions(world, rid) == [
        ("reidentification.request", "success"),
        ("reidentification.approve", "success"),
        ("reidentification.release", "success"),
        ("reidentification.release", "refused"),
    ]


def test_the_same_person_cannot_approve_and_the_refusal_is_audited(world: World) -> None:
    _upload(world)
    rid = _request(world, who="requester_approver")["id"]
    for action in ("approve", "deny"):
        refused = world.call("requester_approver", "POST", _path(world, rid, action), {})
        assert refused.status_code == 403 and "your own request" in refused.json()["message"]
    assert world.ok("requester_approver", "GET", _path(world, rid))["status"] == "pending"
    assert _actions(world, rid) == [
        ("reidentification.request", "success"),
        ("reidentification.approve", "denied"),
        ("reidentification.deny", "denied"),
    ]
    world.ok("approver2", "POST", _path(world, rid, "approve"), {})
    assert world.ok("requester_approver", "POST", _path(world, rid, "release"))["pseudonyms"]


def test_a_denied_request_is_audited_and_releases_nothing(world: World) -> None:
    _upload(world)
    rid = _request(world)["id"]
    denied = world.ok("approver", "POST", _path(world, rid, "deny"), {"comment": "no consent"})
    assert denied["status"] == "denied" and denied["decision_comment"] == "no consent"
    assert world.call("requester", "POST", _path(world, rid, "release")).status_code == 409
    again = world.call("approver2", "POST", _path(world, rid, "approve"), {})
    assert again.status_code == 409
    assert ("reidentification.deny", "success") in _actions(world, rid)


def test_an_expired_grant_is_refused_and_the_expiry_audited(world: World) -> None:
    _upload(world)
    rid = _request(world)["id"]
    world.ok("approver", "POST", _path(world, rid, "approve"), {})
    with world.runtime.transaction() as session:
        session.execute(
            update(ReidentificationRequest)
            .where(ReidentificationRequest.id == rid)
            .values(grant_expires_at=utcnow() - timedelta(seconds=1))
        )
    expired = world.call("requester", "POST", _path(world, rid, "release"))
    assert expired.status_code == 410 and "expired" in expired.json()["message"]
    assert world.ok("requester", "GET", _path(world, rid))["status"] == "expired"
    assert world.call("requester", "POST", _path(world, rid, "release")).status_code == 410
    actions = _actions(world, rid)
    assert ("reidentification.expire", "refused") in actions
    assert actions[-1] == ("reidentification.release", "refused")


def test_a_justification_holding_an_original_is_refused_not_stored(world: World) -> None:
    subject_id, _ = _upload(world)
    for justification in ("follow-up for jane doe, see chart", "patient MRN-777 needs a call"):
        response = world.call(
            "requester",
            "POST",
            f"/v1/trials/{world.trial}/reidentifications",
            {
                "purpose": "clinical_care",
                "justification": justification,
                "pseudonyms": [{"kind": "FULL_NAME", "pseudonym": "Roe^Anna"}],
                "subject_ids": [subject_id],
            },
        )
        assert response.status_code == 422
        assert "identifying value" in response.json()["message"]
        assert "jane" not in response.text.lower() and "MRN-777" not in response.text
    records = world.ok("auditor", "GET", "/v1/audit/records?outcome=refused&limit=1000")
    refused = [r for r in records["records"] if r["action"] == "reidentification.request"]
    assert len(refused) >= 2
    assert all("withheld" in r["justification"] for r in refused)


def test_immediate_policy_releases_at_once_unless_bulk(immediate: World) -> None:
    subject_id, _ = _upload(immediate)
    quick = _request(immediate, subject_ids=[subject_id])
    assert quick["status"] == "approved" and quick["decided_by"] is None
    assert immediate.ok("requester", "POST", _path(immediate, quick["id"], "release"))
    bulk = _request(immediate, subject_ids=[subject_id, "S01-X1", "S01-X2"])
    assert bulk["status"] == "pending" and bulk["subject_count"] == 3
    audit = immediate.ok(
        "auditor",
        "GET",
        f"/v1/audit/records?trial={immediate.trial}&action=reidentification.request",
    )
    assert audit["records"][-1]["details"]["bulk"] is True


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"purpose": "curiosity"}, "purpose"),
        ({"justification": "short"}, "justification"),
        ({"pseudonyms": [], "subject_ids": []}, "at least one"),
        ({"pseudonyms": [{"kind": "TIME", "pseudonym": "101010"}]}, "not identifying"),
    ],
)
def test_bad_requests_are_refused_clearly(world: World, body: dict, message: str) -> None:  # type: ignore[type-arg]
    payload = {
        "purpose": "clinical_care",
        "justification": "a perfectly fine reason",
        "pseudonyms": [{"kind": "UID", "pseudonym": "2.25.56"}],
        **body,
    }
    response = world.call(
        "requester", "POST", f"/v1/trials/{world.trial}/reidentifications", payload
    )
    assert response.status_code == 422
    assert message in response.json()["message"]
