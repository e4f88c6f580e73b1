"""A deployed vault for end-to-end tests, set up the way an operator does it.

``deid-vault init`` and ``deid-vault trial create`` (the real CLI, in process), then
``deid-vault serve`` in its own process on a loopback port, then principals and
tokens through the HTTP API with the admin token; each site's token goes into a
file of its own with mode 600, as ``deid run --token-file`` wants it.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from deid.corpus import CorpusFile, CorpusManifest
from tests.vault.databases import database_url
from tests.vault.servers import VaultProcess
from vault.cli import main as vault_main

TRIAL = "ONCO-E2E"
SITES = {"S01": "North General", "S02": "South Clinic"}
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Deployment:
    """A running vault with a trial of two sites and an uploader token file per site."""

    database_url: str
    key_dir: Path
    server: VaultProcess
    admin: dict[str, str]
    token_files: dict[str, Path]

    @property
    def base(self) -> str:
        """The vault's base URL."""
        return self.server.base

    def uploader(self, site: str) -> dict[str, str]:
        """The site uploader's authorization header."""
        return {"Authorization": f"Bearer {self.token_files[site].read_text().strip()}"}


def _cli(argv: list[str]) -> str:
    out = io.StringIO()
    status = vault_main(argv, out=out)
    assert status == 0, out.getvalue()
    return out.getvalue()


@contextmanager
def deployment(
    backend: str, directory: Path, *, workers: int = 1, tls: tuple[Path, Path] | None = None
) -> Iterator[Deployment]:
    """Initialize, configure and serve a vault on ``backend``; stop it when the block ends."""
    key_dir = directory / "keys"
    with database_url(backend, directory) as url:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("VAULT_DATABASE_URL", url)
            env.setenv("VAULT_KEY_DIR", str(key_dir))
            printed = _cli(["init", "--key-dir", str(key_dir)])
            admin_token = next(
                line.strip() for line in printed.splitlines() if line.strip().startswith("dvt_")
            )
            config = directory / "trial.json"
            config.write_text(json.dumps({"key": TRIAL, "sponsor_name": "E2E", "sites": SITES}))
            _cli(["trial", "create", TRIAL, "--config", str(config)])
        server = VaultProcess(url, key_dir, directory / "vault.log", workers=workers, tls=tls)
        server.start()
        try:
            admin = {"Authorization": f"Bearer {admin_token}"}
            token_files = {}
            verify = ssl.create_default_context(cafile=str(tls[0])) if tls else True
            with httpx.Client(
                base_url=server.base, headers=admin, timeout=30, verify=verify
            ) as http:
                for site in SITES:
                    principal = f"uploader-{site}"
                    role = {"role": "site_uploader", "trial": TRIAL, "site": site}
                    http.post(
                        "/v1/principals", json={"name": principal, "roles": [role]}
                    ).raise_for_status()
                    issued = http.post(f"/v1/principals/{principal}/tokens", json={})
                    issued.raise_for_status()
                    token_file = directory / f"token-{site}"
                    token_file.touch(mode=0o600)
                    token_file.write_text(issued.json()["token"] + "\n")
                    token_file.chmod(0o600)
                    token_files[site] = token_file
            yield Deployment(url, key_dir, server, admin, token_files)
        finally:
            server.stop()


def deid_command(
    deployed: Deployment, site: str, source: Path, output: Path, *extra: str
) -> list[str]:
    """``deid run`` for one site against the deployed vault, as a separate process."""
    return [
        sys.executable,
        "-m",
        "deid.cli",
        "run",
        str(source),
        str(output),
        "--trial",
        TRIAL,
        "--site",
        site,
        "--vault",
        deployed.base,
        "--token-file",
        str(deployed.token_files[site]),
        "--workers",
        "2",
        "--no-progress",
        *extra,
    ]


def start_deid(command: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``deid`` in its own process; its output goes to ``log``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)


@dataclass(frozen=True)
class SiteInput:
    """One site's share of a corpus: its folder and, per file, the manifest entry."""

    site: str
    root: Path
    files: dict[str, CorpusFile]
    """Relative path -> the manifest's entry."""


def split_between_sites(
    manifest: CorpusManifest, directory: Path, shared: Sequence[int]
) -> list[SiteInput]:
    """The first half of the patients go to S01, the rest to S02; each patient in
    ``shared`` had its first study at S01 and its later studies at S02."""
    half = len(manifest.patients) // 2
    shares: dict[str, dict[str, CorpusFile]] = {site: {} for site in SITES}
    for entry in manifest.files:
        patient = manifest.patients[entry.patient]
        if entry.patient in shared:
            first_study = patient.studies[0].study_uid
            site = "S01" if entry.study_uid == first_study else "S02"
        else:
            site = "S01" if entry.patient < half else "S02"
        shares[site][entry.path] = entry
    inputs = []
    for site, files in shares.items():
        root = directory / f"input-{site}"
        for relative in files:
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(manifest.root / relative, target)
        inputs.append(SiteInput(site, root, files))
    return inputs
