"""Moving an embedded trial into a deployed vault: ``deid run``, export, import, use.

Real parts throughout: a generated corpus de-identified by ``deid run`` into its
embedded SQLite vault, real key files, real X25519/AES-GCM, a real PostgreSQL
target and a fresh SQLite target, the ``deid-vault`` command line in process.
"""

from __future__ import annotations

import hashlib
import io
import json
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from deid.cli import main as deid_main
from deid.contract.store import PseudonymRequest
from deid.contract.subject_ids import DEFAULT_TEMPLATE, SubjectIdTemplate
from deid.corpus import CorpusManifest, generate_corpus
from tests.vault.databases import database_url, make_settings
from tests.vault.factories import caller
from vault.audit import verify_chain
from vault.authz import Binding, Caller, cli_caller
from vault.cli import main as vault_main
from vault.crypto import Sealed
from vault.embedded import open_embedded_store
from vault.models import AuditRecord, Mapping, Role, Site, Subject, Trial
from vault.runtime import VaultRuntime
from vault.services import mappings as mapping_service
from vault.services import reidentification as reid_service
from vault.services.common import trial_cipher
from vault.services.reidentification import PseudonymRef
from vault.transfer.bundle import MAGIC
from vault.transfer.keys import load_transfer_public_key
from vault.transfer.operations import export_bundle

TRIAL = "MOVE-1"
SITES = ("S01", "S02")


@dataclass(frozen=True)
class TrialContents:
    """Everything a trial holds, decrypted with its vault's own keys."""

    mappings: dict[tuple[str, str], tuple[str, bool]]
    """(kind, original) -> (pseudonym, identifying)"""
    subjects: dict[str, tuple[str, str, int, int | None]]
    """patient key -> (site, subject ID, date offset, sequence)"""
    counters: dict[str, int]
    blind_indexes: frozenset[bytes]
    ciphertexts: frozenset[bytes]


def contents(runtime: VaultRuntime) -> TrialContents:
    """Read every row of the trial straight from the tables and decrypt it."""
    with runtime.transaction() as session:
        trial = session.scalars(select(Trial).where(Trial.key == TRIAL)).one()
        cipher = trial_cipher(session, runtime, trial)
        mappings, indexes, ciphertexts = {}, set(), set()
        for row in session.scalars(select(Mapping).where(Mapping.trial_id == trial.id)):
            original = cipher.open_original(
                row.kind, row.blind_index, Sealed(row.key_version, row.original_ciphertext)
            )
            mappings[(row.kind, original)] = (row.pseudonym, row.identifying)
            indexes.add(bytes(row.blind_index))
            ciphertexts.add(bytes(row.original_ciphertext))
        subjects = {}
        rows = session.execute(
            select(Subject, Site.site_key)
            .join(Site, Site.id == Subject.site_id)
            .where(Subject.trial_id == trial.id)
        )
        for subject, site_key in rows:
            index = bytes(subject.patient_blind_index)
            patient = cipher.open_patient_key(
                index, Sealed(subject.key_version, subject.patient_key_ciphertext)
            )
            offset = cipher.open_date_offset(
                index, Sealed(subject.key_version, subject.date_offset_ciphertext)
            )
            subjects[patient] = (site_key, subject.subject_id, offset, subject.sequence)
            indexes.add(index)
            ciphertexts.add(bytes(subject.patient_key_ciphertext))
        counters = {
            site.site_key: site.enrollment_counter
            for site in session.scalars(select(Site).where(Site.trial_id == trial.id))
        }
    return TrialContents(mappings, subjects, counters, frozenset(indexes), frozenset(ciphertexts))


def vault(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return vault_main(list(argv), out=out), out.getvalue()


@dataclass(frozen=True)
class SiteRun:
    """The embedded vault ``deid run`` left behind, and what went into it."""

    store: Path
    key_dir: Path
    corpora: tuple[CorpusManifest, ...]
    source: TrialContents
    originals: frozenset[str]
    """Every original of the corpus and of the store, as text."""

    @property
    def url(self) -> str:
        return f"sqlite:///{self.store}"


@pytest.fixture(scope="module")
def site_run(tmp_path_factory: pytest.TempPathFactory) -> SiteRun:
    root = tmp_path_factory.mktemp("site")
    store = root / "OUTPUT-vault" / "vault.sqlite"
    corpora = []
    for number, site in enumerate(SITES):
        corpus = generate_corpus(
            root / f"export-{site}",
            patients=3 - number,
            studies_per_patient=1,
            series_per_study=1,
            instances_per_series=2,
            rows=16,
            cols=16,
            seed=40 + number,
        )
        argv = ["run", str(corpus.root), str(root / f"OUTPUT-{site}"), "--trial", TRIAL]
        argv += ["--site", site, "--store", str(store), "--workers", "1", "--no-progress"]
        assert deid_main(argv) == 0
        corpora.append(corpus)
    runtime = VaultRuntime.from_settings(make_settings(f"sqlite:///{store}", store.parent / "keys"))
    try:
        source = contents(runtime)
    finally:
        runtime.dispose()
    originals = {o for corpus in corpora for f in corpus.files for o in f.originals}
    originals |= {original for _kind, original in source.mappings} | set(source.subjects)
    return SiteRun(store, store.parent / "keys", tuple(corpora), source, frozenset(originals))


@pytest.fixture(scope="module")
def transfer_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("receiving") / "transfer"
    code, out = vault("transfer-key", "create", "--out", str(directory))
    assert code == 0 and "transfer.pub" in out
    return directory


@pytest.fixture(scope="module")
def bundle(site_run: SiteRun, transfer_key: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bundle") / f"{TRIAL}.bundle"
    code, out = vault(
        "export", TRIAL, "--recipient", str(transfer_key / "transfer.pub"), "--out", str(path),
        "--database-url", site_run.url, "--key-dir", str(site_run.key_dir),
    )  # fmt: skip
    counts = site_run.source
    assert code == 0, out
    assert (
        f"{len(counts.counters)} sites, {len(counts.subjects)} subjects, "
        f"{len(counts.mappings)} mappings" in out
    )
    return path


def _audit(runtime: VaultRuntime) -> list[AuditRecord]:
    with runtime.transaction() as session:
        return list(session.scalars(select(AuditRecord).order_by(AuditRecord.seq)))


def _no_original_in(text: str, originals: frozenset[str]) -> None:
    leaked = [o for o in originals if len(o) >= 6 and o in text]
    assert not leaked, f"{len(leaked)} originals found"


def test_the_bundle_is_private_sealed_and_audited_in_the_source(
    site_run: SiteRun, bundle: Path, transfer_key: Path
) -> None:
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o600
    assert sorted(p.name for p in bundle.parent.iterdir()) == [bundle.name]  # no temp file left
    data = bundle.read_bytes()
    assert data.startswith(MAGIC)
    assert len(site_run.originals) > 50
    for original in site_run.originals:
        if len(original) >= 6:
            assert original.encode() not in data
            assert original.encode("utf-16-le") not in data
    for pseudonym, _identifying in site_run.source.mappings.values():
        if len(pseudonym) >= 8:
            assert pseudonym.encode() not in data
    # A second export to the same name is refused; the first file is untouched.
    code, _ = vault(
        "export", TRIAL, "--recipient", str(transfer_key / "transfer.pub"), "--out", str(bundle),
        "--database-url", site_run.url, "--key-dir", str(site_run.key_dir),
    )  # fmt: skip
    assert code == 2 and bundle.read_bytes() == data
    runtime = VaultRuntime.from_settings(make_settings(site_run.url, site_run.key_dir))
    try:
        records = _audit(runtime)
        digest = hashlib.sha256(data).hexdigest()
        exports = [r for r in records if r.details.get("bundle_sha256") == digest]
        assert [(r.action, r.outcome, r.trial_key, r.role) for r in exports] == [
            ("trial.export", "success", TRIAL, "admin")
        ]
        details = exports[0].details
        assert (details["subjects"], details["mappings"], details["sites"]) == (
            len(site_run.source.subjects),
            len(site_run.source.mappings),
            2,
        )
        _no_original_in(
            json.dumps([r.details for r in records] + [r.justification for r in records]),
            site_run.originals,
        )
        with runtime.transaction() as session:
            assert verify_chain(session, runtime.signer.public_key).ok
    finally:
        runtime.dispose()


def _uploader(runtime: VaultRuntime, site: str) -> Caller:
    with runtime.transaction() as session:
        trial = session.scalars(select(Trial).where(Trial.key == TRIAL)).one()
        site_id = session.scalars(
            select(Site.id).where(Site.trial_id == trial.id, Site.site_key == site)
        ).one()
    return caller(runtime, Binding(Role.SITE_UPLOADER, trial.id, site_id))


def _check_behaves_as_created_here(runtime: VaultRuntime, source: TrialContents) -> None:
    """Forward mappings, enrollment and re-identification give the source's answers."""
    uploaders = {site: _uploader(runtime, site) for site in SITES}
    pairs = list(source.mappings)
    with runtime.transaction() as session:
        found = mapping_service.lookup(session, runtime, uploaders["S01"], TRIAL, "S01", pairs)
        proposals = [
            PseudonymRequest(kind, original, f"NEW-{n}") for n, (kind, original) in enumerate(pairs)
        ]
        again = mapping_service.get_or_create(
            session, runtime, uploaders["S02"], TRIAL, "S02", proposals
        )
    expected = [source.mappings[pair][0] for pair in pairs]
    assert found == expected and again == expected
    for patient, (site, subject_id, offset, _sequence) in source.subjects.items():
        with runtime.transaction() as session:
            enrollment = mapping_service.enroll(
                session, runtime, uploaders[site], TRIAL, site, patient
            )
        assert (enrollment.subject_id, enrollment.date_offset_days) == (subject_id, offset)
        assert not enrollment.created
    template = SubjectIdTemplate.parse(DEFAULT_TEMPLATE)
    for site in SITES:
        with runtime.transaction() as session:
            new = mapping_service.enroll(
                session, runtime, uploaders[site], TRIAL, site, f"id:|NEW-PATIENT-{site}"
            )
        assert new.created
        assert new.subject_id == template.render(site, source.counters[site] + 1)
        assert new.subject_id not in {s[1] for s in source.subjects.values()}

    # Re-identification: a requester, another principal approves, the originals come back.
    with runtime.transaction() as session:
        trial_id = session.scalars(select(Trial.id).where(Trial.key == TRIAL)).one()
    requester = caller(runtime, Binding(Role.REIDENTIFY_REQUESTER, trial_id))
    approver = caller(runtime, Binding(Role.APPROVER, trial_id))
    wanted_subjects = sorted(s[1] for s in source.subjects.values())[:2]
    identifying = [(k, o, p) for (k, o), (p, ident) in source.mappings.items() if ident][:4]
    with runtime.transaction() as session:
        request = reid_service.submit(
            session, runtime, requester, TRIAL, "clinical_care",
            "incidental finding on the follow-up scan",
            [PseudonymRef(k, p) for k, _o, p in identifying], wanted_subjects,
        )  # fmt: skip
    with runtime.transaction() as session:
        reid_service.approve(session, runtime, approver, TRIAL, request.id)
    with runtime.transaction() as session:
        released = reid_service.release(session, runtime, requester, TRIAL, request.id)
    assert [(p.kind, p.original, p.pseudonym) for p in released.pseudonyms] == identifying
    by_subject = {s[1]: (patient, s[2]) for patient, s in source.subjects.items()}
    assert [(s.patient_key, s.date_offset_days) for s in released.subjects] == [
        by_subject[subject_id] for subject_id in wanted_subjects
    ]


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_an_imported_trial_behaves_as_if_created_in_the_target(
    backend: str,
    site_run: SiteRun,
    bundle: Path,
    transfer_key: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key_dir = tmp_path / "target-keys"
    with database_url(backend, tmp_path) as url:
        assert vault("init", "--key-dir", str(key_dir), "--database-url", url)[0] == 0
        code, out = vault(
            "import", str(bundle), "--key", str(transfer_key / "transfer.key"),
            "--database-url", url, "--key-dir", str(key_dir),
        )  # fmt: skip
        assert code == 0, out
        assert f"trial {TRIAL} imported" in out
        runtime = VaultRuntime.from_settings(make_settings(url, key_dir))
        try:
            target = contents(runtime)
            source = site_run.source
            # Same trial, decrypted under the target's own keys; nothing shared with the source.
            assert target.mappings == source.mappings
            assert target.subjects == source.subjects
            assert target.counters == source.counters
            assert not target.blind_indexes & source.blind_indexes
            assert not target.ciphertexts & source.ciphertexts

            _check_behaves_as_created_here(runtime, source)

            records = _audit(runtime)
            imports = [r for r in records if r.action == "trial.import"]
            assert [(r.outcome, r.trial_key) for r in imports] == [("success", TRIAL)]
            assert imports[0].details["bundle_sha256"] == (
                hashlib.sha256(bundle.read_bytes()).hexdigest()
            )
            assert imports[0].details["mappings"] == len(source.mappings)
            _no_original_in(
                json.dumps([r.details for r in records] + [r.justification for r in records]),
                site_run.originals,
            )
            with runtime.transaction() as session:
                report = verify_chain(session, runtime.signer.public_key)
            assert report.ok and report.records_checked == len(records)
        finally:
            runtime.dispose()
        monkeypatch.setenv("VAULT_DATABASE_URL", url)
        code, out = vault("audit", "verify", "--public-key", str(key_dir / "audit-signing.pub"))
        assert code == 0 and "audit chain OK" in out


def _trial_rows(url: str, key_dir: Path) -> tuple[int, int, int]:
    runtime = VaultRuntime.from_settings(make_settings(url, key_dir))
    try:
        with runtime.transaction() as session:
            return (
                session.execute(select(func.count()).select_from(Trial)).scalar_one(),
                session.execute(select(func.count()).select_from(Subject)).scalar_one(),
                session.execute(select(func.count()).select_from(Mapping)).scalar_one(),
            )
    finally:
        runtime.dispose()


def _newer_version(data: bytes) -> bytes:
    (length,) = struct.unpack(">I", data[len(MAGIC) : len(MAGIC) + 4])
    header = json.loads(data[len(MAGIC) + 4 : len(MAGIC) + 4 + length])
    header["version"] = 2
    raw = json.dumps(header).encode()
    return MAGIC + struct.pack(">I", len(raw)) + raw + data[len(MAGIC) + 4 + length :]


def _chunk_ends(data: bytes) -> list[int]:
    (length,) = struct.unpack(">I", data[len(MAGIC) : len(MAGIC) + 4])
    ends, position = [], len(MAGIC) + 4 + length
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        position += 4 + length
        ends.append(position)
    return ends


def _small_chunk_bundle(site_run: SiteRun, transfer_key: Path, tmp_path: Path) -> bytes:
    runtime = VaultRuntime.from_settings(make_settings(site_run.url, site_run.key_dir))
    try:
        path = tmp_path / "chunked.bundle"
        recipient = load_transfer_public_key(transfer_key / "transfer.pub")
        export_bundle(runtime, cli_caller(), TRIAL, recipient, path, chunk_bytes=1024)
        return path.read_bytes()
    finally:
        runtime.dispose()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_bad_bundles_wrong_keys_and_existing_trials_import_nothing(
    backend: str,
    site_run: SiteRun,
    bundle: Path,
    transfer_key: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = bundle.read_bytes()
    # A bundle of many small chunks: the failures below come after records were imported,
    # so only the rollback of the one transaction keeps the target empty.
    chunked = _small_chunk_bundle(site_run, transfer_key, tmp_path)
    boundaries = _chunk_ends(chunked)
    assert len(boundaries) > 5
    flipped = bytearray(chunked)
    flipped[boundaries[-2] + 10] ^= 0x40
    other_key = tmp_path / "other-transfer"
    assert vault("transfer-key", "create", "--out", str(other_key))[0] == 0
    cases = {
        "flipped": (bytes(flipped), "transfer.key", "the bundle was altered: chunk"),
        "cut at a chunk": (chunked[: boundaries[-2]], "transfer.key", "the bundle is truncated"),
        "cut inside": (data[: len(data) - 100], "transfer.key", "truncated"),
        "wrong key": (data, "other", "not to this private key"),
        "newer": (_newer_version(data), "transfer.key", "format version 2, newer than"),
    }
    key_dir = tmp_path / "target-keys"
    with database_url(backend, tmp_path) as url:
        assert vault("init", "--key-dir", str(key_dir), "--database-url", url)[0] == 0
        target = ["--database-url", url, "--key-dir", str(key_dir)]
        capsys.readouterr()
        for name, (content, key, message) in cases.items():
            path = tmp_path / f"{name}.bundle"
            path.write_bytes(content)
            key_file = other_key / "transfer.key" if key == "other" else transfer_key / key
            code, out = vault("import", str(path), "--key", str(key_file), *target)
            err = capsys.readouterr().err
            assert code == 2 and message in err, (name, err)
            assert out == ""
            assert _trial_rows(url, key_dir) == (0, 0, 0), name
        code, out = vault(
            "import", str(bundle), "--key", str(transfer_key / "transfer.key"), *target
        )
        assert code == 0, out
        imported = _trial_rows(url, key_dir)
        assert imported == (1, len(site_run.source.subjects), len(site_run.source.mappings))
        code, _ = vault("import", str(bundle), "--key", str(transfer_key / "transfer.key"), *target)
        assert code == 2
        assert f"trial {TRIAL} already exists in this vault; nothing was imported" in (
            capsys.readouterr().err
        )
        assert _trial_rows(url, key_dir) == imported
        runtime = VaultRuntime.from_settings(make_settings(url, key_dir))
        try:
            records = [r for r in _audit(runtime) if r.action == "trial.import"]
            # Every refusal is on record (the wrong key and the newer format too), then the import.
            assert [r.outcome for r in records] == ["refused"] * 5 + ["success", "refused"]
            assert "already exists" in records[-1].details["reason"]
            _no_original_in(json.dumps([r.details for r in records]), site_run.originals)
            with runtime.transaction() as session:
                assert verify_chain(session, runtime.signer.public_key).ok
        finally:
            runtime.dispose()


def test_the_imported_sqlite_vault_serves_deid_as_an_embedded_store(
    site_run: SiteRun, bundle: Path, transfer_key: Path, tmp_path: Path
) -> None:
    """A fresh embedded store that imported the trial answers ``deid`` like the original."""
    store = tmp_path / "moved-vault" / "vault.sqlite"
    key_dir = store.parent / "keys"
    url = f"sqlite:///{store}"
    assert vault("init", "--key-dir", str(key_dir), "--database-url", url)[0] == 0
    assert vault(
        "import", str(bundle), "--key", str(transfer_key / "transfer.key"),
        "--database-url", url, "--key-dir", str(key_dir),
    )[0] == 0  # fmt: skip
    embedded = open_embedded_store(store, TRIAL, "S01")
    try:
        for patient, (site, subject_id, offset, _seq) in site_run.source.subjects.items():
            if site == "S01":
                enrollment = embedded.enroll(patient)
                assert (enrollment.subject_id, enrollment.date_offset_days) == (subject_id, offset)
        assert embedded.trial_info().site_name == "S01"
    finally:
        embedded.close()
