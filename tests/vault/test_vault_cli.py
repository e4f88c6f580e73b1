"""``deid-vault`` commands, run in process against real databases and key files."""

import io
import json
import stat
from pathlib import Path

import pytest
from sqlalchemy import select, update

from tests.vault.databases import database_url
from vault.cli import main
from vault.crypto import KeyPaths, load_master_key_ring
from vault.db import create_vault_engine
from vault.models import AuditRecord, DataKey, Trial


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


@pytest.fixture
def vault_env(backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    with database_url(backend, tmp_path) as url:
        monkeypatch.setenv("VAULT_DATABASE_URL", url)
        monkeypatch.delenv("VAULT_KEY_DIR", raising=False)
        yield url, tmp_path / "keys"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_operating_a_vault_from_the_command_line(
    vault_env: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, key_dir = vault_env
    code, out = run("db", "check")
    assert code == 1 and "deid-vault db upgrade" in out
    code, out = run("init", "--key-dir", str(key_dir), "--admin", "boss")
    assert code == 0, out
    token = next(line.strip() for line in out.splitlines() if line.strip().startswith("dvt_"))
    assert len(token) == 47 and "VAULT_KEY_DIR" in out
    for path in KeyPaths.in_directory(key_dir).existing():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert run("init", "--key-dir", str(key_dir))[0] == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    monkeypatch.setenv("VAULT_KEY_DIR", str(key_dir))

    config = tmp_path / "trial.toml"
    config.write_text('sponsor_name = "ACME"\n[sites]\nS01 = "General"\n')
    assert run("trial", "create", "TR1", "--config", str(config))[0] == 0
    code, out = run("principal", "create", "site1", "--role", "site_uploader:TR1:S01")
    assert code == 0, out
    assert run("principal", "create", "bad", "--role", "wizard")[0] == 2
    assert "unknown role" in capsys.readouterr().err
    code, out = run("token", "create", "site1", "--label", "scanner")
    assert code == 0 and "dvt_" in out
    token_id = out.split()[1]
    assert run("token", "revoke", token_id) == (0, f"token {token_id} revoked\n")

    # Enroll through the service layer so re-encryption has rows to move.
    from vault.embedded import open_embedded_store

    if url.startswith("sqlite"):
        store = open_embedded_store(
            Path(url.removeprefix("sqlite:///")), "TR1", "S01", key_dir=key_dir
        )
        store.enroll("MRN-1")
        store.close()

    code, out = run("keys", "rotate")
    assert code == 0 and "master key version 2" in out, out
    assert load_master_key_ring(KeyPaths.in_directory(key_dir).master).current_version == 2
    code, out = run("keys", "rotate", "--trial", "TR1")
    assert code == 0 and "version 2" in out
    code, out = run("keys", "reencrypt", "--trial", "TR1", "--quiet")
    assert code == 0 and "data key version 2" in out

    code, out = run("audit", "verify")
    assert code == 0 and out.startswith("audit chain OK"), out
    exported = tmp_path / "audit.jsonl"
    assert run("audit", "export", "--output", str(exported))[0] == 0
    actions = [json.loads(line)["action"] for line in exported.read_text().splitlines()]
    assert {"principal.create", "token.create", "token.revoke", "trial.create"} <= set(actions)
    assert {"keys.rewrap", "keys.rotate", "keys.reencrypt"} <= set(actions)
    code, out = run("audit", "export", "--format", "csv", "--action", "trial.create")
    assert code == 0 and out.splitlines()[0].startswith("seq,") and len(out.splitlines()) == 2

    engine = create_vault_engine(url)
    with engine.begin() as connection:
        connection.execute(update(AuditRecord).where(AuditRecord.seq == 3).values(outcome="x"))
    code, out = run("audit", "verify")
    assert code == 1 and "BROKEN at record 3" in out and '"seq": 3' in out

    code, _ = run("trial", "close", "TR1", "--destroy-keys")
    assert code == 2 and "--yes" in capsys.readouterr().err
    code, out = run("trial", "close", "TR1", "--destroy-keys", "--yes")
    assert code == 0 and "shredded" in out
    with engine.connect() as connection:
        assert connection.execute(select(Trial.index_salt)).scalar() is None
        assert connection.execute(select(DataKey)).first() is None
    engine.dispose()


def test_serve_refuses_an_unmigrated_database(
    vault_env: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    key_dir: Path,
) -> None:
    monkeypatch.setenv("VAULT_KEY_DIR", str(key_dir))
    assert run("serve", "--port", "1")[0] == 2
    err = capsys.readouterr().err
    assert "deid-vault db upgrade" in err and "serve --migrate" in err


def test_missing_settings_are_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("VAULT_DATABASE_URL", "VAULT_KEY_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir("/")
    assert run("token", "revoke", "1")[0] == 2
    assert "VAULT_DATABASE_URL" in capsys.readouterr().err
