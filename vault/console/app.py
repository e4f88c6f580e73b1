"""The console as an application mounted under ``/console`` of the vault's API.

Its own error pages (HTML, not JSON), its own security headers: a strict
Content-Security-Policy (no inline script or style, no framing), no caching of
any page (pages show personal data, the reveal page originals), no referrer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from vault.console.accounts import SignInRequiredError
from vault.console.routes import account, admin, audit, requests
from vault.console.web import base_path, render_page
from vault.errors import RateLimitedError, VaultError
from vault.runtime import VaultRuntime

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
_TITLES = {404: "Page not found", 405: "Not allowed here", 403: "Not allowed", 401: "Sign in"}


def _error_page(request: Request, status: int, message: str) -> Response:
    return render_page(
        request,
        "error.html",
        status=status,
        title=_TITLES.get(status, "Something went wrong"),
        message=message,
    )


def _sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequiredError)
    if request.method in ("GET", "HEAD"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        query = urlencode(
            {"next": target, **({"ended": exc.reason} if exc.reason != "none" else {})}
        )
        return RedirectResponse(f"{base_path(request)}/sign-in?{query}", status_code=303)
    # A state-changing request with no live session cannot carry a valid CSRF token.
    return _error_page(request, 403, exc.message)


def _vault_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, VaultError)
    response = _error_page(request, exc.status_code, exc.message)
    if isinstance(exc, RateLimitedError):
        response.headers["Retry-After"] = str(exc.retry_after_seconds)
    return response


def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # Never echo the input: it may hold an original value.
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg', '')}"
        for e in list(exc.errors())[:5]
    )
    return _error_page(request, 422, f"the form or address is not valid: {problems}")


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = {404: "there is no such page in the console", 405: "this page does not take that"}
    return _error_page(request, exc.status_code, message.get(exc.status_code, str(exc.detail)))


def _unexpected(request: Request, exc: Exception) -> Response:
    # The type only: an exception's text could carry data from the request.
    log.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return _error_page(request, 500, "internal error; the request was not carried out")


def create_console(runtime: VaultRuntime) -> FastAPI:
    """The console application (mount it under ``/console``)."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runtime = runtime
    app.add_exception_handler(SignInRequiredError, _sign_in_required)
    app.add_exception_handler(VaultError, _vault_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # Before routing: the router rewrites the scope's root_path for mounted apps.
        static = request.url.path.startswith(f"{base_path(request)}/static/")
        response = await call_next(request)
        response.headers.update(_HEADERS)
        if runtime.console.secure_cookies:
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        response.headers["Cache-Control"] = "public, max-age=3600" if static else "no-store"
        return response

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (account, requests, audit, admin):
        app.include_router(module.router)
    return app
