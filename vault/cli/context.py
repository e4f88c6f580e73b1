"""The vault a command works on: its settings, database and keys, checked before use.

Settings come from ``VAULT_*`` variables; ``--database-url`` and ``--key-dir``
override them where a command offers them. A URL is checked before any connection
is tried, and never echoed (it may hold a password).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from vault.cli.errors import CliError
from vault.config import Settings
from vault.db import create_vault_engine, require_migrated
from vault.runtime import VaultRuntime

URL_FORMS = "postgresql+psycopg://USER@HOST:5432/DATABASE or sqlite:///PATH"


def _override(args: argparse.Namespace | None, name: str) -> str | None:
    value = getattr(args, name, None) if args is not None else None
    return str(value) if value else None


def load_settings(args: argparse.Namespace | None = None, **overrides: object) -> Settings:
    """The settings: the environment, then ``args``' location options, then ``overrides``."""
    values: dict[str, object] = {}
    if url := _override(args, "database_url"):
        values["database_url"] = url
    if key_dir := _override(args, "key_dir"):
        values["key_dir"] = Path(key_dir)
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def database_url(args: argparse.Namespace | None = None) -> str:
    """The database URL: ``--database-url`` if given, else ``VAULT_DATABASE_URL``."""
    url = _override(args, "database_url") or os.environ.get("VAULT_DATABASE_URL")
    if not url:
        raise CliError("set VAULT_DATABASE_URL to the vault's database (or pass --database-url)")
    return url


def checked_url(url: str) -> URL:
    """``url`` parsed, if it names a database the vault runs on."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise CliError(f"the database URL is not a URL; write it as {URL_FORMS}") from None
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend == "sqlite" or (backend == "postgresql" and driver == "psycopg"):
        return parsed
    shown = parsed.drivername
    if backend == "postgresql":
        raise CliError(f"the vault talks to PostgreSQL through psycopg 3: write {URL_FORMS}")
    raise CliError(f"the vault runs on PostgreSQL or SQLite, not {shown!r}: write {URL_FORMS}")


def open_engine(url: str) -> Engine:
    """An engine for ``url`` once the URL is known to be usable (nothing is connected yet)."""
    parsed = checked_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).parent
        if not folder.is_dir():
            raise CliError(f"the SQLite database's folder {folder} does not exist; create it first")
    return create_vault_engine(url)


@contextmanager
def database(args: argparse.Namespace | None = None) -> Iterator[Engine]:
    """An engine for the vault's database (no keys needed), disposed of after the block."""
    engine = open_engine(database_url(args))
    try:
        yield engine
    finally:
        engine.dispose()


def open_vault(args: argparse.Namespace | None = None, *, migrated: bool = True) -> VaultRuntime:
    """The vault the settings name, its keys loaded; by default its schema must be the newest."""
    vault_settings = load_settings(args)
    engine = open_engine(vault_settings.database_url)
    try:
        opened = VaultRuntime.from_settings(vault_settings, engine=engine)
        if migrated:
            require_migrated(engine)
    except BaseException:
        engine.dispose()
        raise
    return opened


@contextmanager
def vault(
    args: argparse.Namespace | None = None, *, migrated: bool = True
) -> Iterator[VaultRuntime]:
    """:func:`open_vault` for the length of a block; its connections closed after."""
    opened = open_vault(args, migrated=migrated)
    try:
        yield opened
    finally:
        opened.dispose()


def confirm(question: str, assume_yes: bool, stdin: TextIO | None = None) -> bool:
    """Ask a yes/no question on the terminal; refuse to guess when there is none."""
    if assume_yes:
        return True
    stdin = stdin or sys.stdin
    if not stdin.isatty():
        raise CliError(f"{question} Not confirmed: no terminal to ask; pass --yes")
    print(f"{question} [y/N] ", end="", flush=True)
    return stdin.readline().strip().lower() in ("y", "yes")


def read_password(name: str, from_stdin: bool) -> str:
    """A new console password: one line of standard input, or asked twice on the terminal."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CliError("no terminal to ask for the password; pipe it in with --password-stdin")
    first = getpass.getpass(f"New console password for {name}: ")
    if getpass.getpass("The same password again: ") != first:
        raise CliError("the two passwords differ; nothing changed")
    return first
