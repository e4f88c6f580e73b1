"""The FastAPI application: routers, the one domain-error handler, request limits."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from vault import __version__
from vault.api import audit, health, keys, principals, reidentification, trials
from vault.config import Settings
from vault.console.app import create_console
from vault.errors import RateLimitedError, VaultError
from vault.runtime import VaultRuntime

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 16 * 1024 * 1024


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"error": code, "message": message}
    body.update(extra)
    return JSONResponse(body, status_code=status)


def _vault_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, VaultError)
    response = _error(exc.status_code, exc.code, exc.message)
    if isinstance(exc, RateLimitedError):
        response.headers["Retry-After"] = str(exc.retry_after_seconds)
    return response


def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return _error(400, "invalid_json", "the request body is not valid JSON")
    # Never echo the input back: it may hold an original value.
    details = [
        {"location": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg", "")}
        for e in errors[:20]
    ]
    summary = "; ".join(f"{d['location']}: {d['problem']}" for d in details[:5])
    return _error(422, "invalid_request", f"the request is not valid: {summary}", details=details)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated"}
    response = _error(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


def _unexpected(request: Request, exc: Exception) -> Response:
    # The type only: an exception's text could carry data from the request.
    log.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return _error(500, "internal", "internal error; the request was not carried out")


class BodyLimit:
    """Refuse (413) a request whose declared body is larger than :data:`MAX_BODY_BYTES`.

    A plain ASGI middleware: every upload request passes here, and Starlette's
    ``BaseHTTPMiddleware`` would add a task group and a streamed response to each.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = Headers(scope=scope).get("content-length")
            if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
                refusal = _error(
                    413, "too_large", f"a request body is at most {MAX_BODY_BYTES} bytes"
                )
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(runtime: VaultRuntime) -> FastAPI:
    """The vault's HTTP API around ``runtime``."""
    app = FastAPI(
        title="deid-vault",
        version=__version__,
        description="Encrypted original-to-pseudonym mappings, served by role, "
        "with audited re-identification.",
    )
    app.state.runtime = runtime
    app.add_exception_handler(VaultError, _vault_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)

    app.add_middleware(BodyLimit)
    for module in (health, trials, principals, reidentification, audit, keys):
        app.include_router(module.router)
    app.mount("/console", create_console(runtime))
    return app


def create_app_from_environment() -> FastAPI:
    """For ``uvicorn --factory``: settings from ``VAULT_*`` variables."""
    return create_app(VaultRuntime.from_settings(Settings()))
