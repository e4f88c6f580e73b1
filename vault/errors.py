"""Domain errors: each carries its HTTP status; one exception handler renders them.

Messages are shown to callers, so they never hold an original value. An error may
carry an audit event: the transaction owner rolls back, then writes that event in
its own session, so a denied request is on record even though nothing else is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from vault.audit.events import AuditEvent


class VaultError(Exception):
    """Base of every error a service raises on purpose."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        audit: AuditEvent | None = None,
        after_rollback: Callable[[Session], None] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.audit = audit
        self.after_rollback = after_rollback
        """Work that must survive the rollback (a failure counter), done with the audit."""


class InvalidInputError(VaultError):
    """The request is well-formed but its content cannot be accepted."""

    status_code = 422
    code = "invalid_input"


class UnauthenticatedError(VaultError):
    """No valid token."""

    status_code = 401
    code = "unauthenticated"


class ForbiddenError(VaultError):
    """The caller may see the resource but not do this."""

    status_code = 403
    code = "forbidden"


class NotFoundError(VaultError):
    """Absent, or outside the caller's scope (the two are not told apart)."""

    status_code = 404
    code = "not_found"


class ConflictError(VaultError):
    """The resource is not in a state that allows this."""

    status_code = 409
    code = "conflict"


class GoneError(VaultError):
    """A grant that was used or has expired."""

    status_code = 410
    code = "gone"


class RateLimitedError(VaultError):
    """Too many failed authentications from this client address."""

    status_code = 429
    code = "rate_limited"

    def __init__(
        self, message: str, retry_after_seconds: int, *, audit: AuditEvent | None = None
    ) -> None:
        super().__init__(message, audit=audit)
        self.retry_after_seconds = retry_after_seconds


class AuditUnavailableError(VaultError):
    """The audit record could not be written, so the action did not happen."""

    status_code = 503
    code = "audit_unavailable"
