"""The console's request plumbing: the signed-in page, CSRF checks, rendering, cookies.

Routes stay thin: they parse a form, call a service through :meth:`Page.attempt`
and render. The request's session dependency owns the transaction; a refused
action is rolled back and its audit record written before the page explains it.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined
from sqlalchemy.orm import Session

from vault.audit import Outcome
from vault.authz import Caller
from vault.console import accounts
from vault.dependencies import RuntimeDep, SessionDep, client_address
from vault.errors import ForbiddenError, VaultError
from vault.models import Role, utcnow
from vault.runtime import VaultRuntime

T = TypeVar("T")
SESSION_COOKIE = "deid_console"
SIGN_IN_COOKIE = "deid_sign_in"
CSRF_FIELD = "csrf_token"


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _sentence(text: str) -> str:
    """A service message as a sentence: capital first letter, final full stop."""
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def _query(base: str, **params: object) -> str:
    """``base`` with the non-empty ``params`` as its query string."""
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{base}?{urlencode(kept)}" if kept else base


TEMPLATES = Environment(
    loader=PackageLoader("vault.console", "templates"),
    autoescape=True,  # every value is escaped, in every template
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters["when"] = _when
TEMPLATES.filters["sentence"] = _sentence
TEMPLATES.globals["query"] = _query


def cookie_name(runtime: VaultRuntime, name: str) -> str:
    """``__Host-`` cookies are Secure, host-only and path /: a sibling host cannot set them."""
    return f"__Host-{name}" if runtime.console.secure_cookies else name


def set_cookie(response: Response, runtime: VaultRuntime, name: str, value: str) -> None:
    """A browser-session cookie: Secure (unless configured off), HttpOnly, SameSite=Strict."""
    response.set_cookie(
        cookie_name(runtime, name),
        value,
        path="/",
        secure=runtime.console.secure_cookies,
        httponly=True,
        samesite="strict",
    )


def clear_cookie(response: Response, runtime: VaultRuntime, name: str) -> None:
    """Tell the browser to forget a cookie."""
    response.delete_cookie(
        cookie_name(runtime, name),
        path="/",
        secure=runtime.console.secure_cookies,
        httponly=True,
        samesite="strict",
    )


def base_path(request: Request) -> str:
    """Where the console is mounted (``/console``, behind any proxy prefix)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


@dataclass(frozen=True)
class NavLink:
    """One entry of the navigation."""

    href: str
    label: str
    current: bool


def _has(caller: Caller, role: Role) -> bool:
    return any(b.role is role for b in caller.bindings)


def navigation(base: str, caller: Caller, path: str) -> list[NavLink]:
    """The pages of the caller's roles (the services refuse the rest anyway)."""
    entries = [("/", "Home")]
    if _has(caller, Role.REIDENTIFY_REQUESTER):
        entries += [("/requests", "My requests"), ("/requests/new", "New request")]
    if _has(caller, Role.APPROVER):
        entries.append(("/approvals", "Approvals"))
    if _has(caller, Role.AUDITOR):
        entries += [
            ("/audit", "Audit log"),
            ("/audit/dashboard", "Dashboard"),
            ("/audit/verify", "Verify chain"),
        ]
    if caller.is_admin:
        entries += [("/admin/trials", "Trials"), ("/admin/principals", "Principals")]
    entries.append(("/account", "Account"))
    return [
        NavLink(base + href, label, (base + href).rstrip("/") == path.rstrip("/"))
        for href, label in entries
    ]


def render_page(
    request: Request, template: str, *, status: int = 200, **context: Any
) -> HTMLResponse:
    """Render ``template`` with what every page needs."""
    context.setdefault("base", base_path(request))
    context.setdefault("nav", [])
    context.setdefault("me", None)
    context.setdefault("csrf", "")
    context.setdefault("flash", None)
    context.setdefault("error", None)
    context.setdefault("now", utcnow())
    return HTMLResponse(TEMPLATES.get_template(template).render(**context), status_code=status)


def attempt(session: Session, runtime: VaultRuntime, action: Callable[[], T]) -> T | VaultError:
    """Run ``action``; if a service refuses it, roll back, write the refusal's audit
    record (no audit, no answer: that failure propagates) and return the error."""
    try:
        return action()
    except VaultError as exc:
        session.rollback()
        runtime.settle(exc)
        return exc


@dataclass
class Page:
    """A request in a live console session."""

    request: Request
    runtime: VaultRuntime
    session: Session
    visit: accounts.Visit

    @property
    def caller(self) -> Caller:
        """Who is signed in."""
        return self.visit.caller

    @property
    def base(self) -> str:
        """The console's path prefix."""
        return base_path(self.request)

    def attempt(self, action: Callable[[], T]) -> T | VaultError:
        """See :func:`attempt`."""
        return attempt(self.session, self.runtime, action)

    def render(
        self,
        template: str,
        *,
        status: int = 200,
        error: VaultError | str | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """A page with the navigation, the CSRF token and any status message."""
        if isinstance(error, VaultError):
            status = error.status_code
            error = error.message
        return render_page(
            self.request,
            template,
            status=status,
            nav=navigation(self.base, self.caller, self.request.url.path),
            me=self.caller,
            csrf=self.visit.csrf_token,
            flash=self.visit.flash,
            error=error,
            **context,
        )

    def redirect(self, path: str, flash: str | None = None) -> RedirectResponse:
        """See Other ``path`` (below the console), with a message for that page."""
        if flash:
            accounts.set_flash(self.session, self.visit, flash)
        return RedirectResponse(self.base + path, status_code=303)


def get_page(request: Request, session: SessionDep, runtime: RuntimeDep) -> Page:
    """The signed-in page (:class:`accounts.SignInRequiredError` otherwise)."""
    cookie = request.cookies.get(cookie_name(runtime, SESSION_COOKIE))
    visit = accounts.resume(session, runtime, cookie, client_address(request))
    return Page(request, runtime, session, visit)


PageDep = Annotated[Page, Depends(get_page)]


def tokens_match(sent: object, expected: str) -> bool:
    """Constant-time comparison of a submitted token with the expected one."""
    return (
        isinstance(sent, str)
        and bool(expected)
        and hmac.compare_digest(sent.encode("utf-8"), expected.encode("utf-8"))
    )


async def checked_form(request: Request, page: PageDep) -> Page:
    """A state-changing request: its form must carry this session's CSRF token (403)."""
    form = await request.form()
    if not tokens_match(form.get(CSRF_FIELD), page.visit.csrf_token):
        raise ForbiddenError(
            "this form did not come from your console session (its security token is "
            "missing or wrong); reload the page and try again",
            audit=page.caller.event(
                "console.csrf", Outcome.DENIED, details={"path": request.url.path[:200]}
            ),
        )
    return page


FormPageDep = Annotated[Page, Depends(checked_form)]
