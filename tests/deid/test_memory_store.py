import threading

import pytest

from deid.contract.store import MappingStore, PseudonymRequest
from deid.contract.subject_ids import SubjectIdTemplate
from deid.contract.trial_config import TrialConfig
from deid.pseudo import get_class
from deid.store.memory import MemoryStore, StoreClosedError
from deid.store.resolve import resolve_pseudonyms


def make_store(**settings: object) -> MemoryStore:
    config = TrialConfig.model_validate({"key": "ONC-7", "sites": {"S01": "Halifax"}, **settings})
    return MemoryStore(config, "S01")


def test_is_a_mapping_store_with_the_trial_info():
    store = make_store(sponsor_name="Acme")
    assert isinstance(store, MappingStore)
    info = store.trial_info()
    assert (info.trial, info.sponsor_name, info.protocol_id, info.protocol_name) == (
        "ONC-7",
        "Acme",
        "ONC-7",
        "ONC-7",
    )
    assert (info.site_id, info.site_name, info.anonymized) == ("S01", "Halifax", False)
    anonymizing = MemoryStore(TrialConfig(key="T"), "S02", anonymized=True)
    assert anonymizing.trial_info().anonymized
    assert anonymizing.trial_info().site_name == "S02"


def test_enrollment_is_stable_and_subject_ids_carry_a_check_digit():
    store = make_store()
    first = store.enroll("pid:|12345")
    assert first.created
    again = store.enroll("pid:|12345")
    assert (again.subject_id, again.date_offset_days, again.created) == (
        first.subject_id,
        first.date_offset_days,
        False,
    )
    second = store.enroll("pid:|99999")
    assert second.subject_id != first.subject_id
    template = SubjectIdTemplate.parse("{site}-{seq:4}{check}")
    assert first.subject_id.startswith("S01-0001")
    assert template.is_valid(first.subject_id) and template.is_valid(second.subject_id)


def test_date_offsets_stay_in_the_range_and_are_never_zero():
    store = make_store(date_offset_min_days=-1, date_offset_max_days=1)
    offsets = {store.enroll(f"patient-{n}").date_offset_days for n in range(60)}
    assert offsets == {-1, 1}


def test_existing_mappings_win_and_colliding_proposals_are_refused():
    store = make_store()
    assert store.get_or_create([PseudonymRequest("FULL_NAME", "Smith^Jo", "Doe^Al")]) == ["Doe^Al"]
    answers = store.get_or_create(
        [
            PseudonymRequest("FULL_NAME", "Smith^Jo", "Roe^Bo"),  # known: the old one wins
            PseudonymRequest("FULL_NAME", "Brown^Ann", "Doe^Al"),  # taken by Smith^Jo
            PseudonymRequest("SURNAME", "Brown", "Doe^Al"),  # another kind: free
            PseudonymRequest("TIME", "101010", "120000"),
            PseudonymRequest("TIME", "111111", "120000"),  # TIME is not identifying
        ]
    )
    assert answers == ["Doe^Al", None, "Doe^Al", "120000", "120000"]


def test_resolve_pseudonyms_reproposes_until_unique():
    store = make_store()
    names = [("FULL_NAME", f"Patient^{n}") for n in range(50)]
    proposals = iter(["Same^Name"] * 3 + [f"Other^{n}" for n in range(100)])
    resolved = resolve_pseudonyms(store, names, lambda kind: next(proposals))
    assert len(set(resolved.values())) == 50
    uid_class = get_class("UID")
    uids = resolve_pseudonyms(store, [("UID", "1.2.3")], lambda kind: uid_class.propose("UI"))
    assert resolve_pseudonyms(store, [("UID", "1.2.3")], lambda kind: "2.25.1") == uids


def test_concurrent_enrollment_gives_one_subject_per_patient():
    store = make_store()
    results: list[str] = []

    def enroll_all() -> None:
        for n in range(200):
            results.append(store.enroll(f"patient-{n % 20}").subject_id)

    threads = [threading.Thread(target=enroll_all) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 20


def test_closed_store_refuses_work():
    store = make_store()
    store.enroll("a")
    store.close()
    with pytest.raises(StoreClosedError, match="closed"):
        store.enroll("a")
    with pytest.raises(StoreClosedError, match="closed"):
        store.get_or_create([])
