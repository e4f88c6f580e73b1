"""Vault test fixtures: real SQLite and PostgreSQL databases, migrated by Alembic."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.vault.databases import BACKENDS, database_url, make_settings
from vault.crypto import KeyPaths, generate_keys
from vault.db import create_vault_engine, upgrade
from vault.runtime import VaultRuntime


@pytest.fixture(scope="session")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The three vault keys, generated once per test session."""
    directory = tmp_path_factory.mktemp("keys") / "keys"
    generate_keys(KeyPaths.in_directory(directory))
    return directory


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database under test."""
    return str(request.param)


@pytest.fixture(scope="module")
def runtime(
    backend: str, key_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[VaultRuntime]:
    """A migrated vault database of each backend, shared by one test module."""
    with database_url(backend, tmp_path_factory.mktemp("db")) as url:
        engine = create_vault_engine(url)
        upgrade(engine)
        runtime = VaultRuntime.from_settings(make_settings(url, key_dir), engine=engine)
        try:
            yield runtime
        finally:
            runtime.dispose()
