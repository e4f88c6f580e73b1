"""``deid run --vault`` against a served vault loads none of the vault's server libraries."""

from __future__ import annotations

from pathlib import Path

import pytest

from deid.corpus import CorpusManifest
from tests.deid.test_deid_imports import SERVER_SIDE, deid_script, modules_loaded_by
from tests.e2e.deployment import TRIAL, deployment

pytestmark = pytest.mark.e2e


def test_a_run_through_a_deployed_vault_loads_no_server_library(
    one_patient: CorpusManifest, tmp_path: Path
) -> None:
    with deployment("sqlite", tmp_path / "vault") as deployed:
        command = [
            deid_script(),
            "run",
            str(one_patient.root),
            str(tmp_path / "out"),
            "--trial",
            TRIAL,
            "--site",
            "S01",
            "--vault",
            deployed.base,
            "--token-file",
            str(deployed.token_files["S01"]),
            "--workers",
            "2",
            "--no-progress",
        ]
        loaded = modules_loaded_by(command)
    assert {"deid.store.http", "httpx", "pydicom"} <= loaded  # it ran, through the vault
    assert sorted(m for m in loaded if m.split(".")[0] in {*SERVER_SIDE, "vault"}) == []
    assert len(list((tmp_path / "out").rglob("*.dcm"))) == len(one_patient.files)
