"""``deid-vault`` in process against real databases: the first admin, listings, roles."""

from __future__ import annotations

import io
import json
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from tests.vault.databases import BACKENDS, database_url, make_settings
from vault.authz import Binding, Caller
from vault.cli import main
from vault.console import accounts
from vault.crypto import KeyPaths
from vault.db import alembic_config, create_vault_engine, current_revision, head_revision, upgrade
from vault.models import Role
from vault.repositories.audit import AuditFilter
from vault.runtime import VaultRuntime
from vault.services import audit as audit_service
from vault.services import principals as principal_service


def run(
    *argv: str, stdin: str | None = None, monkeypatch: pytest.MonkeyPatch | None = None
) -> tuple[int, str]:
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


@dataclass
class Initialized:
    """A vault set up by ``deid-vault init``, and what init printed."""

    url: str
    key_dir: Path
    printed: str

    @property
    def token(self) -> str:
        return next(
            line.strip() for line in self.printed.splitlines() if line.strip().startswith("dvt_")
        )

    @property
    def password(self) -> str:
        lines = self.printed.split("shown only this once (change it", 1)[1].splitlines()
        return next(line.strip() for line in lines[1:] if line.strip())


@pytest.fixture(params=BACKENDS)
def vault(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Initialized]:
    with database_url(str(request.param), tmp_path) as url:
        monkeypatch.setenv("VAULT_DATABASE_URL", url)
        monkeypatch.delenv("VAULT_KEY_DIR", raising=False)
        key_dir = tmp_path / "keys"
        code, printed = run("init", "--key-dir", str(key_dir), "--admin", "alice")
        assert code == 0, printed
        monkeypatch.setenv("VAULT_KEY_DIR", str(key_dir))
        yield Initialized(url, key_dir, printed)


def _runtime(vault: Initialized) -> VaultRuntime:
    return VaultRuntime.from_settings(make_settings(vault.url, vault.key_dir))


def test_init_gives_the_first_admin_a_working_token_and_console_password(
    vault: Initialized,
) -> None:
    assert vault.printed.count(vault.token) == 1 and vault.printed.count(vault.password) == 1
    assert len(vault.password) >= 12 and "alice" not in vault.password
    runtime = _runtime(vault)
    try:
        with runtime.transaction() as session:
            caller = principal_service.authenticate(session, runtime, vault.token, "10.0.0.1")
            assert caller.name == "alice" and caller.is_admin
        with runtime.transaction() as session:
            _, visit = accounts.sign_in(session, runtime, "alice", vault.password, "10.0.0.1")
            assert visit.caller.name == "alice"
    finally:
        runtime.dispose()
    for path in KeyPaths.in_directory(vault.key_dir).existing():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_init_refuses_a_database_that_holds_a_vault_and_leaves_no_keys(
    vault: Initialized, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other-keys"
    code, out = run("init", "--key-dir", str(other))
    assert code == 2 and out == ""
    assert "already holds a vault" in capsys.readouterr().err
    assert not other.exists()


def test_init_takes_the_console_password_from_standard_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'vault.db'}"
    keys = tmp_path / "keys"
    code, _ = run(
        "init", "--key-dir", str(keys), "--database-url", url, "--password-stdin",
        stdin="short\n", monkeypatch=monkeypatch,
    )  # fmt: skip
    assert code == 2 and "12 to 256 characters" in capsys.readouterr().err
    assert not keys.exists()  # refused before anything was written
    code, out = run(
        "init", "--key-dir", str(keys), "--database-url", url, "--password-stdin",
        stdin="a chosen passphrase\n", monkeypatch=monkeypatch,
    )  # fmt: skip
    assert code == 0 and "the one given on standard input" in out
    assert "a chosen passphrase" not in out
    runtime = VaultRuntime.from_settings(make_settings(url, keys))
    try:
        with runtime.transaction() as session:
            accounts.sign_in(session, runtime, "admin", "a chosen passphrase", "10.0.0.1")
    finally:
        runtime.dispose()


def test_principals_tokens_and_trials_are_listed_as_tables_and_json(
    vault: Initialized, tmp_path: Path
) -> None:
    config = tmp_path / "trial.toml"
    config.write_text('sponsor_name = "ACME"\n[sites]\n"07" = "Toronto"\n"12" = "Lyon"\n')
    assert run("trial", "create", "ONCO-42", "--config", str(config))[0] == 0
    assert run("principal", "create", "site-07", "--role", "site_uploader:ONCO-42:07")[0] == 0
    assert run("token", "create", "site-07", "--label", "PACS gateway")[0] == 0
    code, out = run("token", "create", "site-07", "--label", "old")
    revoked = int(out.split()[1])
    assert run("token", "revoke", str(revoked))[0] == 0

    code, table = run("principal", "list")
    assert code == 0
    lines = table.splitlines()
    assert lines[0].split() == ["NAME", "ROLES", "TOKENS", "STATUS", "DESCRIPTION"]
    assert lines[1].split()[:4] == ["alice", "admin", "1", "active"]
    assert lines[2].split()[:4] == ["site-07", "site_uploader:ONCO-42:07", "1", "active"]
    code, listed = run("principal", "list", "--json")
    assert [p["name"] for p in json.loads(listed)] == ["alice", "site-07"]

    code, tokens = run("token", "list", "--json")
    usable = json.loads(tokens)
    assert [(t["principal"], t["label"], t["status"]) for t in usable] == [
        ("alice", "created by init", "usable"),
        ("site-07", "PACS gateway", "usable"),
    ]
    assert all(t["prefix"].startswith("dvt_") and len(t["prefix"]) == 12 for t in usable)
    code, every = run("token", "list", "--all", "--principal", "site-07", "--json")
    assert [(t["id"], t["status"]) for t in json.loads(every)][-1] == (revoked, "revoked")
    code, table = run("token", "list")
    assert code == 0 and "PACS gateway" in table and "old" not in table
    assert vault.token not in table + every  # a token is never shown again

    code, trials = run("trial", "list", "--json")
    (trial,) = json.loads(trials)
    assert trial["key"] == "ONCO-42" and trial["sponsor_name"] == "ACME"
    assert trial["sites"] == {"07": "Toronto", "12": "Lyon"} and trial["status"] == "open"
    code, table = run("trial", "list")
    assert table.splitlines()[1].split()[:3] == ["ONCO-42", "open", "ACME"]
    assert "07, 12" in table


def test_roles_are_granted_and_revoked_on_an_existing_principal(
    vault: Initialized, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "trial.json"
    config.write_text(json.dumps({"sites": {"07": "Toronto"}}))
    assert run("trial", "create", "ONCO-42", "--config", str(config))[0] == 0
    assert run("principal", "create", "dr-lee")[0] == 0
    code, out = run(
        "principal", "grant", "dr-lee", "--role", "reidentify_requester:ONCO-42",
        "--role", "auditor",
    )  # fmt: skip
    assert (code, out) == (0, "principal dr-lee holds: reidentify_requester:ONCO-42, auditor\n")
    code, out = run("principal", "revoke", "dr-lee", "--role", "auditor")
    assert (code, out) == (0, "principal dr-lee holds: reidentify_requester:ONCO-42\n")
    # All or nothing: the second role is refused, so the first is not granted either.
    code, _ = run(
        "principal", "grant", "dr-lee", "--role", "approver:ONCO-42", "--role", "approver:NOPE"
    )
    assert code == 2 and "trial NOPE not found" in capsys.readouterr().err
    code, listed = run("principal", "list", "--json")
    (lee,) = [p for p in json.loads(listed) if p["name"] == "dr-lee"]
    assert lee["roles"] == ["reidentify_requester:ONCO-42"]
    code, _ = run("principal", "revoke", "dr-lee", "--role", "auditor")
    assert code == 2 and "does not hold that role" in capsys.readouterr().err
    code, _ = run("principal", "grant", "ghost", "--role", "auditor")
    assert code == 2 and "principal ghost not found" in capsys.readouterr().err
    runtime = _runtime(vault)
    try:
        with runtime.transaction() as session:
            auditor = Caller(0, "test", (Binding(Role.AUDITOR),))
            actions = [
                (r.action, r.outcome)
                for r in audit_service.list_records(session, auditor, AuditFilter(), 0, 1000)
            ]
    finally:
        runtime.dispose()
    assert actions.count(("role.grant", "success")) == 2
    assert actions.count(("role.revoke", "success")) == 1


def test_audit_verify_finds_the_public_key_or_the_signing_keys_half(
    vault: Initialized, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = KeyPaths.in_directory(vault.key_dir)
    monkeypatch.delenv("VAULT_KEY_DIR")
    monkeypatch.setenv("VAULT_AUDIT_SIGNING_KEY_FILE", str(paths.audit_signing))
    code, out = run("audit", "verify")
    assert code == 0 and out.startswith("audit chain OK")
    paths.audit_public.unlink()
    code, out = run("audit", "verify")
    assert code == 0 and out.startswith("audit chain OK")
    assert "public half of" in capsys.readouterr().err
    monkeypatch.delenv("VAULT_AUDIT_SIGNING_KEY_FILE")
    code, _ = run("audit", "verify")
    assert code == 2 and "--public-key" in capsys.readouterr().err


def test_init_leaves_an_older_vault_schema_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    first = ScriptDirectory.from_config(alembic_config()).get_base()
    assert first is not None and first != head_revision()
    engine = create_vault_engine(url)
    try:
        upgrade(engine, first)
        code, out = run("init", "--key-dir", str(tmp_path / "keys"), "--database-url", url)
        assert (code, out) == (2, "")
        assert f"holds a vault schema (revision {first})" in capsys.readouterr().err
        assert current_revision(engine) == first
        assert not (tmp_path / "keys").exists()
    finally:
        engine.dispose()
