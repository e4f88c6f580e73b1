"""A trial site's world for re-identification tests: a corpus de-identified with ``deid run``
into the embedded store, that store served by ``deid-vault serve`` on loopback, and
principals with tokens made with the ``deid-vault`` CLI."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydicom import dcmread
from pydicom.dataset import Dataset

from deid.cli import main
from deid.corpus import CorpusManifest, generate_corpus
from deid.dicomfile import write_dataset
from deid.engine import Engine
from deid.outcome import Deidentified
from deid.profiles import build_rules
from deid.writing import input_files
from tests.vault import factories
from tests.vault.servers import vault_server
from vault.embedded import EmbeddedStore
from vault.models import Trial
from vault.runtime import VaultRuntime

TRIAL = "ONCO-42"
SITE = "07"
JUSTIFICATION = "Incidental finding on follow-up CT, ticket INC-20417."
PRINCIPALS = {
    "rita": ["reidentify_requester"],
    "abe": ["approver"],
    "carol": ["reidentify_requester", "approver"],
    "otto": ["auditor"],
}


@dataclass
class Pair:
    """One de-identified file and the export file it came from."""

    original: Path
    deidentified: str
    """Relative to :attr:`World.deidentified`."""
    subject_id: str


@dataclass
class World:
    """What the tests share: folders, the served vault, tokens."""

    manifest: CorpusManifest
    deidentified: Path
    store: Path
    key_dir: Path
    base_url: str
    env: dict[str, str]
    tokens: dict[str, Path]
    pairs: list[Pair] = field(default_factory=list)

    @property
    def subjects(self) -> list[str]:
        """Every subject ID, sorted."""
        return sorted({p.subject_id for p in self.pairs})

    def vault_args(self, who: str) -> list[str]:
        """``--vault ... --token-file ... --trial ...`` for ``who``."""
        return ["--vault", self.base_url, "--token-file", str(self.tokens[who]), "--trial", TRIAL]

    def reidentify(self, who: str, source: Path, output: Path, *extra: str) -> int:
        """``deid reidentify`` as ``who``, in process."""
        return main(
            [
                "reidentify",
                str(source),
                str(output),
                *self.vault_args(who),
                "--purpose",
                "incidental_finding",
                "--justification",
                JUSTIFICATION,
                *extra,
            ]
        )

    def requests(self, who: str, action: str, *extra: str) -> int:
        """``deid requests ACTION`` as ``who``, in process."""
        return main(["requests", action, *extra, *self.vault_args(who)])

    def http(self, who: str) -> httpx.Client:
        """A plain HTTP client with ``who``'s token (to check the API directly)."""
        token = self.tokens[who].read_text(encoding="utf-8").strip()
        return httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def patient_originals(self) -> list[str]:
        """Every patient's identifying values (names, IDs, birth dates) of the corpus."""
        values = []
        for p in self.manifest.patients:
            values += [p.patient_id, p.patient_name, p.birth_date]
            values += [part for part in p.patient_name.split("^") if len(part) >= 4]
        return values


def vault_cli(env: dict[str, str], *args: str) -> str:
    """Run ``deid-vault ARGS`` for real; its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", "vault.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def tree_digest(root: Path) -> str:
    """A digest of every file's path and bytes under ``root``."""
    digest = hashlib.sha256()
    for path, relative in input_files(root):
        digest.update(relative.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def request_ids(report_path: Path) -> dict[str, int]:
    """Subject ID -> request ID, from a ``reidentify-report.json``."""
    report: dict[str, Any] = json.loads(report_path.read_text(encoding="utf-8"))
    found = {}
    for subject in report["subjects"]:
        if subject["request_ids"]:
            (found[subject["subject_id"]],) = subject["request_ids"]
    return found


def flat(dataset: Dataset, prefix: str = "") -> dict[str, tuple[str, str]]:
    """Every element at any depth by path: (VR, value as text)."""
    out: dict[str, tuple[str, str]] = {}
    for element in dataset:
        key = prefix + (element.keyword or str(element.tag))
        if element.VR == "SQ":
            for index, item in enumerate(element.value):
                out.update(flat(item, f"{key}[{index}]."))
        elif element.tag != 0x7FE00010:
            out[key] = (element.VR, str(element.value))
    return out


def file_elements(path: Path) -> dict[str, tuple[str, str]]:
    """:func:`flat` of a file's data set and file meta (``meta.`` prefix)."""
    dataset = dcmread(path)
    return {**flat(dataset.file_meta, "meta."), **flat(dataset)}


def assert_restored(restored: Path, original: Path) -> int:
    """Identity, every UID and every date at any depth equal the original's; how many checked."""
    after, before = file_elements(restored), file_elements(original)
    for keyword in ("PatientID", "IssuerOfPatientID", "PatientName"):
        assert after[keyword] == before[keyword], keyword
    checked = 0
    for path, (vr, value) in after.items():
        if vr in ("UI", "DA", "DT") and path != "meta.ImplementationClassUID" and value:
            assert path in before, path
            assert before[path][1] == value, path
            checked += 1
    assert after["PatientIdentityRemoved"][1] == "NO"
    assert "DeidentificationMethod" not in after
    return checked


def deidentify_in_process(
    runtime: VaultRuntime, tmp_path: Path
) -> tuple[Trial, Path, dict[str, tuple[Path, str]]]:
    """The trial, the de-identified folder, and per output file its input and subject."""
    trial = factories.trial(runtime, sites=("S01",))
    store = EmbeddedStore(runtime, factories.uploader(runtime, trial), trial.key, "S01")
    engine = Engine(build_rules(("retain-long-modified-dates",), with_trial_recipe=True), store)
    corpus = generate_corpus(
        tmp_path / "export", patients=2, studies_per_patient=1, series_per_study=1,
        instances_per_series=2, rows=16, cols=16, seed=3,
    )  # fmt: skip
    deidentified = tmp_path / "deid"
    originals: dict[str, tuple[Path, str]] = {}
    for path, _ in input_files(corpus.root):
        outcome = engine.process(path)
        assert isinstance(outcome, Deidentified)
        relative = f"{outcome.subject_id}/{outcome.instance_uid}.dcm"
        (deidentified / outcome.subject_id).mkdir(parents=True, exist_ok=True)
        write_dataset(outcome.dataset, deidentified / relative)
        originals[relative] = (path, outcome.subject_id)
    return trial, deidentified, originals


@contextmanager
def site_world(root: Path) -> Iterator[World]:
    """Build the world under ``root`` and serve its vault until the block ends."""
    manifest = generate_corpus(
        root / "export",
        patients=3,
        studies_per_patient=1,
        series_per_study=2,
        instances_per_series=2,
        rows=16,
        cols=16,
        seed=11,
    )
    deidentified = root / "deidentified"
    status = main(
        [
            "run",
            str(manifest.root),
            str(deidentified),
            "--trial",
            TRIAL,
            "--site",
            SITE,
            "--workers",
            "1",
            "--no-progress",
        ]
    )
    assert status == 0
    store = root / "deidentified-vault" / "vault.sqlite"
    key_dir = store.parent / "keys"
    env = {"VAULT_DATABASE_URL": f"sqlite:///{store}", "VAULT_KEY_DIR": str(key_dir)}
    tokens: dict[str, Path] = {}
    for name, roles in PRINCIPALS.items():
        role_args = [a for role in roles for a in ("--role", f"{role}:{TRIAL}")]
        vault_cli(env, "principal", "create", name, *role_args)
        token = vault_cli(env, "token", "create", name).strip().splitlines()[-1]
        path = root / f"{name}.token"
        path.write_text(token + "\n", encoding="utf-8")
        path.chmod(0o600)
        tokens[name] = path
    report = json.loads((deidentified / "deid-report.json").read_text(encoding="utf-8"))
    pairs = [
        Pair(path, record["output"], record["subject_id"])
        for (path, _), record in zip(input_files(manifest.root), report["files"], strict=True)
        if record["status"] == "written"
    ]
    with vault_server(env["VAULT_DATABASE_URL"], key_dir, root / "vault.log") as base_url:
        yield World(manifest, deidentified, store, key_dir, base_url, env, tokens, pairs)
