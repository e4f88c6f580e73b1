"""Request dependencies the API and the console share: the runtime, the transaction,
the client's address.

The session dependency owns the transaction: it commits after the route returns
and before the response is sent (so an answer never goes out for work that did
not commit), rolls back on any error, and then writes the error's audit record
in a session of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from vault.runtime import VaultRuntime


async def get_runtime(request: Request) -> VaultRuntime:
    """The vault this app serves (async: no worker thread for reading an attribute)."""
    runtime: VaultRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[VaultRuntime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    """One transaction per request: committed before the response, else rolled back."""
    with runtime.transaction() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def client_address(request: Request) -> str:
    """The client's address (behind a proxy, as uvicorn's --forwarded-allow-ips resolves it)."""
    return request.client.host if request.client else "unknown"
