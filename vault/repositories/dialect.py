"""``INSERT ... ON CONFLICT DO NOTHING`` for the database in use."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Insert, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignoring_conflicts(session: Session, table: Table) -> Insert:
    """An INSERT that skips rows violating any unique constraint."""
    return insert_ignoring_conflicts_on(session.get_bind().dialect.name, table)


def insert_ignoring_conflicts_on(dialect: str, table: Table) -> Insert:
    """:func:`insert_ignoring_conflicts` for the database named ``dialect``."""
    statement: Any
    if dialect == "postgresql":
        statement = postgresql.insert(table).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite.insert(table).on_conflict_do_nothing()
    else:  # pragma: no cover - only the two supported databases
        raise RuntimeError(f"unsupported database {dialect}")
    return statement
