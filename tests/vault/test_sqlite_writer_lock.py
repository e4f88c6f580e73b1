"""SQLite writers of one process queue on a lock, which every way out of a transaction frees."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from vault.db import create_vault_engine


def _engine(tmp_path: Path) -> Engine:
    engine = create_vault_engine(f"sqlite:///{tmp_path / 'lock.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER)"))
    return engine


def _write_promptly(engine: Engine) -> float:
    started = time.monotonic()
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (1)"))
    return time.monotonic() - started


def test_threads_of_one_process_write_in_turn(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    errors: list[BaseException] = []

    def writer(base: int) -> None:
        try:
            for n in range(40):
                with engine.begin() as connection:
                    connection.execute(text("INSERT INTO t VALUES (:n)"), {"n": base + n})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(1000 * i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 160
    engine.dispose()


def test_every_way_out_of_a_transaction_frees_the_lock(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    # Rolled back.
    with engine.connect() as connection:
        connection.execute(text("INSERT INTO t VALUES (2)"))
        connection.rollback()
    assert _write_promptly(engine) < 5
    # Closed in the middle of a transaction.
    connection = engine.connect()
    connection.execute(text("INSERT INTO t VALUES (3)"))
    connection.close()
    assert _write_promptly(engine) < 5
    # Invalidated (a broken database connection).
    connection = engine.connect()
    connection.execute(text("INSERT INTO t VALUES (4)"))
    connection.invalidate()
    connection.rollback()
    connection.close()
    assert _write_promptly(engine) < 5
    # A failing statement, then a rollback by the context manager.
    with pytest.raises(OperationalError), engine.begin() as broken:
        broken.execute(text("INSERT INTO nowhere VALUES (1)"))
    assert _write_promptly(engine) < 5
    with engine.connect() as reader:
        assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 4
    engine.dispose()
