"""``HttpStore`` and ``deid run --vault`` against a real vault process (SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from deid.cli import main
from deid.contract.errors import VaultRefusedError
from deid.contract.store import PseudonymRequest
from deid.corpus import CorpusManifest
from deid.store.http import MAX_BATCH_ITEMS, HttpStore, VaultTarget
from deid.vault_client import VaultConnection
from tests.e2e.deployment import TRIAL, Deployment, deployment
from vault.api.schemas import MAX_ITEMS

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One vault on SQLite for the module."""
    with deployment("sqlite", tmp_path_factory.mktemp("vault")) as running:
        yield running


def _store(deployed: Deployment, site: str = "S01", trial: str = TRIAL) -> HttpStore:
    return VaultTarget(deployed.base, deployed.token_files[site]).open_store(trial, site)


def _uids(prefix: str, count: int) -> list[PseudonymRequest]:
    return [
        PseudonymRequest("UID", f"1.2.3.{prefix}.{i}", f"2.25.{prefix}{i}") for i in range(count)
    ]


def test_the_client_splits_batches_at_the_api_limit() -> None:
    assert MAX_BATCH_ITEMS == MAX_ITEMS


def test_trial_info_enrollment_and_pseudonyms_agree_across_sites(deployed: Deployment) -> None:
    north, south = _store(deployed, "S01"), _store(deployed, "S02")
    try:
        info = north.trial_info()
        assert (info.trial, info.site_id, info.site_name) == (TRIAL, "S01", "North General")
        assert south.trial_info().site_id == "S02"
        first = north.enroll("id:HOSP|MRN-1")
        again = south.enroll("id:HOSP|MRN-1")
        assert first.created and not again.created
        assert (again.subject_id, again.date_offset_days) == (
            first.subject_id,
            first.date_offset_days,
        )
        items = _uids("7", 5)
        answers = north.get_or_create(items)
        assert answers == [item.proposal for item in items]
        # Other proposals, another site: the existing mappings win.
        assert south.get_or_create(_uids("7", 5)[::-1]) == answers[::-1]
    finally:
        north.close()
        south.close()


def test_a_batch_larger_than_the_api_allows_is_sent_in_parts(deployed: Deployment) -> None:
    items = _uids("8", MAX_BATCH_ITEMS + 3)
    small = HttpStore(
        VaultConnection(deployed.base, deployed.token_files["S01"].read_text().strip()),
        TRIAL,
        "S01",
        max_batch_items=2,
    )
    store = _store(deployed)
    try:
        assert small.get_or_create(items[:5]) == [item.proposal for item in items[:5]]
        answers = store.get_or_create(items)
        assert answers == [item.proposal for item in items]
    finally:
        small.close()
        store.close()


def test_refusals_say_what_to_do_and_never_quote_an_original(
    deployed: Deployment, tmp_path: Path
) -> None:
    wrong_site = VaultTarget(deployed.base, deployed.token_files["S02"]).open_store(TRIAL, "S01")
    with pytest.raises(VaultRefusedError, match="site_uploader:ONCO-E2E:S01") as caught:
        wrong_site.trial_info()
    assert caught.value.status == 404
    with pytest.raises(VaultRefusedError, match="no trial 'NOPE'"):
        _store(deployed, trial="NOPE").enroll("id:HOSP|MRN-1")
    bad_token = tmp_path / "token"
    bad_token.write_text("dvt_notavalidtoken\n")
    bad_token.chmod(0o600)
    with pytest.raises(VaultRefusedError, match="expired or revoked") as caught:
        VaultTarget(deployed.base, bad_token).open_store(TRIAL, "S01").enroll("MRN-SECRET-1")
    assert caught.value.status == 401 and "MRN-SECRET-1" not in str(caught.value)
    secret = "Oyelaran-Whitfield^Bartholomew" * 400  # longer than the vault accepts
    with pytest.raises(VaultRefusedError) as caught:
        _store(deployed).get_or_create([PseudonymRequest("FULL_NAME", secret, "X^Y")])
    assert caught.value.status == 422 and "Oyelaran" not in str(caught.value)


def _run(deployed: Deployment, one_patient: CorpusManifest, out: Path, *extra: str) -> int:
    argv = ["run", str(one_patient.root), str(out), "--no-progress", "--workers", "1"]
    return main([*argv, "--vault", deployed.base, *extra])


def test_deid_run_through_the_vault_then_resumes(
    deployed: Deployment,
    one_patient: CorpusManifest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    site = ["--trial", TRIAL, "--site", "S02", "--token-file", str(deployed.token_files["S02"])]
    assert _run(deployed, one_patient, tmp_path / "out", *site) == 0
    assert "4 input files: 4 written" in capsys.readouterr().out
    assert not (tmp_path / "out-vault").exists()  # no embedded store was made
    assert _run(deployed, one_patient, tmp_path / "out", *site) == 0
    assert "0 written, 4 skipped" in capsys.readouterr().out


def test_deid_run_stops_before_starting_when_the_vault_refuses(
    deployed: Deployment,
    one_patient: CorpusManifest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    token = ["--token-file", str(deployed.token_files["S01"])]
    assert (
        _run(deployed, one_patient, tmp_path / "a", "--trial", "OTHER", "--site", "S01", *token)
        == 3
    )
    error = capsys.readouterr().err
    assert "no trial 'OTHER'" in error and "deid-vault trial create" in error
    assert not list((tmp_path / "a").rglob("*.dcm"))
    assert (
        _run(deployed, one_patient, tmp_path / "b", "--trial", TRIAL, "--site", "S02", *token) == 3
    )
    assert "site_uploader:ONCO-E2E:S02" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        (["--store", "x.sqlite"], "--store do not apply"),
        (["--trial-config", "t.toml", "--key-dir", "k"], "--key-dir, --trial-config do not"),
        ([], "--vault needs --token-file"),
        (["--vault", "http://vault.example.org"], "use https://"),
    ],
)
def test_deid_run_vault_option_mistakes_are_usage_errors(
    deployed: Deployment,
    one_patient: CorpusManifest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    problem: str,
) -> None:
    token = [] if not extra else ["--token-file", str(deployed.token_files["S01"])]
    argv = [*extra, *token, "--trial", TRIAL, "--site", "S01"]
    assert _run(deployed, one_patient, tmp_path / "out", *argv) == 2
    assert problem in capsys.readouterr().err


def test_a_token_file_others_can_read_is_refused(
    deployed: Deployment,
    one_patient: CorpusManifest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    loose = tmp_path / "token"
    loose.write_text(deployed.token_files["S01"].read_text())
    loose.chmod(0o644)
    argv = ["--token-file", str(loose), "--trial", TRIAL, "--site", "S01"]
    assert _run(deployed, one_patient, tmp_path / "out", *argv) == 2
    assert "chmod 600" in capsys.readouterr().err
    token = ["--token-file", str(loose)]
    plain = [
        "run",
        str(one_patient.root),
        str(tmp_path / "o"),
        *token,
        "--trial",
        TRIAL,
        "--site",
        "S1",
    ]
    assert main(plain) == 2
    assert "go with --vault" in capsys.readouterr().err
