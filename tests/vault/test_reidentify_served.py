"""``deid reidentify`` over HTTP against ``deid-vault serve`` on each database (SQLite
and PostgreSQL): files de-identified into that database, then one subject taken back
with a second person's approval through the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from deid.cli import main
from tests.reidentify.world import (
    JUSTIFICATION,
    assert_restored,
    deidentify_in_process,
    request_ids,
)
from tests.vault import factories
from tests.vault.servers import vault_server
from vault.authz import Binding
from vault.models import Role
from vault.runtime import VaultRuntime
from vault.services import principals as principal_service

pytestmark = pytest.mark.e2e


def _token_file(runtime: VaultRuntime, name: str, folder: Path) -> Path:
    with runtime.transaction() as session:
        issued = principal_service.create_token(session, runtime, None, name)
    path = folder / f"{name}.token"
    path.write_text(issued.token + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def test_reidentify_through_a_served_vault(
    runtime: VaultRuntime, key_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trial, deidentified, originals = deidentify_in_process(runtime, tmp_path)
    subject = sorted({s for _, s in originals.values()})[0]
    requester = factories.caller(runtime, Binding(Role.REIDENTIFY_REQUESTER, trial.id))
    approver = factories.caller(runtime, Binding(Role.APPROVER, trial.id))
    tokens = {c.name: _token_file(runtime, c.name, tmp_path) for c in (requester, approver)}
    url = runtime.engine.url.render_as_string(hide_password=False)
    output = tmp_path / "restored"
    with vault_server(url, key_dir, tmp_path / "vault.log") as base:

        def vault(who: str) -> list[str]:
            return ["--vault", base, "--token-file", str(tokens[who]), "--trial", trial.key]

        ask = [
            "reidentify", str(deidentified), str(output), *vault(requester.name),
            "--purpose", "clinical_care", "--justification", JUSTIFICATION, "--subject", subject,
        ]  # fmt: skip
        assert main(ask) == 4
        (request_id,) = request_ids(output / "reidentify-report.json").values()
        assert f"--grant {request_id}" in capsys.readouterr().out
        assert main(["requests", "approve", str(request_id), *vault(approver.name)]) == 0
        assert main([*ask, "--grant", str(request_id)]) == 0
    restored = 0
    for relative, (original, subject_id) in originals.items():
        if subject_id == subject:
            assert assert_restored(output / relative, original) >= 5
            restored += 1
        else:
            assert not (output / relative).exists()
    assert restored >= 4
