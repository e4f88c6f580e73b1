"""Every role against every endpoint: exactly what it may, 404/403/401 otherwise."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.vault.api_world import ROLES, World, make_world
from tests.vault.factories import unique
from vault.runtime import AuthPolicy, VaultRuntime

CALLERS = [*ROLES, "anonymous", "bad_token"]
SEES_TRIAL = {r for r in ROLES if r != "outsider"}
REQUESTERS = {"requester", "requester2", "requester_approver"}
APPROVERS = {"approver", "approver2", "requester_approver"}
AUDITORS = {"auditor", "auditor_all", "outsider"}


@pytest.fixture(scope="module")
def world(runtime: VaultRuntime) -> Iterator[World]:
    saved = runtime.auth
    runtime.auth = AuthPolicy(failure_limit=100_000)  # the matrix fails on purpose, a lot
    try:
        yield make_world(runtime)
    finally:
        runtime.auth = saved


@dataclass
class Endpoint:
    name: str
    method: str
    allowed: set[str]
    prepare: Callable[[World], tuple[str, Any]]
    trial_scoped: bool = False
    """404 for callers without a role in the trial (else 403)."""
    overrides: dict[str, int] | None = None
    public: bool = False


def _pending(w: World) -> int:
    return int(
        w.ok(
            "requester",
            "POST",
            f"/v1/trials/{w.trial}/reidentifications",
            {
                "purpose": "safety_reporting",
                "justification": "serious adverse event follow-up",
                "subject_ids": ["S01-00000"],
            },
        )["id"]
    )


def _approved(w: World) -> int:
    request_id = _pending(w)
    w.ok("approver", "POST", f"/v1/trials/{w.trial}/reidentifications/{request_id}/approve", {})
    return request_id


def _principal(w: World) -> str:
    name = unique("throwaway")
    w.ok("admin", "POST", "/v1/principals", {"name": name})
    return name


def _token_id(w: World) -> int:
    return int(w.ok("admin", "POST", f"/v1/principals/{_principal(w)}/tokens", {})["id"])


def _fresh_trial(w: World) -> str:
    key = unique("C")
    w.ok("admin", "POST", "/v1/trials", {"key": key})
    return key


def _with_role(w: World) -> str:
    name = _principal(w)
    w.ok("admin", "POST", f"/v1/principals/{name}/roles", {"role": "auditor", "trial": w.trial})
    return name


UPLOAD_OVERRIDES = {"uploader_s02": 404}
ITEMS = {"items": [{"kind": "UID", "original": "1.2.3.4", "proposal": "2.25.1234"}]}
ENDPOINTS = [
    Endpoint("health", "GET", set(CALLERS), lambda w: ("/health", None), public=True),
    Endpoint("ready", "GET", set(CALLERS), lambda w: ("/ready", None), public=True),
    Endpoint("me", "GET", set(ROLES), lambda w: ("/v1/me", None)),
    Endpoint("create trial", "POST", {"admin"}, lambda w: ("/v1/trials", {"key": unique("N")})),
    Endpoint("list trials", "GET", set(ROLES), lambda w: ("/v1/trials", None)),
    Endpoint("get trial", "GET", SEES_TRIAL, lambda w: (f"/v1/trials/{w.trial}", None), True),
    Endpoint(
        "change trial",
        "PATCH",
        {"admin"},
        lambda w: (f"/v1/trials/{w.trial}", {"protocol_name": unique("P")}),
        True,
    ),
    Endpoint(
        "add site",
        "POST",
        {"admin"},
        lambda w: (f"/v1/trials/{w.trial}/sites", {"site_id": unique("S")[:16], "name": "N"}),
    ),
    Endpoint(
        "close trial",
        "POST",
        {"admin"},
        lambda w: (f"/v1/trials/{(k := _fresh_trial(w))}/close", {"confirm": k}),
    ),
    Endpoint(
        "site info",
        "GET",
        {"uploader"},
        lambda w: (f"/v1/trials/{w.trial}/sites/S01/info", None),
        True,
        UPLOAD_OVERRIDES,
    ),
    Endpoint(
        "enroll",
        "POST",
        {"uploader"},
        lambda w: (f"/v1/trials/{w.trial}/sites/S01/enroll", {"patient_key": "MRN-M"}),
        True,
        UPLOAD_OVERRIDES,
    ),
    Endpoint(
        "get or create",
        "POST",
        {"uploader"},
        lambda w: (f"/v1/trials/{w.trial}/sites/S01/pseudonyms", ITEMS),
        True,
        UPLOAD_OVERRIDES,
    ),
    Endpoint(
        "lookup",
        "POST",
        {"uploader"},
        lambda w: (
            f"/v1/trials/{w.trial}/sites/S01/pseudonyms/lookup",
            {"items": [{"kind": "UID", "original": "1.2.3.4"}]},
        ),
        True,
        UPLOAD_OVERRIDES,
    ),
    Endpoint(
        "create principal", "POST", {"admin"}, lambda w: ("/v1/principals", {"name": unique("n")})
    ),
    Endpoint("list principals", "GET", {"admin"}, lambda w: ("/v1/principals", None)),
    Endpoint(
        "get principal", "GET", {"admin"}, lambda w: (f"/v1/principals/{_principal(w)}", None)
    ),
    Endpoint(
        "grant role",
        "POST",
        {"admin"},
        lambda w: (
            f"/v1/principals/{_principal(w)}/roles",
            {"role": "approver", "trial": w.trial},
        ),
    ),
    Endpoint(
        "revoke role",
        "DELETE",
        {"admin"},
        lambda w: (f"/v1/principals/{_with_role(w)}/roles?role=auditor&trial={w.trial}", None),
    ),
    Endpoint(
        "create token",
        "POST",
        {"admin"},
        lambda w: (f"/v1/principals/{_principal(w)}/tokens", {"label": "x"}),
    ),
    Endpoint(
        "list tokens",
        "GET",
        {"admin"},
        lambda w: (f"/v1/principals/{_principal(w)}/tokens", None),
    ),
    Endpoint(
        "revoke token", "POST", {"admin"}, lambda w: (f"/v1/tokens/{_token_id(w)}/revoke", None)
    ),
    Endpoint(
        "request reidentification",
        "POST",
        REQUESTERS,
        lambda w: (
            f"/v1/trials/{w.trial}/reidentifications",
            {
                "purpose": "data_correction",
                "justification": "correcting a mislabelled series",
                "pseudonyms": [{"kind": "UID", "pseudonym": "2.25.1234"}],
            },
        ),
        True,
    ),
    Endpoint(
        "list requests",
        "GET",
        REQUESTERS | APPROVERS,
        lambda w: (f"/v1/trials/{w.trial}/reidentifications", None),
        True,
    ),
    Endpoint(
        "get request",
        "GET",
        {"requester"} | APPROVERS,
        lambda w: (f"/v1/trials/{w.trial}/reidentifications/{_pending(w)}", None),
        True,
        {"requester2": 404},
    ),
    Endpoint(
        "approve",
        "POST",
        APPROVERS,
        lambda w: (f"/v1/trials/{w.trial}/reidentifications/{_pending(w)}/approve", {}),
        True,
    ),
    Endpoint(
        "deny",
        "POST",
        APPROVERS,
        lambda w: (f"/v1/trials/{w.trial}/reidentifications/{_pending(w)}/deny", {}),
        True,
    ),
    Endpoint(
        "release",
        "POST",
        {"requester"},
        lambda w: (f"/v1/trials/{w.trial}/reidentifications/{_approved(w)}/release", None),
        True,
        {"requester2": 404, "requester_approver": 404},
    ),
    Endpoint("audit records", "GET", AUDITORS, lambda w: ("/v1/audit/records", None)),
    Endpoint(
        "audit records of trial",
        "GET",
        {"auditor", "auditor_all"},
        lambda w: (f"/v1/audit/records?trial={w.trial}", None),
        overrides={"outsider": 404},
    ),
    Endpoint("audit export", "GET", AUDITORS, lambda w: ("/v1/audit/export?format=csv", None)),
    Endpoint("audit verify", "GET", AUDITORS, lambda w: ("/v1/audit/verify", None)),
    Endpoint("audit checkpoint", "POST", {"admin"}, lambda w: ("/v1/audit/checkpoints", None)),
    Endpoint("rewrap keys", "POST", {"admin"}, lambda w: ("/v1/keys/rewrap", None)),
    Endpoint(
        "rotate data key",
        "POST",
        {"admin"},
        lambda w: (f"/v1/trials/{w.trial}/keys/rotate", None),
    ),
    Endpoint(
        "re-encrypt",
        "POST",
        {"admin"},
        lambda w: (f"/v1/trials/{w.trial}/keys/reencrypt", {"batch_size": 10}),
    ),
]


def _expected(endpoint: Endpoint, who: str) -> int | None:
    """None: any 2xx."""
    if who in endpoint.allowed:
        return None
    if who in ("anonymous", "bad_token"):
        return 401
    if endpoint.overrides and who in endpoint.overrides:
        return endpoint.overrides[who]
    if endpoint.trial_scoped and who not in SEES_TRIAL:
        return 404
    return 403


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_role_matrix(world: World, endpoint: Endpoint) -> None:
    problems = []
    for who in CALLERS:
        path, body = endpoint.prepare(world)
        response = world.call(who, endpoint.method, path, body)
        expected = _expected(endpoint, who)
        ok = response.status_code < 300 if expected is None else response.status_code == expected
        if not ok:
            problems.append(f"{who}: {response.status_code} {response.text[:160]}")
        if response.status_code >= 400:
            assert set(response.json()) >= {"error", "message"}
    assert not problems, "\n".join(problems)


def test_outsiders_cannot_tell_a_trial_exists(world: World) -> None:
    missing = world.call("outsider", "GET", "/v1/trials/NO-SUCH-TRIAL")
    existing = world.call("outsider", "GET", f"/v1/trials/{world.trial}")
    assert missing.status_code == existing.status_code == 404
    assert missing.json() == existing.json()
    listed = {t["key"] for t in world.ok("outsider", "GET", "/v1/trials")["trials"]}
    assert listed == {world.other_trial}
