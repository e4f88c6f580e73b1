"""A running vault: engine, sessions, keys and limits, shared by API, CLI and embedded store.

:meth:`VaultRuntime.transaction` is the one transaction owner outside a request:
it commits on success; on a domain error it rolls back and then writes the
error's audit event in a session of its own, so refusals are on record.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from deid.contract.limits import MAX_BATCH_ITEMS, MAX_ORIGINAL_LENGTH
from vault.audit import AuditEvent, AuditSigner, append
from vault.config import Settings, load_keys
from vault.crypto import Barrier
from vault.db import create_vault_engine, make_session_factory
from vault.errors import AuditUnavailableError, VaultError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limits:
    """Bounds on request sizes."""

    max_batch_items: int = MAX_BATCH_ITEMS
    max_value_length: int = MAX_ORIGINAL_LENGTH


@dataclass(frozen=True)
class AuthPolicy:
    """How failed authentications are rate-limited per client address."""

    failure_limit: int = 10
    window_seconds: int = 300
    lockout_seconds: int = 300


@dataclass(frozen=True)
class ConsolePolicy:
    """How the web console's sign-in sessions behave."""

    secure_cookies: bool = True
    idle_timeout_seconds: int = 900
    session_lifetime_seconds: int = 8 * 3600


@dataclass
class VaultRuntime:
    """Everything a service call needs besides its session and caller."""

    engine: Engine
    sessions: sessionmaker[Session]
    barrier: Barrier
    signer: AuditSigner
    limits: Limits
    auth: AuthPolicy
    console: ConsolePolicy = field(default_factory=ConsolePolicy)
    scopes: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)
    """Each site's trial and site rows, by (trial key, site key): a
    :class:`vault.services.mappings.UploadScope`. Ids and salt never change; a change of
    settings or site names forgets the trial's scopes; status and key version may be
    stale, so every INSERT of new mappings checks them, and they are re-read whenever
    it writes less than it was given."""

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine | None = None) -> VaultRuntime:
        """Load the keys and open the database named by ``settings``."""
        keys = load_keys(settings)
        engine = engine or create_vault_engine(settings.database_url)
        return cls(
            engine=engine,
            sessions=make_session_factory(engine),
            barrier=keys.barrier,
            signer=AuditSigner(keys.audit_signing_key, settings.audit_checkpoint_interval),
            limits=Limits(settings.max_batch_items, settings.max_value_length),
            auth=AuthPolicy(
                settings.auth_failure_limit,
                settings.auth_failure_window_seconds,
                settings.auth_lockout_seconds,
            ),
            console=ConsolePolicy(
                settings.console_secure_cookies,
                settings.console_idle_timeout_seconds,
                settings.console_session_lifetime_seconds,
            ),
        )

    def forget_scopes(self, trial_key: str) -> None:
        """Drop the cached rows of ``trial_key`` (changed, closed, or its keys destroyed)."""
        for scope in list(self.scopes):
            if scope[0] == trial_key:
                self.scopes.pop(scope, None)

    def record_in_own_session(
        self, event: AuditEvent | None, error: VaultError | None = None
    ) -> None:
        """Append ``event`` in a transaction of its own (it must survive a rollback).

        ``error``'s after-rollback work (a failure counter) is done in the same
        transaction. Call only after the request's own transaction has ended:
        SQLite allows one writer at a time.
        """
        try:
            with self.sessions.begin() as session:
                if error is not None and error.after_rollback is not None:
                    error.after_rollback(session)
                if event is not None:
                    append(session, self.signer, event)
        except SQLAlchemyError as exc:
            log.error("could not write an audit record: %s", type(exc).__name__)
            raise AuditUnavailableError(
                "the audit log cannot be written, so the request was not carried out"
            ) from None

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except VaultError as exc:
            session.rollback()
            session.close()
            self.settle(exc)
            raise
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def settle(self, error: VaultError) -> None:
        """After a rollback: write what ``error`` says must be on record anyway."""
        if error.audit is not None or error.after_rollback is not None:
            self.record_in_own_session(error.audit, error)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
