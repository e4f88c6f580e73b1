import multiprocessing
import stat
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from deid.contract.store import MappingStore, PseudonymRequest
from deid.contract.trial_config import TrialConfig, TrialSettingsDifferError
from deid.store.cache import StoreMemory
from deid.store.resolve import resolve_pseudonyms
from vault.embedded import open_embedded_store
from vault.models import Mapping, Subject

ORIGINALS = [f"1.2.840.99.{i}" for i in range(60)]
PATIENTS = [f"MRN{i:03d}" for i in range(12)]


def _worker(store_path: str, worker: int, queue: "multiprocessing.Queue[object]") -> None:
    try:
        store = open_embedded_store(Path(store_path), "TRIAL1", "S01")
        subjects = {p: store.enroll(p) for p in PATIENTS}
        answers: dict[str, str] = {}
        for start in range(0, len(ORIGINALS), 6):
            chunk = ORIGINALS[start : start + 6]
            got = store.get_or_create(
                [
                    PseudonymRequest("UID", o, f"2.25.{worker}{start + i:03d}")
                    for i, o in enumerate(chunk)
                ]
            )
            answers.update({o: str(a) for o, a in zip(chunk, got, strict=True)})
        store.close()
        queue.put(
            (
                {p: (e.subject_id, e.date_offset_days) for p, e in subjects.items()},
                answers,
            )
        )
    except BaseException as exc:
        queue.put(repr(exc))


def test_the_embedded_store_is_a_mapping_store(tmp_path: Path) -> None:
    config = TrialConfig(key="TRIAL9", sponsor_name="ACME", sites={"S01": "General"})
    store = open_embedded_store(tmp_path / "store.db", "TRIAL9", "S01", trial_config=config)
    try:
        assert isinstance(store, MappingStore)
        info = store.trial_info()
        assert (info.trial, info.sponsor_name, info.site_id, info.site_name) == (
            "TRIAL9",
            "ACME",
            "S01",
            "General",
        )
        assert info.protocol_id == "TRIAL9" and not info.anonymized
        enrollment = store.enroll("MRN-1")
        assert enrollment.created and store.enroll("MRN-1").subject_id == enrollment.subject_id
        resolved = resolve_pseudonyms(
            store, [("FULL_NAME", "DOE^JOHN"), ("UID", "1.2.3")], lambda kind: f"{kind}-proposal"
        )
        assert resolved == {
            ("FULL_NAME", "DOE^JOHN"): "FULL_NAME-proposal",
            ("UID", "1.2.3"): "UID-proposal",
        }
        assert store.get_or_create([]) == []
    finally:
        store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.enroll("MRN-1")
    keys = tmp_path / "keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    for key_file in keys.iterdir():
        if key_file.suffix != ".pub":
            assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # Reopening finds the same trial; another site is added to it.
    again = open_embedded_store(tmp_path / "store.db", "TRIAL9", "S02")
    try:
        assert again.enroll("MRN-1").subject_id == enrollment.subject_id
        assert again.trial_info().site_name == "S02"
    finally:
        again.close()
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()


def test_a_configuration_that_disagrees_with_the_existing_trial_is_refused(
    tmp_path: Path,
) -> None:
    """A trial configuration only sets up a new trial; for an existing one it must agree,
    or the run would write other settings than it was given, silently."""
    store_path = tmp_path / "store.db"
    open_embedded_store(store_path, "T", "S01").close()  # created with the defaults
    wanted = TrialConfig.model_validate(
        {"key": "T", "sponsor_name": "Onco Pharma", "sites": {"S01": "Toronto"}}
    )
    with pytest.raises(TrialSettingsDifferError, match="deid-vault trial update T") as refused:
        open_embedded_store(store_path, "T", "S01", trial_config=wanted)
    assert refused.value.differences == (
        "sponsor_name (the store has 'UNSPECIFIED SPONSOR', the file 'Onco Pharma')",
        "sites.S01 (the store has 'S01', the file 'Toronto')",
    )
    assert str(tmp_path / "keys") in str(refused.value)
    # What agrees, or names a site the trial does not have yet, opens the store.
    agreeing = TrialConfig.model_validate({"key": "T", "sites": {"S02": "Lyon"}})
    store = open_embedded_store(store_path, "T", "S02", trial_config=agreeing)
    try:
        assert (store.trial_info().sponsor_name, store.trial_info().site_name) == (
            "UNSPECIFIED SPONSOR",
            "Lyon",
        )
    finally:
        store.close()


def test_a_configuration_for_another_trial_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not 'B'"):
        open_embedded_store(tmp_path / "s.db", "B", "S01", trial_config=TrialConfig(key="A"))


def test_worker_processes_share_one_store_safely(tmp_path: Path) -> None:
    store_path = tmp_path / "store.db"
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[object] = context.Queue()
    # No parent opens first: the workers race for keys, migrations and the trial.
    workers = [context.Process(target=_worker, args=(str(store_path), n, queue)) for n in range(4)]
    for w in workers:
        w.start()
    results = [queue.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=60)
    assert all(isinstance(r, tuple) for r in results), results
    subjects = [r[0] for r in results]  # type: ignore[index]
    answers = [r[1] for r in results]  # type: ignore[index]
    assert all(s == subjects[0] for s in subjects)
    assert all(a == answers[0] for a in answers)
    assert len({sid for sid, _ in subjects[0].values()}) == len(PATIENTS)
    engine = create_engine(f"sqlite:///{store_path}")
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Mapping)).scalar() == 60
        assert connection.execute(select(func.count()).select_from(Subject)).scalar() == 12
    engine.dispose()


class _CountingStore:
    def __init__(self, inner: MappingStore) -> None:
        self.inner = inner
        self.batches: list[int] = []
        self.enrollments = 0

    def trial_info(self):  # type: ignore[no-untyped-def]
        return self.inner.trial_info()

    def enroll(self, patient_key):  # type: ignore[no-untyped-def]
        self.enrollments += 1
        return self.inner.enroll(patient_key)

    def get_or_create(self, items):  # type: ignore[no-untyped-def]
        self.batches.append(len(items))
        return self.inner.get_or_create(items)

    def close(self) -> None:
        self.inner.close()


def test_the_engines_memory_answers_repeats_without_the_store(tmp_path: Path) -> None:
    counting = _CountingStore(open_embedded_store(tmp_path / "c.db", "T", "S01"))
    memory = StoreMemory(max_entries=3)
    proposals = iter(f"2.25.{n}" for n in range(1, 100))

    def propose(kind: str) -> str:
        return next(proposals)

    try:
        first = memory.enroll(counting, "MRN")
        assert first.created
        again = memory.enroll(counting, "MRN")
        assert again.subject_id == first.subject_id and not again.created
        assert counting.enrollments == 1
        wanted = [("UID", "1.1"), ("UID", "1.2")]
        assert memory.resolve(counting, wanted, propose) == {
            ("UID", "1.1"): "2.25.1",
            ("UID", "1.2"): "2.25.2",
        }
        mixed = memory.resolve(counting, [("UID", "1.2"), ("UID", "1.3")], propose)
        assert mixed == {("UID", "1.2"): "2.25.2", ("UID", "1.3"): "2.25.3"}
        assert counting.batches == [2, 1]  # only the unknown original went to the store
        memory.resolve(counting, [("UID", "1.4")], propose)
        # Bounded: the oldest entry was forgotten and is asked for again, same answer.
        assert memory.resolve(counting, [("UID", "1.1")], propose) == {("UID", "1.1"): "2.25.1"}
        assert counting.batches[-1] == 1
        assert len(memory) == 3
    finally:
        counting.close()
