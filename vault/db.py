"""Engines, sessions and the migration state of a vault database.

SQLite (embedded and development) runs in WAL mode with a busy timeout, and every
transaction begins IMMEDIATE: a writer takes the lock before it reads, so two
processes never deadlock upgrading a read lock. PostgreSQL runs READ COMMITTED;
uniqueness is enforced by constraints (``INSERT ... ON CONFLICT DO NOTHING``).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

import migrations

SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_ONLY = "vault_read_only"
PLAN_EACH_TIME = "vault_plan_each_time"
"""Execution option: on PostgreSQL, plan this statement on every execution."""


class DatabaseNotMigratedError(RuntimeError):
    """The database is not at the newest schema; the message names the fix."""


def create_vault_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``, set up for the vault's concurrency rules."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            hide_parameters=True,
            **kwargs,
        )
        _set_up_sqlite(engine)
        return engine
    engine = create_engine(url, pool_pre_ping=True, hide_parameters=True, **kwargs)
    _set_up_postgresql(engine)
    return engine


def _set_up_postgresql(engine: Engine) -> None:
    # psycopg prepares a statement on the server after a few executions, and the
    # server may then keep one generic plan for it. A plan made for a lookup while
    # its table was nearly empty scans the whole table, and stays cached as the table
    # grows (until the next ANALYZE): every lookup then reads every row. Statements
    # marked PLAN_EACH_TIME are sent unprepared, so each is planned for its
    # parameters and the table as it is; every other statement is prepared as usual.
    @event.listens_for(engine, "do_execute")
    def _do_execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool | None:
        if not context.execution_options.get(PLAN_EACH_TIME, False):
            return None
        cursor.execute(statement, parameters, prepare=False)
        return True


_WRITER_LOCK = "vault_writer_lock"


def _set_up_sqlite(engine: Engine) -> None:
    # SQLite has one writer; a thread that finds the lock taken sleeps in SQLite's
    # busy handler (1, 2, 5, 10 ... ms) and so waits far longer than the few
    # milliseconds a vault transaction holds it. Threads of this process (the API's
    # request threads) queue on a Python lock instead and start the moment it is
    # free. Other processes still meet SQLite's own lock; and a thread that waited
    # the whole busy timeout here goes on and lets SQLite decide.
    writer = threading.Lock()

    def _release(connection: Any) -> None:
        if getattr(connection, "invalidated", False):
            return  # its pool record let go when it was invalidated
        if connection.info.pop(_WRITER_LOCK, False):
            writer.release()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver must not open transactions itself; we BEGIN IMMEDIATE below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Readers (exports, verification) must not hold the one writer's lock.
        deferred = connection.get_execution_options().get(READ_ONLY, False)
        if not deferred:
            connection.info[_WRITER_LOCK] = writer.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        try:
            connection.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")
        except BaseException:
            _release(connection)
            raise

    event.listen(engine, "commit", _release)
    event.listen(engine, "rollback", _release)

    # A connection that leaves a transaction by another way (returned to the pool
    # without commit or rollback, or invalidated) lets go of the lock too.
    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            _release(record)

    @event.listens_for(engine, "invalidate")
    def _on_invalidate(_dbapi_connection: Any, record: Any, _exception: Any) -> None:
        _release(record)


def make_session_factory(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions that never expire objects on commit (responses are built after it).

    ``read_only`` sessions begin a plain (deferred) transaction on SQLite, so a long
    export does not keep writers waiting; they must not write.
    """
    bind = engine.execution_options(**{READ_ONLY: True}) if read_only else engine
    return sessionmaker(bind, expire_on_commit=False, autoflush=False)


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def ping(engine: Engine) -> None:
    """Run one trivial query (:class:`sqlalchemy.exc.SQLAlchemyError` when unreachable)."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def head_revision() -> str:
    """The newest migration."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at (None when empty)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run pending migrations on ``engine``'s database."""
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Undo migrations down to ``revision`` (``base`` = empty)."""
    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def require_migrated(engine: Engine) -> None:
    """Raise :class:`DatabaseNotMigratedError` unless the schema is at head."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        state = "empty" if current is None else f"at revision {current}"
        raise DatabaseNotMigratedError(
            f"the vault database is {state}, not at the newest schema ({head}); "
            "run 'deid-vault db upgrade' (or start with 'deid-vault serve --migrate')"
        )
