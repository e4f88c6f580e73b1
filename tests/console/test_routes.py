"""The console's routes through TestClient: who sees what, CSRF, headers, escaping."""

from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute
from httpx import Response

from tests.console.world import (
    PASSWORD,
    ConsoleWorld,
    TestClient,
    client,
    csrf_of,
    seed,
    signed_in,
)
from vault.console.routes import account, admin, audit, requests
from vault.runtime import VaultRuntime

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
PAGES = [
    "/console/requests",
    "/console/requests/new",
    "/console/approvals",
    "/console/audit",
    "/console/audit/dashboard",
    "/console/audit/verify",
    "/console/admin/trials",
    "/console/admin/principals",
]
ALLOWED = {
    "requester": {"/console/requests", "/console/requests/new"},
    "approver": {"/console/approvals"},
    "requester_approver": {"/console/requests", "/console/requests/new", "/console/approvals"},
    "auditor": {"/console/audit", "/console/audit/dashboard", "/console/audit/verify"},
    "auditor_all": {"/console/audit", "/console/audit/dashboard", "/console/audit/verify"},
    "admin": {"/console/admin/trials", "/console/admin/principals"},
    "uploader": set(),
}


def _ask(http: TestClient, csrf: str, world: ConsoleWorld, **fields: str) -> Response:
    """Post the request form (a data-correction request for the world's subject, by default)."""
    data = {
        "csrf_token": csrf,
        "trial": world.trial,
        "purpose": "data_correction",
        "justification": "the site reported a wrong date",
        "subject_ids": world.subject_id,
        **fields,
    }
    return http.post("/console/requests/new", data=data, follow_redirects=False)


@pytest.fixture(scope="module")
def world(runtime: VaultRuntime) -> Iterator[ConsoleWorld]:
    yield seed(runtime)


@pytest.mark.parametrize("who", sorted(ALLOWED))
def test_each_role_sees_its_pages_and_is_refused_the_rest(world: ConsoleWorld, who: str) -> None:
    http, _ = signed_in(world, who)
    home = http.get("/console/").text
    for path in PAGES:
        response = http.get(path)
        expected = 200 if path in ALLOWED[who] else 403
        assert response.status_code == expected, (who, path, response.text[:300])
        assert (f'href="{path}"' in home) == (path in ALLOWED[who]), (who, path)
    assert http.get("/console/account").status_code == 200


def test_outsiders_get_404_for_what_is_outside_their_scope(world: ConsoleWorld) -> None:
    requester, csrf = signed_in(world, "requester")
    sent = _ask(requester, csrf, world)
    assert sent.status_code == 303
    own = sent.headers["location"]
    assert requester.get(own).status_code == 200
    outsider, _ = signed_in(world, "outsider")
    assert outsider.get(own).status_code == 404
    other, _ = signed_in(world, "auditor")  # a member of the trial, without the role: 403
    assert other.get(own).status_code == 403
    assert other.get(f"/console/audit?trial={world.other_trial}").status_code == 404
    outside = outsider.get(f"/console/audit?trial={world.trial}")
    assert outside.status_code == 404
    record = outsider.get("/console/audit/records/1")  # the first trial.create is not theirs
    assert record.status_code == 404 and "not found" in record.text


def test_every_state_changing_route_refuses_a_missing_or_wrong_csrf_token(
    world: ConsoleWorld,
) -> None:
    posts = [
        r.path
        for module in (account, admin, audit, requests)
        for r in module.router.routes
        if isinstance(r, APIRoute) and "POST" in r.methods and r.path != "/sign-in"
    ]
    assert len(posts) >= 14
    http, csrf = signed_in(world, "admin")
    values = {
        "trial": world.trial,
        "key": world.trial,
        "name": world.names["requester"],
        "request_id": "1",
        "token_id": "1",
    }
    for path in posts:
        url = "/console" + path.format(**values)
        for sent in ({}, {"csrf_token": csrf[:-4] + "AAAA"}):
            response = http.post(url, data=sent, follow_redirects=False)
            assert response.status_code == 403, (path, response.status_code)
            assert "security token" in response.text
    assert http.get("/console/").status_code == 200  # the session itself is fine


def test_sign_in_needs_the_forms_own_token(world: ConsoleWorld) -> None:
    http = client(world)
    form = {"name": world.names["requester"], "password": PASSWORD}
    refused = http.post("/console/sign-in", data={**form, "csrf_token": "made-up"})
    assert refused.status_code == 403 and "sign-in form had expired" in refused.text
    token = csrf_of(http.get("/console/sign-in").text)
    signed = http.post("/console/sign-in", data={**form, "csrf_token": token})
    assert signed.url.path == "/console/"


def test_cookies_and_security_headers(world: ConsoleWorld) -> None:
    http = client(world)
    page = http.get("/console/sign-in")
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("__Host-deid_sign_in=")
    for flag in ("HttpOnly", "Path=/", "SameSite=strict", "Secure"):
        assert flag.lower() in cookie.lower()
    headers = page.headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert headers["cache-control"] == "no-store"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert "<script>" not in page.text.replace('<script src="/console/static/console.js"', "")
    assert http.get("/console/static/console.css").headers["cache-control"].startswith("public")
    signed = http.post(
        "/console/sign-in",
        data={
            "name": world.names["approver"],
            "password": PASSWORD,
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    session_cookie = signed.headers.get_list("set-cookie")
    assert any(c.startswith("__Host-deid_console=") and "Secure" in c for c in session_cookie)


def test_a_signed_out_visitor_is_sent_to_sign_in_and_back(world: ConsoleWorld) -> None:
    http = client(world)
    page = http.get("/console/audit?trial=X", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/console/sign-in?next=%2Fconsole%2Faudit%3Ftrial%3DX"
    form = http.get(page.headers["location"])
    assert 'value="/console/audit?trial=X"' in form.text
    evil = http.get("/console/sign-in?next=https://evil.example/console/")
    assert 'name="next" value="/console/"' in evil.text


def test_hostile_text_is_escaped_everywhere_it_is_shown(world: ConsoleWorld) -> None:
    admin, admin_csrf = signed_in(world, "admin")
    key = f"H-{world.trial}"
    created = admin.post(
        "/console/admin/trials/new",
        data={
            "csrf_token": admin_csrf,
            "key": key,
            "sponsor_name": HOSTILE[:64],
            "protocol_name": HOSTILE[:64],
            "sites": f"S01 {HOSTILE[:60]}",
        },
    )
    assert created.status_code == 200 and created.url.path == f"/console/admin/trials/{key}"
    described = admin.post(
        "/console/admin/principals",
        data={"csrf_token": admin_csrf, "name": f"p-{key}", "description": HOSTILE},
    )
    assert described.status_code == 200
    requester, csrf = signed_in(world, "requester")
    sent = _ask(requester, csrf, world, justification=HOSTILE, pseudonyms=f"FULL_NAME {HOSTILE}")
    assert sent.status_code == 303
    sent = requester.get(sent.headers["location"])
    approver, _ = signed_in(world, "approver")
    auditor, _ = signed_in(world, "auditor_all")
    pages = [
        created.text,
        described.text,
        admin.get("/console/admin/principals").text,
        admin.get("/console/admin/trials").text,
        sent.text,
        requester.get("/console/requests").text,
        approver.get("/console/approvals").text,
        auditor.get("/console/audit?action=reidentification.request").text,
    ]
    newest = auditor.get("/console/audit?action=reidentification.request").text
    seq = newest.split('href="/console/audit/records/')[1].split('"')[0]
    pages.append(auditor.get(f"/console/audit/records/{seq}").text)
    for html in pages:
        assert "<script>alert" not in html and "<img src=x" not in html
    assert any("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html for html in pages[4:])
    assert "&lt;script&gt;" in pages[0]


def test_a_refused_request_keeps_what_was_typed(world: ConsoleWorld) -> None:
    http, csrf = signed_in(world, "requester")
    response = _ask(http, csrf, world, justification="too short", pseudonyms="FULL_NAME")
    assert response.status_code == 422
    assert "Pseudonyms, line 1: write the kind" in response.text
    assert 'role="alert"' in response.text and ">too short</textarea>" in response.text


def test_unknown_pages_answer_404_in_html(world: ConsoleWorld) -> None:
    http, _ = signed_in(world, "requester")
    missing = http.get("/console/no/such/page")
    assert missing.status_code == 404 and "<h1>Page not found</h1>" in missing.text
    assert http.get("/v1/no-such-endpoint").json()["error"] == "not_found"  # the API stays JSON


def test_an_admin_changes_a_trials_settings_on_its_page(world: ConsoleWorld) -> None:
    admin, csrf = signed_in(world, "admin")
    path = f"/console/admin/trials/{world.trial}"
    page = admin.get(path).text
    # The trial holds data: what shaped it is shown, fixed, with the reason.
    assert 'id="sponsor_name" name="sponsor_name" type="text" value="UNSPECIFIED SPONSOR"' in page
    assert 'name="subject_id_template" type="text" value="{site}-{seq:4}{check}"' in page
    template_input = page.split('id="subject_id_template"')[1].split(">")[0]
    assert "disabled" in template_input
    assert "the subject IDs already issued were made from it" in page
    assert "S01 One\nS02 Two</textarea>" in page
    form = {
        "csrf_token": csrf,
        "sponsor_name": "Acme Oncology",
        "protocol_name": "Onco 42",
        "reidentification_policy": "approval",
        "bulk_reidentification_limit": "10",
        "grant_ttl_hours": "24",
        "sites": "S01 Halifax Infirmary\nS02 Two\nS07 Moncton",
    }
    changed = admin.post(f"{path}/settings", data=form, follow_redirects=False)
    assert changed.status_code == 303 and changed.headers["location"] == path
    shown = admin.get(path).text
    assert (
        f"Trial {world.trial} changed: sponsor_name, protocol_name, "
        "site S01 renamed, site S07 added." in shown
    )
    assert "<dt>Sponsor</dt><dd>Acme Oncology</dd>" in shown
    assert "<td>S07</td><td>Moncton</td>" in shown
    again = admin.post(f"{path}/settings", data=form)
    assert "Nothing changed." in again.text

    # A form that names a fixed setting anyway is refused, and keeps what was typed.
    refused = admin.post(
        f"{path}/settings",
        data={**form, "sponsor_name": "Beta Pharma", "subject_id_template": "{site}-{seq:6}"},
    )
    assert refused.status_code == 409 and 'role="alert"' in refused.text
    assert "subject_id_template can no longer change" in refused.text
    assert 'value="Beta Pharma"' in refused.text
    assert "<dt>Sponsor</dt><dd>Acme Oncology</dd>" in refused.text  # nothing of it kept
    bad = admin.post(f"{path}/settings", data={**form, "sites": "S08"})
    assert bad.status_code == 422 and "Sites, line 1: write the site ID" in bad.text

    requester, requester_csrf = signed_in(world, "requester")
    denied = requester.post(
        f"{path}/settings", data={"csrf_token": requester_csrf, "sponsor_name": "Mine"}
    )
    assert denied.status_code == 403
    auditor, _ = signed_in(world, "auditor_all")
    log = auditor.get(f"/console/audit?action=trial.update&trial={world.trial}").text
    seq = log.split('href="/console/audit/records/')[1].split('"')[0]
    record = auditor.get(f"/console/audit/records/{seq}").text
    assert "trial.update" in record and "Acme Oncology" in record and "Moncton" in record
