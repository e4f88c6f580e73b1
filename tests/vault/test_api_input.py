"""Bad input gets a clear 4xx, never a 500, and is never echoed back."""

from collections.abc import Iterator

import pytest

from tests.vault.api_world import World, make_world
from vault.api.app import MAX_BODY_BYTES, create_app
from vault.runtime import AuthPolicy, VaultRuntime

SECRET = "DOE^SECRET-PATIENT"


@pytest.fixture(scope="module")
def world(runtime: VaultRuntime) -> Iterator[World]:
    yield make_world(runtime)


def _pseudonyms(w: World) -> str:
    return f"/v1/trials/{w.trial}/sites/S01/pseudonyms"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b'{"items": "nope"}', 422, "items"),
        (b'{"items": [{"kind": "UID", "original": 5, "proposal": "x"}]}', 422, "original"),
        (b'{"items": [{"kind": "uid", "original": "1", "proposal": "x"}]}', 422, "kind"),
        (b'{"items": [], "extra": 1}', 422, "extra"),
        (b'{"items": [{"kind": "UID", "original": "1"}]}', 422, "proposal"),
        (b"[]", 422, "body"),
    ],
)
def test_malformed_bodies(world: World, body: bytes, status: int, message: str) -> None:
    response = world.client.post(
        _pseudonyms(world),
        content=body,
        headers={**world.headers("uploader"), "content-type": "application/json"},
    )
    assert response.status_code == status, response.text
    assert message in response.json()["message"]


def test_huge_values_and_batches_are_refused(world: World) -> None:
    huge = {"items": [{"kind": "UID", "original": "1" * 20000, "proposal": "x"}]}
    response = world.call("uploader", "POST", _pseudonyms(world), huge)
    assert response.status_code == 422 and "original" in response.json()["message"]
    many = {"items": [{"kind": "UID", "original": str(i), "proposal": str(i)} for i in range(5001)]}
    response = world.call("uploader", "POST", _pseudonyms(world), many)
    assert response.status_code == 422 and "items" in response.json()["message"]
    response = world.client.post(
        _pseudonyms(world),
        content=b" " * (MAX_BODY_BYTES + 1),
        headers={**world.headers("uploader"), "content-type": "application/json"},
    )
    assert response.status_code == 413


def test_errors_never_echo_the_input(world: World) -> None:
    body = {"items": [{"kind": "UID", "original": SECRET, "proposal": "x" * 300}]}
    response = world.call("uploader", "POST", _pseudonyms(world), body)
    assert response.status_code == 422
    assert SECRET not in response.text
    wrong_type = {"patient_key": [SECRET]}
    response = world.call(
        "uploader", "POST", f"/v1/trials/{world.trial}/sites/S01/enroll", wrong_type
    )
    assert response.status_code == 422 and SECRET not in response.text


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "authentication required"),
        ("Bearer nonsense", "not a deid-vault token"),
        ("Bearer dvt_" + "B" * 43, "not valid"),
        ("Basic dXNlcjpwYXNz", "authentication required"),
    ],
)
def test_bad_tokens(world: World, header: str | None, message: str) -> None:
    headers = {"Authorization": header} if header else {}
    response = world.client.get("/v1/me", headers=headers)
    assert response.status_code == 401 and message in response.json()["message"]


def test_revoked_and_expired_tokens_stop_working(world: World) -> None:
    issued = world.ok("admin", "POST", "/v1/principals/" + _name(world) + "/tokens", {})
    headers = {"Authorization": f"Bearer {issued['token']}"}
    assert world.client.get("/v1/me", headers=headers).status_code == 200
    world.ok("admin", "POST", f"/v1/tokens/{issued['id']}/revoke")
    assert world.client.get("/v1/me", headers=headers).status_code == 401
    listed = world.ok("admin", "GET", f"/v1/principals/{_name(world)}/tokens")["tokens"]
    assert all("token" not in t for t in listed)


def test_a_token_records_its_use_and_a_revoked_one_is_audited_by_id(world: World) -> None:
    issued = world.ok("admin", "POST", "/v1/principals/" + _name(world) + "/tokens", {})
    path = f"/v1/principals/{_name(world)}/tokens"

    def listed() -> dict[str, object]:
        tokens = world.ok("admin", "GET", path)["tokens"]
        return next(t for t in tokens if t["id"] == issued["id"])

    assert listed()["last_used_at"] is None
    headers = {"Authorization": f"Bearer {issued['token']}"}
    me = world.client.get("/v1/me", headers=headers).json()
    assert me["principal"] == _name(world) and me["roles"]
    assert listed()["last_used_at"] is not None
    world.ok("admin", "POST", f"/v1/tokens/{issued['id']}/revoke")
    assert world.client.get("/v1/me", headers=headers).status_code == 401
    records = world.ok("auditor_all", "GET", "/v1/audit/records?action=auth.failure&limit=1000")
    details = [r["details"] for r in records["records"]]
    refusal = {"reason": "revoked token", "token_id": issued["id"], "principal": _name(world)}
    assert refusal in details


def _name(world: World) -> str:
    return str(world.ok("requester", "GET", "/v1/me")["principal"])


def test_failed_authentication_is_rate_limited_per_address(world: World) -> None:
    runtime = world.runtime
    saved = runtime.auth
    runtime.auth = AuthPolicy(failure_limit=3, window_seconds=60, lockout_seconds=120)
    try:
        from fastapi.testclient import TestClient

        attacker = TestClient(create_app(runtime), client=("192.0.2.66", 4000))
        bystander = TestClient(create_app(runtime), client=("192.0.2.77", 4000))
        bad = {"Authorization": "Bearer dvt_" + "C" * 43}
        codes = [attacker.get("/v1/me", headers=bad).status_code for _ in range(3)]
        assert codes == [401, 401, 401]
        blocked = attacker.get("/v1/me", headers=world.headers("requester"))
        assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 60
        assert bystander.get("/v1/me", headers=world.headers("requester")).status_code == 200
        records = world.ok("auditor_all", "GET", "/v1/audit/records?action=auth.failure&limit=1000")
        mine = [r for r in records["records"] if r["client_address"] == "192.0.2.66"]
        assert [r["details"]["reason"] for r in mine] == ["unknown token"] * 3 + ["rate limited"]
    finally:
        runtime.auth = saved


def test_unknown_routes_and_methods_answer_in_the_same_shape(world: World) -> None:
    missing = world.client.get("/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    wrong = world.client.delete("/v1/trials")
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"


def test_openapi_is_served(world: World) -> None:
    assert world.client.get("/docs").status_code == 200
    spec = world.client.get("/openapi.json").json()
    assert "/v1/trials/{trial}/sites/{site}/pseudonyms" in spec["paths"]
