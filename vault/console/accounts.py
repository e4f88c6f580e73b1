"""Console sign-in: passwords, server-side sessions, sign-out, idle and absolute timeouts.

A session is a random 256-bit ID in a cookie; the database keeps only its SHA-256,
with the principal, a CSRF token, and when it was created, last seen and ends.
Any vault process can serve any request. Failed sign-ins are audited and counted
per client address with the API's failed authentications (one lock-out for both).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from vault.audit import AuditEvent, Outcome, anonymous_event
from vault.authz import Caller, cli_caller, require_admin
from vault.console import passwords
from vault.errors import ForbiddenError, NotFoundError, UnauthenticatedError, VaultError
from vault.models import ApiToken, ConsoleSession, Principal, utcnow
from vault.repositories import console as repo
from vault.repositories import principals as principals_repo
from vault.runtime import VaultRuntime
from vault.services.callers import caller_for
from vault.services.common import record
from vault.services.principals import (
    NAME_PATTERN,
    failure_counter,
    require_not_locked_out,
)

VIA = "console"


class SignInRequiredError(VaultError):
    """No live console session: never signed in, signed out, idle too long, or too old."""

    status_code = 401
    code = "sign_in_required"

    def __init__(
        self,
        reason: str,
        *,
        audit: AuditEvent | None = None,
        after_rollback: Callable[[Session], None] | None = None,
    ) -> None:
        super().__init__(
            {
                "idle": "your session ended after a time without activity; sign in again",
                "expired": "your session reached its time limit; sign in again",
            }.get(reason, "sign in to use the console"),
            audit=audit,
            after_rollback=after_rollback,
        )
        self.reason = reason


@dataclass(frozen=True)
class Visit:
    """A request in a live console session."""

    caller: Caller
    id_digest: bytes
    csrf_token: str
    flash: str | None = None

    def __repr__(self) -> str:
        return f"Visit({self.caller.name!r}, csrf=<masked>)"


def session_digest(session_id: str) -> bytes:
    """What the database keeps of a session ID."""
    return hashlib.sha256(session_id.encode("utf-8")).digest()


def sign_in(
    session: Session, runtime: VaultRuntime, name: str, password: str, client_address: str
) -> tuple[str, Visit]:
    """Check a name and password; open a session. Returns the new session ID (for the cookie).

    Failures say nothing about which part was wrong; they are audited (with the
    principal's name only when one of that name exists, so a password typed into
    the name field is never recorded) and count towards the address's lock-out.
    """
    now = utcnow()
    require_not_locked_out(session, client_address, now)
    principal = principals_repo.get_principal(session, name) if NAME_PATTERN.match(name) else None
    reason = None
    if principal is None:
        reason = "unknown principal"
    elif principal.built_in or principal.disabled_at is not None:
        reason = "disabled principal"
    stored = repo.password_hash(session, principal.id) if principal and not reason else None
    if reason is None and stored is None:
        reason = "no password set"
    if not passwords.verify_password(password, stored) and reason is None:
        reason = "wrong password"
    if reason is not None or principal is None:
        details: dict[str, object] = {"reason": reason or "unknown principal", "via": VIA}
        if principal is not None:
            details["principal"] = principal.name
        raise UnauthenticatedError(
            "the name or the password is not right",
            audit=anonymous_event(client_address, "auth.failure", Outcome.DENIED, details),
            after_rollback=failure_counter(runtime, client_address),
        )
    policy = runtime.console
    repo.delete_stale_sessions(session, now, now - timedelta(seconds=policy.idle_timeout_seconds))
    session_id = secrets.token_urlsafe(32)
    row = ConsoleSession(
        id_digest=session_digest(session_id),
        principal_id=principal.id,
        csrf_token=secrets.token_urlsafe(32),
        client_address=client_address[:64],
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=policy.session_lifetime_seconds),
    )
    repo.add_session(session, row)
    caller = caller_for(session, principal.id, principal.name, client_address)
    record(session, runtime, caller.event("console.sign_in", Outcome.SUCCESS))
    return session_id, Visit(caller, row.id_digest, row.csrf_token)


def resume(
    session: Session, runtime: VaultRuntime, session_id: str | None, client_address: str
) -> Visit:
    """The live session a cookie names; :class:`SignInRequiredError` otherwise.

    A session idle for longer than the idle timeout, or older than its lifetime,
    is deleted (audited as ``console.session_expire``) and refused.
    """
    if not session_id or len(session_id) > 128:
        raise SignInRequiredError("none")
    found = repo.session_with_principal(session, session_digest(session_id))
    if found is None:
        raise SignInRequiredError("none")
    row, principal = found
    caller = caller_for(session, principal.id, principal.name, client_address)
    now = utcnow()
    policy = runtime.console
    reason = None
    if principal.disabled_at is not None:
        reason = "disabled"
    elif row.expires_at <= now:
        reason = "expired"
    elif now - row.last_seen_at > timedelta(seconds=policy.idle_timeout_seconds):
        reason = "idle"
    if reason is not None:
        digest = row.id_digest
        raise SignInRequiredError(
            reason,
            audit=caller.event(
                "console.session_expire", Outcome.SUCCESS, details={"reason": reason}
            ),
            after_rollback=lambda own: repo.delete_session(own, digest),
        )
    # Write the activity time only now and then: every page view need not be a write.
    resolution = min(60, policy.idle_timeout_seconds // 10)
    if (now - row.last_seen_at).total_seconds() >= resolution:
        row.last_seen_at = now
    flash, row.flash = row.flash, None
    session.flush()
    return Visit(caller, row.id_digest, row.csrf_token, flash)


def set_flash(session: Session, visit: Visit, message: str) -> None:
    """A status message for the session's next page (shown once)."""
    found = repo.session_with_principal(session, visit.id_digest)
    if found is not None:
        found[0].flash = message[:512]
        session.flush()


def sign_out(session: Session, runtime: VaultRuntime, visit: Visit) -> None:
    """End the session (audited)."""
    repo.delete_session(session, visit.id_digest)
    record(session, runtime, visit.caller.event("console.sign_out", Outcome.SUCCESS))


def _store_password(session: Session, principal: Principal, password: str) -> None:
    passwords.check_policy(password, principal.name)
    repo.store_password_hash(session, principal.id, passwords.hash_password(password), utcnow())


def set_password(
    session: Session, runtime: VaultRuntime, caller: Caller | None, name: str, password: str
) -> int:
    """Set a principal's console password (admin; ``caller`` None for the CLI).

    Every console session of that principal ends. Returns how many ended.
    """
    if caller is not None:
        require_admin(caller)
    principal = principals_repo.get_principal(session, name)
    if principal is None or principal.built_in:
        raise NotFoundError(f"principal {name} not found")
    _store_password(session, principal, password)
    ended = repo.delete_sessions_of(session, principal.id)
    record(
        session,
        runtime,
        (caller or cli_caller()).event(
            "principal.set_password",
            Outcome.SUCCESS,
            details={"principal": name, "sessions_ended": ended},
        ),
    )
    return ended


def change_own_password(
    session: Session, runtime: VaultRuntime, visit: Visit, current: str, new: str
) -> None:
    """Change the signed-in principal's password; its other sessions end."""
    caller = visit.caller
    principal = principals_repo.get_principal_by_id(session, caller.principal_id)
    assert principal is not None
    if not passwords.verify_password(current, repo.password_hash(session, principal.id)):
        raise ForbiddenError(
            "the current password is not right",
            audit=caller.event(
                "auth.failure",
                Outcome.DENIED,
                details={"reason": "wrong current password", "via": VIA},
            ),
            after_rollback=failure_counter(runtime, caller.client_address),
        )
    _store_password(session, principal, new)
    ended = repo.delete_sessions_of(session, principal.id, keep=visit.id_digest)
    record(
        session,
        runtime,
        caller.event(
            "console.password_change", Outcome.SUCCESS, details={"other_sessions_ended": ended}
        ),
    )


def own_tokens(session: Session, caller: Caller) -> Sequence[ApiToken]:
    """The signed-in principal's API tokens (their status; never the tokens themselves)."""
    return principals_repo.tokens_of(session, caller.principal_id)
