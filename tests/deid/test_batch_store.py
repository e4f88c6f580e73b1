"""Opening the run's mapping store: embedded, run-scoped across processes, fail-closed."""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from typing import Any

import pytest

from deid.contract.store import Enrollment, PseudonymRequest, TrialInfo
from deid.contract.trial_config import TrialConfig
from deid.store.factory import FailClosedStore, SharedStoreClient, StoreSpec, StoreUnavailableError
from deid.store.memory import MemoryStore
from deid.store.served import StoreServer


def _ask(proxy: Any, patient: str) -> tuple[str, int, tuple[str | None, ...]]:
    client = StoreSpec("T1", "S1", shared_proxy=proxy).open()
    enrollment = client.enroll(patient)
    answers = client.get_or_create([PseudonymRequest("FULL_NAME", "Kowalczyk^Ingrid", "X^Y")])
    client.close()
    return enrollment.subject_id, enrollment.date_offset_days, tuple(answers)


def test_run_scoped_store_is_one_store_for_every_process() -> None:
    context = multiprocessing.get_context("spawn")
    with StoreServer(context) as server:
        proxy = server.memory(TrialConfig(key="T1"), "S1")
        with context.Pool(2) as pool:
            answers = pool.starmap(_ask, [(proxy, "patient-1")] * 4)
        assert len(set(answers)) == 1
        subject, offset, pseudonyms = answers[0]
        assert pseudonyms == ("X^Y",)
        assert SharedStoreClient(proxy).trial_info().anonymized
        # A worker closing its handle leaves the parent's store usable.
        assert _ask(proxy, "patient-1")[:2] == (subject, offset)


class _Broken:
    """A store whose backend fails, the way a locked or vanished database does."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def trial_info(self) -> TrialInfo:
        raise self.error

    def enroll(self, patient_key: str) -> Enrollment:
        raise self.error

    def get_or_create(self, items: Sequence[PseudonymRequest]) -> list[str | None]:
        raise self.error

    def close(self) -> None:
        raise self.error


def test_store_failures_surface_as_store_unavailable_without_values() -> None:
    error = RuntimeError("database is locked\n[SQL: INSERT ...]\n[parameters: ('Kowalczyk',)]")
    store = FailClosedStore(_Broken(error), "/site/vault.sqlite")
    with pytest.raises(StoreUnavailableError, match="database is locked") as caught:
        store.enroll("Kowalczyk")
    assert "Kowalczyk" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    for call in (store.trial_info, store.close, lambda: store.get_or_create([])):
        with pytest.raises(StoreUnavailableError, match=r"/site/vault\.sqlite failed"):
            call()


def test_fail_closed_store_passes_answers_through() -> None:
    store = FailClosedStore(MemoryStore(TrialConfig(key="T1"), "S1"), "memory")
    first = store.enroll("p")
    assert store.enroll("p").subject_id == first.subject_id
    assert store.trial_info().site_id == "S1"


def test_a_spec_naming_no_store_says_so() -> None:
    with pytest.raises(StoreUnavailableError, match="no mapping store"):
        StoreSpec("T1", "S1").open()
