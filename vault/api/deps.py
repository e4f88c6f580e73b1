"""The API's own request dependency: the caller a bearer token stands for.

The runtime, the transaction and the client's address are shared with the
console: see :mod:`vault.dependencies`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from vault.authz import Caller
from vault.dependencies import RuntimeDep, SessionDep, client_address
from vault.services import principals as principal_service

bearer = HTTPBearer(auto_error=False, description="an API token: 'Authorization: Bearer dvt_...'")


def get_caller(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The principal the bearer token stands for (401/429 otherwise, audited)."""
    token = credentials.credentials if credentials is not None else None
    return principal_service.authenticate(session, runtime, token, client_address(request))


CallerDep = Annotated[Caller, Depends(get_caller, scope="function")]
