"""A populated vault behind the HTTP API: one principal per role, with tokens."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from vault.api.app import create_app
from vault.models import Role
from vault.runtime import VaultRuntime
from vault.services import principals as principal_service
from vault.services.principals import RoleSpec

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from tests.vault.factories import unique


@dataclass
class World:
    """An API client, a trial with two sites, and a token per role."""

    client: TestClient
    runtime: VaultRuntime
    trial: str
    other_trial: str
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        """Authorization headers of ``who`` (``anonymous``: none)."""
        if who == "anonymous":
            return {}
        if who == "bad_token":
            return {"Authorization": "Bearer dvt_" + "A" * 43}
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def call(self, who: str, method: str, path: str, body: Any = None) -> Any:
        """One request as ``who``."""
        return self.client.request(method, path, json=body, headers=self.headers(who))

    def ok(self, who: str, method: str, path: str, body: Any = None) -> Any:
        """One request that must succeed; its JSON."""
        response = self.call(who, method, path, body)
        assert response.status_code < 300, (response.status_code, response.text)
        return response.json() if response.content else None


ROLES: dict[str, list[tuple[Role, str | None, str | None]]] = {
    "admin": [(Role.ADMIN, None, None)],
    "uploader": [(Role.SITE_UPLOADER, "T", "S01")],
    "uploader_s02": [(Role.SITE_UPLOADER, "T", "S02")],
    "requester": [(Role.REIDENTIFY_REQUESTER, "T", None)],
    "requester2": [(Role.REIDENTIFY_REQUESTER, "T", None)],
    "approver": [(Role.APPROVER, "T", None)],
    "approver2": [(Role.APPROVER, "T", None)],
    "requester_approver": [(Role.REIDENTIFY_REQUESTER, "T", None), (Role.APPROVER, "T", None)],
    "auditor": [(Role.AUDITOR, "T", None)],
    "auditor_all": [(Role.AUDITOR, None, None)],
    "outsider": [(Role.REIDENTIFY_REQUESTER, "OTHER", None), (Role.AUDITOR, "OTHER", None)],
}


def make_world(runtime: VaultRuntime, **trial_settings: Any) -> World:
    """Create the trial, the principals and their tokens through the services and API."""
    client = TestClient(create_app(runtime))
    world = World(client, runtime, unique("T"), unique("O"))
    with runtime.transaction() as session:
        admin_name = unique("admin")
        principal_service.create_principal(
            session, runtime, None, admin_name, roles=[RoleSpec(Role.ADMIN)]
        )
        world.tokens["admin"] = principal_service.create_token(
            session, runtime, None, admin_name
        ).token
    world.ok(
        "admin",
        "POST",
        "/v1/trials",
        {"key": world.trial, "sites": {"S01": "One", "S02": "Two"}, **trial_settings},
    )
    world.ok("admin", "POST", "/v1/trials", {"key": world.other_trial, "sites": {"S01": "X"}})
    names = {"T": world.trial, "OTHER": world.other_trial}
    for who, roles in ROLES.items():
        if who == "admin":
            continue
        name = unique(who)
        world.ok(
            "admin",
            "POST",
            "/v1/principals",
            {
                "name": name,
                "roles": [
                    {"role": r.value, "trial": names.get(t or ""), "site": s} for r, t, s in roles
                ],
            },
        )
        world.tokens[who] = world.ok("admin", "POST", f"/v1/principals/{name}/tokens", {})["token"]
    return world
