"""``INSERT ... ON CONFLICT DO NOTHING`` for the database in use."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Insert, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignoring_conflicts(session: Session, table: Table) -> Insert:
    """An INSERT that skips rows violating any unique constraint."""
    name = session.get_bind().dialect.name
    statement: Any
    if name == "postgresql":
        statement = postgresql.insert(table).on_conflict_do_nothing()
    elif name == "sqlite":
        statement = sqlite.insert(table).on_conflict_do_nothing()
    else:  # pragma: no cover - only the two supported databases
        raise RuntimeError(f"unsupported database {name}")
    return statement
