"""PostgreSQL keeps the get-or-create lookup on the unique index as ``mappings`` grows."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from tests.vault.databases import postgres_schema
from vault.db import create_vault_engine, upgrade
from vault.models import Mapping, Trial
from vault.repositories import mappings as mappings_repo

pytestmark = pytest.mark.postgres


def _mapping_rows(trial_id: int, count: int) -> list[dict[str, object]]:
    return [
        {
            "trial_id": trial_id,
            "kind": "UID",
            "blind_index": secrets.token_bytes(32),
            "original_ciphertext": secrets.token_bytes(40),
            "key_version": 1,
            "pseudonym": f"2.25.{secrets.randbelow(10**30)}",
            "identifying": True,
            "created_at": datetime.now(UTC),
        }
        for _ in range(count)
    ]


def _sequential_scans(session: Session) -> int:
    # This transaction's own counters: visible at once, unlike the server-wide ones.
    return int(
        session.execute(
            text("SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relid = 'mappings'::regclass")
        ).scalar_one()
    )


def _look_up(session: Session, trial_id: int, keys: list[tuple[str, bytes]]) -> None:
    state = mappings_repo.find_pseudonyms_and_trial_state(session, trial_id, keys)
    assert state is not None and len(state[2]) == len(keys)
    assert len(mappings_repo.find_pseudonyms(session, trial_id, keys)) == len(keys)


def test_lookups_use_the_index_after_the_table_grows() -> None:
    # The lookups run often while the table is nearly empty (and analyzed so), as in a
    # new vault's first minutes; a prepared statement's plan kept from that time would
    # scan the whole table on every later lookup.
    with postgres_schema() as url:
        engine = create_vault_engine(url)
        try:
            upgrade(engine)
            with Session(engine) as session, session.begin():
                trial = Trial(
                    key="PLAN", sponsor_name="s", protocol_id="p", protocol_name="n", settings={}
                )
                session.add(trial)
                session.flush()
                rows = _mapping_rows(trial.id, 20)
                session.execute(insert(Mapping), rows)
                session.execute(text("ANALYZE mappings"))
                keys = [("UID", row["blind_index"]) for row in rows[:10]]
                for _ in range(20):
                    _look_up(session, trial.id, keys)
                session.execute(insert(Mapping), _mapping_rows(trial.id, 5000))
                before = _sequential_scans(session)
                for _ in range(3):
                    _look_up(session, trial.id, keys)
                assert _sequential_scans(session) == before
        finally:
            engine.dispose()
