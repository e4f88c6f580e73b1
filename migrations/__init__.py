"""Alembic migrations: the only way the vault's schema is created or changed."""
