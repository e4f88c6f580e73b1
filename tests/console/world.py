"""A populated vault for console tests: a trial, one principal per role with a password,
and uploaded mappings whose originals the tests look for (and must not find)."""

from __future__ import annotations

import re
import secrets
import warnings
from dataclasses import dataclass, field

from deid.contract.store import PseudonymRequest
from deid.contract.trial_config import TrialConfig
from tests.vault.factories import unique
from vault.api.app import create_app
from vault.console import accounts
from vault.models import Role
from vault.runtime import VaultRuntime
from vault.services import mappings as mapping_service
from vault.services import principals as principal_service
from vault.services import trials as trial_service
from vault.services.principals import RoleSpec

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PASSWORD = "tulip anchor meadow 42"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ROLES: dict[str, list[tuple[Role, str | None, str | None]]] = {
    "admin": [(Role.ADMIN, None, None)],
    "uploader": [(Role.SITE_UPLOADER, "T", "S01")],
    "requester": [(Role.REIDENTIFY_REQUESTER, "T", None)],
    "approver": [(Role.APPROVER, "T", None)],
    "requester_approver": [(Role.REIDENTIFY_REQUESTER, "T", None), (Role.APPROVER, "T", None)],
    "auditor": [(Role.AUDITOR, "T", None)],
    "auditor_all": [(Role.AUDITOR, None, None)],
    "outsider": [(Role.REIDENTIFY_REQUESTER, "O", None), (Role.AUDITOR, "O", None)],
}


@dataclass
class ConsoleWorld:
    """Names of everyone, the trial, and the originals behind its pseudonyms."""

    runtime: VaultRuntime
    trial: str
    other_trial: str
    names: dict[str, str] = field(default_factory=dict)
    originals: list[str] = field(default_factory=list)
    """Every original uploaded; none may appear on a page but the reveal page."""
    pseudonyms: dict[str, tuple[str, str]] = field(default_factory=dict)
    """original -> (kind, pseudonym)"""
    subject_id: str = ""

    def pseudonym_lines(self, *originals: str) -> str:
        """The request form's pseudonym field naming ``originals``."""
        return "\n".join(" ".join(self.pseudonyms[o]) for o in originals)


def seed(runtime: VaultRuntime, **trial_settings: object) -> ConsoleWorld:
    """Create the trials, the principals (with passwords) and some mappings."""
    world = ConsoleWorld(runtime, unique("T"), unique("O"))
    keys = {"T": world.trial, "O": world.other_trial}
    tag = secrets.token_hex(3).upper()
    alt = secrets.token_hex(3)  # pseudonyms share nothing with the originals
    patient_key = f"MRN-{tag}-0042"
    full_name = f"ZEBEDEE^QUILLAN{tag}"
    uid = f"1.2.840.99{int(tag, 16)}.7"
    hostile = f"O'Brien<b>&{tag}"
    with runtime.transaction() as session:
        admin = principal_service.create_principal(
            session, runtime, None, unique("admin"), roles=[RoleSpec(Role.ADMIN)]
        )
        token = principal_service.create_token(session, runtime, None, admin.name).token
        admin_caller = principal_service.authenticate(session, runtime, token, "127.0.0.1")
        trial_service.create_trial(
            session,
            runtime,
            admin_caller,
            TrialConfig.model_validate(
                {"key": world.trial, "sites": {"S01": "One", "S02": "Two"}, **trial_settings}
            ),
        )
        trial_service.create_trial(
            session, runtime, admin_caller, TrialConfig(key=world.other_trial, sites={"S01": "X"})
        )
        world.names["admin"] = admin.name
        accounts.set_password(session, runtime, None, admin.name, PASSWORD)
        for who, roles in ROLES.items():
            if who == "admin":
                continue
            name = unique(who.replace("_", "-"))
            principal_service.create_principal(
                session,
                runtime,
                None,
                name,
                roles=[RoleSpec(r, keys.get(t or ""), s) for r, t, s in roles],
            )
            accounts.set_password(session, runtime, None, name, PASSWORD)
            world.names[who] = name
        upload = principal_service.create_token(session, runtime, None, world.names["uploader"])
        uploader = principal_service.authenticate(session, runtime, upload.token, "127.0.0.1")
        enrollment = mapping_service.enroll(
            session, runtime, uploader, world.trial, "S01", patient_key
        )
        items = [
            PseudonymRequest("FULL_NAME", full_name, f"Roe^Anna{alt}"),
            PseudonymRequest("UID", uid, f"2.25.{int(alt, 16)}1"),
            PseudonymRequest("SURNAME", hostile, f"Lee{alt}"),
        ]
        answers = mapping_service.get_or_create(
            session, runtime, uploader, world.trial, "S01", items
        )
    world.subject_id = enrollment.subject_id
    world.originals = [patient_key, full_name, uid, hostile]
    for item, pseudonym in zip(items, answers, strict=True):
        assert pseudonym is not None
        world.pseudonyms[item.original] = (item.kind, pseudonym)
    return world


def client(world: ConsoleWorld) -> TestClient:
    """A browser-like client (HTTPS, so Secure cookies travel) with its own cookie jar."""
    return TestClient(create_app(world.runtime), base_url="https://testserver")


def csrf_of(html: str) -> str:
    """The CSRF token of the first form in ``html``."""
    found = CSRF.search(html)
    assert found, "no form with a CSRF token on the page"
    return found.group(1)


def signed_in(world: ConsoleWorld, who: str) -> tuple[TestClient, str]:
    """A client signed in as ``who`` and its session's CSRF token."""
    http = client(world)
    form = http.get("/console/sign-in")
    response = http.post(
        "/console/sign-in",
        data={"name": world.names[who], "password": PASSWORD, "csrf_token": csrf_of(form.text)},
    )
    assert response.status_code == 200 and response.url.path == "/console/", response.text
    return http, csrf_of(response.text)
