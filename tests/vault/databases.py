"""Test databases: SQLite files and PostgreSQL schemas, created empty and dropped after."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, MetaData, create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from vault.config import Settings

POSTGRES_URL = os.environ.get(
    "VAULT_TEST_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def require_postgres() -> None:
    """Skip when PostgreSQL is unreachable; under CI=true, fail instead."""
    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        message = f"PostgreSQL at VAULT_TEST_POSTGRES_URL is unreachable: {exc.orig}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    finally:
        engine.dispose()


def with_search_path(url: str, schema: str) -> str:
    """``url`` with every connection's search_path set to ``schema``."""
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema (dropped afterwards); yields a URL whose connections use it."""
    require_postgres()
    schema = f"vt_{secrets.token_hex(6)}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield with_search_path(POSTGRES_URL, schema)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@contextmanager
def database_url(backend: str, directory: Path) -> Iterator[str]:
    """An empty database of ``backend``."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'vault.db'}"
    else:
        with postgres_schema() as url:
            yield url


def make_settings(url: str, key_dir: Path, **overrides: object) -> Settings:
    """Settings for a test vault (every value explicit, nothing from the environment)."""
    values: dict[str, object] = {
        "database_url": url,
        "key_dir": key_dir,
        "audit_checkpoint_interval": 5,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def table_bytes(engine: Engine) -> dict[str, bytes]:
    """Every table's every value as bytes (JSON for JSON columns), per table name."""
    metadata = MetaData()
    metadata.reflect(engine)
    dumped: dict[str, bytes] = {}
    with engine.connect() as connection:
        for name, table in metadata.tables.items():
            chunks = []
            for row in connection.execute(select(table)):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        chunks.append(bytes(value))
                    elif isinstance(value, dict | list):
                        chunks.append(json.dumps(value, ensure_ascii=False).encode())
                    else:
                        chunks.append(str(value).encode())
            dumped[name] = b"\x1f".join(chunks)
    return dumped


def sqlite_file_bytes(engine: Engine) -> bytes | None:
    """A SQLite database's raw files (database, write-ahead log), free pages included."""
    url = make_url(str(engine.url))
    if url.get_backend_name() != "sqlite":
        return None
    files = [Path(str(url.database))]
    files += [Path(f"{url.database}{suffix}") for suffix in ("-wal", "-shm")]
    return b"".join(p.read_bytes() for p in files if p.exists())
