"""Console sign-in sessions and passwords, through the service, on SQLite and PostgreSQL."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from tests.console.world import PASSWORD, ConsoleWorld, seed
from tests.vault.databases import make_settings
from vault.audit import Outcome
from vault.console import accounts
from vault.console.accounts import SignInRequiredError, session_digest
from vault.errors import ForbiddenError, NotFoundError, RateLimitedError, UnauthenticatedError
from vault.models import AuditRecord, ConsolePassword, ConsoleSession, utcnow
from vault.runtime import VaultRuntime


@pytest.fixture(scope="module")
def world(runtime: VaultRuntime) -> Iterator[ConsoleWorld]:
    yield seed(runtime)


def _sign_in(world: ConsoleWorld, who: str, password: str = PASSWORD, address: str = "10.0.0.1"):  # type: ignore[no-untyped-def]
    runtime = world.runtime
    with runtime.transaction() as session:
        return accounts.sign_in(session, runtime, world.names[who], password, address)


def _last(world: ConsoleWorld, action: str) -> AuditRecord:
    with world.runtime.sessions() as session:
        return session.scalars(
            select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.seq.desc())
        ).first()  # type: ignore[return-value]


def test_a_session_is_stored_by_digest_and_resumed(world: ConsoleWorld) -> None:
    session_id, visit = _sign_in(world, "requester")
    assert len(session_id) >= 43 and visit.caller.name == world.names["requester"]
    runtime = world.runtime
    with runtime.transaction() as session:
        row = session.get(ConsoleSession, session_digest(session_id))
        assert row is not None and row.csrf_token == visit.csrf_token
        assert row.expires_at - row.created_at == timedelta(
            seconds=runtime.console.session_lifetime_seconds
        )
        stored = session.execute(text("SELECT id_digest FROM console_sessions")).scalars().all()
        assert all(session_id.encode() not in bytes(d) for d in stored)
        resumed = accounts.resume(session, runtime, session_id, "10.0.0.1")
    assert resumed.caller.principal_id == visit.caller.principal_id
    assert _last(world, "console.sign_in").principal_name == world.names["requester"]


def test_a_wrong_password_is_audited_without_saying_which_part_was_wrong(
    world: ConsoleWorld,
) -> None:
    with pytest.raises(UnauthenticatedError, match="the name or the password is not right"):
        _sign_in(world, "approver", "not the password", "10.0.0.2")
    failure = _last(world, "auth.failure")
    assert failure.outcome == Outcome.DENIED and failure.client_address == "10.0.0.2"
    assert failure.details == {
        "reason": "wrong password",
        "via": "console",
        "principal": world.names["approver"],
    }


def test_an_unknown_name_is_not_written_into_the_audit_log(world: ConsoleWorld) -> None:
    typed = "MyS3cretPassw0rd"  # a password typed into the name field
    runtime = world.runtime
    with pytest.raises(UnauthenticatedError), runtime.transaction() as session:
        accounts.sign_in(session, runtime, typed, PASSWORD, "10.0.0.3")
    failure = _last(world, "auth.failure")
    assert failure.details == {"reason": "unknown principal", "via": "console"}
    assert typed not in str(failure.details) + failure.principal_name


def test_repeated_failures_lock_the_address_out(world: ConsoleWorld) -> None:
    limit = world.runtime.auth.failure_limit
    for _ in range(limit):
        with pytest.raises(UnauthenticatedError):
            _sign_in(world, "auditor", "guess guess guess", "10.0.0.4")
    with pytest.raises(RateLimitedError, match="too many failed authentications"):
        _sign_in(world, "auditor", PASSWORD, "10.0.0.4")  # even the right password
    _sign_in(world, "auditor", PASSWORD, "10.0.0.5")  # another address is not locked


@pytest.mark.parametrize(
    ("column", "reason"), [("last_seen_at", "idle"), ("expires_at", "expired")]
)
def test_an_idle_or_old_session_ends(world: ConsoleWorld, column: str, reason: str) -> None:
    session_id, _ = _sign_in(world, "auditor_all")
    runtime = world.runtime
    digest = session_digest(session_id)
    moved = utcnow() - timedelta(seconds=runtime.console.idle_timeout_seconds + 1)
    with runtime.transaction() as session:
        session.execute(
            update(ConsoleSession).where(ConsoleSession.id_digest == digest).values({column: moved})
        )
    with pytest.raises(SignInRequiredError) as refused, runtime.transaction() as session:
        accounts.resume(session, runtime, session_id, "10.0.0.1")
    assert refused.value.reason == reason
    with runtime.transaction() as session:
        assert session.get(ConsoleSession, digest) is None
    assert _last(world, "console.session_expire").details == {"reason": reason}


@pytest.mark.parametrize("cookie", [None, "", "x" * 500, "not-a-session"])
def test_no_or_unknown_cookie_needs_a_sign_in(world: ConsoleWorld, cookie: str | None) -> None:
    runtime = world.runtime
    with pytest.raises(SignInRequiredError, match="sign in"), runtime.transaction() as session:
        accounts.resume(session, runtime, cookie, "10.0.0.1")


def test_setting_a_password_ends_the_principals_sessions(world: ConsoleWorld) -> None:
    session_id, _ = _sign_in(world, "uploader")
    runtime = world.runtime
    with runtime.transaction() as session:
        ended = accounts.set_password(
            session, runtime, None, world.names["uploader"], "a brand new passphrase"
        )
        hashes = session.scalars(select(ConsolePassword.password_hash)).all()
    assert ended >= 1
    assert not any("brand new" in h for h in hashes)
    with pytest.raises(SignInRequiredError), runtime.transaction() as session:
        accounts.resume(session, runtime, session_id, "10.0.0.1")
    _sign_in(world, "uploader", "a brand new passphrase")
    with runtime.transaction() as session:
        accounts.set_password(session, runtime, None, world.names["uploader"], PASSWORD)


def test_only_admins_set_passwords(world: ConsoleWorld) -> None:
    _, visit = _sign_in(world, "approver")
    runtime = world.runtime
    with pytest.raises(ForbiddenError, match="admin"), runtime.transaction() as session:
        accounts.set_password(session, runtime, visit.caller, world.names["requester"], "x" * 20)
    _, admin = _sign_in(world, "admin")
    with pytest.raises(NotFoundError), runtime.transaction() as session:
        accounts.set_password(session, runtime, admin.caller, "nobody-here", "y" * 20)


def test_changing_ones_password_keeps_this_session_only(world: ConsoleWorld) -> None:
    other, _ = _sign_in(world, "outsider")
    current, visit = _sign_in(world, "outsider")
    runtime = world.runtime
    with pytest.raises(ForbiddenError, match="current password"), runtime.transaction() as s:
        accounts.change_own_password(s, runtime, visit, "wrong current", "another passphrase")
    with runtime.transaction() as session:
        accounts.change_own_password(session, runtime, visit, PASSWORD, "another passphrase")
        accounts.resume(session, runtime, current, "10.0.0.1")
    with pytest.raises(SignInRequiredError), runtime.transaction() as session:
        accounts.resume(session, runtime, other, "10.0.0.1")
    with runtime.transaction() as session:
        accounts.change_own_password(session, runtime, visit, "another passphrase", PASSWORD)


def test_plain_http_cookies_only_in_development(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'v.db'}"
    with pytest.raises(ValueError, match="VAULT_CONSOLE_SECURE_COOKIES=false is allowed only"):
        make_settings(url, tmp_path, console_secure_cookies=False)
    assert not make_settings(
        url, tmp_path, console_secure_cookies=False, environment="development"
    ).console_secure_cookies
    with pytest.raises(ValueError, match="must not exceed"):
        make_settings(
            url, tmp_path, console_idle_timeout_seconds=7200, console_session_lifetime_seconds=3600
        )
