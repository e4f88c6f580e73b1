"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from vault.db import DatabaseNotMigratedError, ping, require_migrated
from vault.dependencies import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/ready", responses={503: {"description": "not ready; problems say why"}})
def ready(runtime: RuntimeDep) -> JSONResponse:
    """Ready to serve: database reachable and migrated, keys loaded."""
    problems: list[str] = []
    try:
        ping(runtime.engine)
        require_migrated(runtime.engine)
    except DatabaseNotMigratedError as exc:
        problems.append(str(exc))
    except SQLAlchemyError as exc:
        problems.append(f"the database is unreachable ({type(exc).__name__})")
    if runtime.barrier is None or runtime.signer is None:
        problems.append("keys are not loaded")
    if problems:
        return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready", "database": "ok", "keys": "loaded"})
