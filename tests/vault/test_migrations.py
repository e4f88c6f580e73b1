from pathlib import Path

import pytest
from sqlalchemy import inspect

from tests.vault.databases import BACKENDS, database_url
from vault.db import (
    DatabaseNotMigratedError,
    create_vault_engine,
    current_revision,
    downgrade,
    head_revision,
    require_migrated,
    upgrade,
)
from vault.models import Base


@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_from_empty_and_downgrade_to_empty(backend: str, tmp_path: Path) -> None:
    with database_url(backend, tmp_path) as url:
        engine = create_vault_engine(url)
        try:
            assert current_revision(engine) is None
            with pytest.raises(DatabaseNotMigratedError, match="deid-vault db upgrade"):
                require_migrated(engine)
            upgrade(engine)
            assert current_revision(engine) == head_revision()
            require_migrated(engine)
            tables = set(inspect(engine).get_table_names())
            assert set(Base.metadata.tables) <= tables
            downgrade(engine)
            assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
            upgrade(engine)  # and up again, cleanly
            assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
        finally:
            engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_match_the_models(backend: str, tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with database_url(backend, tmp_path) as url:
        engine = create_vault_engine(url)
        try:
            upgrade(engine)
            with engine.connect() as connection:
                context = MigrationContext.configure(connection, opts={"compare_type": False})
                assert compare_metadata(context, Base.metadata) == []
        finally:
            engine.dispose()
