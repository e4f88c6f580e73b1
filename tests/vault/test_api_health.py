"""Readiness, "no audit, no answer", and Alembic from the project root."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from sqlalchemy import delete, func, inspect, select

from tests.vault.databases import BACKENDS, database_url, make_settings
from vault.api.app import create_app
from vault.db import create_vault_engine, head_revision, upgrade
from vault.models import AuditHead, Role, Trial
from vault.runtime import VaultRuntime
from vault.services import principals as principal_service
from vault.services.principals import RoleSpec

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]


def test_ready_says_what_is_missing(tmp_path: Path, key_dir: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    runtime = VaultRuntime.from_settings(make_settings(url, key_dir))
    client = TestClient(create_app(runtime))
    assert client.get("/health").status_code == 200
    response = client.get("/ready")
    assert response.status_code == 503
    assert "deid-vault db upgrade" in response.json()["problems"][0]
    upgrade(runtime.engine)
    assert client.get("/ready").json()["status"] == "ready"
    runtime.dispose()


def test_no_audit_no_answer(tmp_path: Path, key_dir: Path) -> None:
    url = f"sqlite:///{tmp_path / 'vault.db'}"
    runtime = VaultRuntime.from_settings(make_settings(url, key_dir))
    upgrade(runtime.engine)
    with runtime.transaction() as session:
        principal_service.create_principal(
            session, runtime, None, "root", roles=[RoleSpec(Role.ADMIN)]
        )
        token = principal_service.create_token(session, runtime, None, "root").token
    with runtime.transaction() as session:
        session.execute(delete(AuditHead))  # the audit log can no longer be appended to
    client = TestClient(create_app(runtime))
    response = client.post(
        "/v1/trials", json={"key": "NOAUDIT"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 503 and "audit" in response.json()["message"]
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Trial)) == 0
    runtime.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_alembic_from_the_project_root_honours_the_setting(backend: str, tmp_path: Path) -> None:
    with database_url(backend, tmp_path) as url:
        env = {**os.environ, "VAULT_DATABASE_URL": url}
        alembic = [sys.executable, "-m", "alembic"]
        subprocess.run(
            [*alembic, "upgrade", "head"], cwd=ROOT, env=env, check=True, capture_output=True
        )
        engine = create_vault_engine(url)
        assert "mappings" in inspect(engine).get_table_names()
        current = subprocess.run(
            [*alembic, "current"], cwd=ROOT, env=env, check=True, capture_output=True, text=True
        )
        assert head_revision() in current.stdout
        subprocess.run(
            [*alembic, "downgrade", "base"], cwd=ROOT, env=env, check=True, capture_output=True
        )
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        engine.dispose()
