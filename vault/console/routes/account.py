"""Sign-in, sign-out, the home page and the signed-in principal's own account."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from vault.console import accounts
from vault.console.web import (
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    FormPageDep,
    PageDep,
    attempt,
    base_path,
    clear_cookie,
    cookie_name,
    render_page,
    set_cookie,
    tokens_match,
)
from vault.dependencies import RuntimeDep, SessionDep, client_address
from vault.errors import InvalidInputError, RateLimitedError, VaultError
from vault.runtime import VaultRuntime
from vault.services import principals as principal_service

router = APIRouter()
Text = Annotated[str, Form(max_length=1024)]
NOTICES = {
    "idle": "Your session ended after a time without activity. Sign in again.",
    "expired": "Your session reached its time limit. Sign in again.",
    "signed_out": "You are signed out.",
}


def _safe_next(base: str, target: str) -> str:
    """Only a path inside the console: never another site (an open redirect)."""
    parts = urlsplit(target)
    if (
        target.startswith(base + "/")
        and not target.startswith("//")
        and not parts.scheme
        and not parts.netloc
        and "\\" not in target
        and all(ord(c) >= 0x20 for c in target)
    ):
        return target
    return base + "/"


def _sign_in_page(
    request: Request,
    runtime: VaultRuntime,
    *,
    status: int = 200,
    next_path: str = "",
    notice: str | None = None,
    error: str | None = None,
    name: str = "",
) -> Response:
    # Before sign-in there is no session: the form's token is also set as a cookie
    # (double submit), which a page on another site can neither read nor set.
    token = secrets.token_urlsafe(32)
    response = render_page(
        request,
        "sign_in.html",
        status=status,
        title="Sign in",
        csrf=token,
        next_path=_safe_next(base_path(request), next_path),
        notice=notice,
        error=error,
        name=name,
    )
    set_cookie(response, runtime, SIGN_IN_COOKIE, token)
    return response


@router.get("/sign-in")
def sign_in_form(
    request: Request,
    runtime: RuntimeDep,
    next: Annotated[str, Query(max_length=1024)] = "",
    ended: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    """The sign-in form."""
    return _sign_in_page(request, runtime, next_path=next, notice=NOTICES.get(ended))


@router.post("/sign-in")
def sign_in(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    name: Annotated[str, Form(max_length=256)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=256)] = "",
    next: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Check the name and password; open a session and go where the person was going."""
    if not tokens_match(csrf_token, request.cookies.get(cookie_name(runtime, SIGN_IN_COOKIE), "")):
        return _sign_in_page(
            request,
            runtime,
            status=403,
            next_path=next,
            error="the sign-in form had expired or did not come from this console; try again",
        )
    result = attempt(
        session,
        runtime,
        lambda: accounts.sign_in(session, runtime, name, password, client_address(request)),
    )
    if isinstance(result, VaultError):
        response = _sign_in_page(
            request,
            runtime,
            status=result.status_code,
            next_path=next,
            error=result.message,
            name=name,
        )
        if isinstance(result, RateLimitedError):
            response.headers["Retry-After"] = str(result.retry_after_seconds)
        return response
    session_id, _ = result
    response = RedirectResponse(_safe_next(base_path(request), next), status_code=303)
    set_cookie(response, runtime, SESSION_COOKIE, session_id)
    clear_cookie(response, runtime, SIGN_IN_COOKIE)
    return response


@router.post("/sign-out")
def sign_out(page: FormPageDep) -> Response:
    """End the session."""
    accounts.sign_out(page.session, page.runtime, page.visit)
    response = RedirectResponse(f"{page.base}/sign-in?ended=signed_out", status_code=303)
    clear_cookie(response, page.runtime, SESSION_COOKIE)
    return response


@router.get("/")
def home(page: PageDep) -> HTMLResponse:
    """What the signed-in principal can do here."""
    return page.render(
        "home.html", title="Home", roles=principal_service.own_roles(page.session, page.caller)
    )


def _account(page: PageDep, *, error: VaultError | None = None) -> HTMLResponse:
    return page.render(
        "account.html",
        title="Your account",
        roles=principal_service.own_roles(page.session, page.caller),
        tokens=accounts.own_tokens(page.session, page.caller),
        error=error,
    )


@router.get("/account")
def account(page: PageDep) -> HTMLResponse:
    """The principal's roles, its API tokens' status, and its password."""
    return _account(page)


@router.post("/account/password")
def change_password(
    page: FormPageDep, current: Text = "", new: Text = "", confirm: Text = ""
) -> Response:
    """Change one's own password; other sessions end."""

    def change() -> None:
        if new != confirm:
            raise InvalidInputError("the new password and its repetition differ")
        accounts.change_own_password(page.session, page.runtime, page.visit, current, new)

    result = page.attempt(change)
    if isinstance(result, VaultError):
        return _account(page, error=result)
    return page.redirect("/account", "Your password is changed; your other sessions have ended.")
