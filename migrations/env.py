"""Alembic environment: the URL comes from the vault's settings (``VAULT_DATABASE_URL``).

A caller that already holds a connection (``vault.db.upgrade``) passes it in
``config.attributes["connection"]``. SQLite gets batch mode, since it cannot
alter most constraints in place.
"""

from __future__ import annotations

import logging.config

from alembic import context
from sqlalchemy import Connection

from vault.config import DatabaseSettings
from vault.db import create_vault_engine
from vault.models import Base

config = context.config
if config.config_file_name is not None:
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or DatabaseSettings().database_url  # type: ignore[call-arg]


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it."""
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against the database (a given connection, or one from the settings' URL)."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_vault_engine(_url())
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
