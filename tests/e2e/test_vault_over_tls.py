"""``deid run --vault https://...`` against a vault serving TLS with a private CA."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from deid.cli import main
from deid.contract.errors import VaultClientError
from deid.corpus import CorpusManifest
from deid.store.http import VaultTarget
from tests.e2e.deployment import TRIAL, Deployment, deployment
from tests.vault.certificates import self_signed_certificate

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A certificate for localhost that is its own CA (the CA bundle), and its key."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def deployed(
    tmp_path_factory: pytest.TempPathFactory, certificate: tuple[Path, Path]
) -> Iterator[Deployment]:
    """A vault on SQLite served over HTTPS."""
    with deployment("sqlite", tmp_path_factory.mktemp("vault"), tls=certificate) as running:
        assert running.base.startswith("https://localhost:")
        yield running


def _argv(deployed: Deployment, one_patient: CorpusManifest, out: Path) -> list[str]:
    return [
        *("run", str(one_patient.root), str(out), "--no-progress", "--workers", "2"),
        *("--trial", TRIAL, "--site", "S01", "--vault", deployed.base),
        *("--token-file", str(deployed.token_files["S01"])),
    ]


def test_with_the_ca_bundle_the_run_goes_through(
    deployed: Deployment,
    certificate: tuple[Path, Path],
    one_patient: CorpusManifest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [*_argv(deployed, one_patient, tmp_path / "out"), "--ca-bundle", str(certificate[0])]
    assert main(argv) == 0
    assert "4 input files: 4 written" in capsys.readouterr().out


def test_an_unverifiable_certificate_stops_at_once_and_says_why(
    deployed: Deployment,
    one_patient: CorpusManifest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(_argv(deployed, one_patient, tmp_path / "out")) == 3
    error = capsys.readouterr().err
    assert "TLS certificate of the vault" in error and "--ca-bundle" in error
    assert "after" not in error  # not retried: waiting cannot make it trusted
    assert not list((tmp_path / "out").rglob("*.dcm"))
    store = VaultTarget(deployed.base, deployed.token_files["S01"]).open_store(TRIAL, "S01")
    with pytest.raises(VaultClientError, match="self-signed certificate"):
        store.trial_info()
