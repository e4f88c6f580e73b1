import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from deid.contract.store import PseudonymRequest
from deid.contract.subject_ids import SubjectIdTemplate
from tests.vault import factories
from tests.vault.databases import make_settings
from vault.authz import Binding
from vault.errors import ConflictError, GoneError, InvalidInputError, NotFoundError
from vault.models import Mapping, Role, Subject, Trial
from vault.runtime import VaultRuntime
from vault.services import mappings as service
from vault.services import trials as trial_service


def _get_or_create(runtime, caller, trial, items, site="S01"):
    with runtime.transaction() as session:
        return service.get_or_create(session, runtime, caller, trial.key, site, items)


def _enroll(runtime, caller, trial, patient, site="S01"):
    with runtime.transaction() as session:
        return service.enroll(session, runtime, caller, trial.key, site, patient)


def test_get_or_create_is_idempotent_and_normalized(runtime: VaultRuntime) -> None:
    trial = factories.trial(runtime)
    up = factories.uploader(runtime, trial)
    first = _get_or_create(
        runtime,
        up,
        trial,
        [
            PseudonymRequest("FULL_NAME", "DOE^JOHN", "Smith^Ann"),
            PseudonymRequest("UID", "1.2.3", "2.25.1"),
            PseudonymRequest("FULL_NAME", "DOE^JOHN", "Other^Proposal"),
        ],
    )
    assert first == ["Smith^Ann", "2.25.1", "Smith^Ann"]
    again = _get_or_create(
        runtime,
        up,
        trial,
        [
            PseudonymRequest("FULL_NAME", " Doe^John^^", "New^One"),
            PseudonymRequest("UID", "1.2.3", "2.25.2"),
            PseudonymRequest("UID", "1.2.4", "2.25.3"),
        ],
    )
    assert again == ["Smith^Ann", "2.25.1", "2.25.3"]
    with runtime.transaction() as session:
        assert service.lookup(
            session, runtime, up, trial.key, "S01", [("UID", "1.2.3"), ("UID", "9.9")]
        ) == ["2.25.1", None]


def test_batches_larger_than_one_statement(runtime: VaultRuntime) -> None:
    # More rows than one INSERT takes on SQLite (100) and than one look-up reads (400).
    trial = factories.trial(runtime)
    up = factories.uploader(runtime, trial)
    new = [PseudonymRequest("UID", f"1.3.{i}", f"2.25.{i}") for i in range(450)]
    assert _get_or_create(runtime, up, trial, new) == [f"2.25.{i}" for i in range(450)]
    again = [PseudonymRequest("UID", f"1.3.{i}", f"2.25.9{i}") for i in range(460)]
    expected = [f"2.25.{i}" for i in range(450)] + [f"2.25.9{i}" for i in range(450, 460)]
    for _ in range(2):  # inserting first, then looking up first (the batch met known ones)
        assert _get_or_create(runtime, up, trial, again) == expected
    assert _mapping_count(runtime, trial) == 460


def test_colliding_proposal_of_identifying_kind_is_refused(runtime: VaultRuntime) -> None:
    trial = factories.trial(runtime)
    up = factories.uploader(runtime, trial)
    assert _get_or_create(runtime, up, trial, [PseudonymRequest("SURNAME", "Doe", "Smith")]) == [
        "Smith"
    ]
    answers = _get_or_create(
        runtime,
        up,
        trial,
        [
            PseudonymRequest("SURNAME", "Roe", "Smith"),
            PseudonymRequest("SURNAME", "Poe", "Jones"),
            PseudonymRequest("SURNAME", "Moe", "Jones"),  # collides within the batch
            PseudonymRequest("TIME", "101010", "121212"),
            PseudonymRequest("TIME", "111111", "121212"),  # TIME is not identifying
        ],
    )
    # Within one batch, one of the two originals proposing "Jones" wins.
    assert answers[0] is None and {answers[1], answers[2]} == {"Jones", None}
    assert answers[3:] == ["121212", "121212"]


def test_bad_items_are_refused_with_a_clear_message(runtime: VaultRuntime) -> None:
    trial = factories.trial(runtime)
    up = factories.uploader(runtime, trial)
    with pytest.raises(InvalidInputError, match="not a mapping kind"):
        _get_or_create(runtime, up, trial, [PseudonymRequest("bad kind", "x", "y")])
    with pytest.raises(InvalidInputError, match="empty"):
        _get_or_create(runtime, up, trial, [PseudonymRequest("UID", " ", "y")])
    with pytest.raises(InvalidInputError, match="longer than"):
        _get_or_create(runtime, up, trial, [PseudonymRequest("UID", "1" * 20000, "y")])
    with pytest.raises(InvalidInputError, match="proposed pseudonym"):
        _get_or_create(runtime, up, trial, [PseudonymRequest("UID", "1.2", "9" * 300)])


def test_scope_is_checked_before_existence_is_revealed(runtime: VaultRuntime) -> None:
    trial = factories.trial(runtime)
    other = factories.trial(runtime)
    up = factories.uploader(runtime, trial)
    item = [PseudonymRequest("UID", "1.2", "2.25.7")]
    with pytest.raises(NotFoundError, match="trial not found"):
        _get_or_create(runtime, up, other, item)
    with pytest.raises(NotFoundError, match="site not found"):
        _get_or_create(runtime, up, trial, item, site="S02")
    requester = factories.caller(runtime, Binding(Role.REIDENTIFY_REQUESTER, trial.id))
    with pytest.raises(Exception, match="site_uploader"):
        _get_or_create(runtime, requester, trial, item)


def test_enrollment_gives_one_subject_per_patient(runtime: VaultRuntime) -> None:
    trial = factories.trial(runtime, date_offset_min_days=-10, date_offset_max_days=10)
    up1 = factories.uploader(runtime, trial, "S01")
    up2 = factories.uploader(runtime, trial, "S02")
    first = _enroll(runtime, up1, trial, "MRN-1")
    assert first.created and first.subject_id.startswith("S01-0001")
    assert -10 <= first.date_offset_days <= 10 and first.date_offset_days != 0
    assert SubjectIdTemplate.parse("{site}-{seq:4}{check}").is_valid(first.subject_id)
    same = _enroll(runtime, up2, trial, " MRN-1 ", site="S02")
    assert same.subject_id == first.subject_id and not same.created
    assert same.date_offset_days == first.date_offset_days
    second = _enroll(runtime, up1, trial, "MRN-2")
    assert second.subject_id.startswith("S01-0002")


def _other_process(runtime: VaultRuntime, key_dir: Path) -> VaultRuntime:
    """A second vault process on the same database, with caches and keys of its own."""
    url = runtime.engine.url.render_as_string(hide_password=False)
    return VaultRuntime.from_settings(make_settings(url, key_dir), engine=runtime.engine)


def _close(runtime: VaultRuntime, trial: Trial, *, destroy_keys: bool) -> None:
    with runtime.transaction() as session:
        trial_service.close_trial(
            session, runtime, factories.admin(runtime), trial.key, destroy_keys=destroy_keys
        )


def _mapping_count(runtime: VaultRuntime, trial: Trial) -> int:
    with runtime.transaction() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Mapping).where(Mapping.trial_id == trial.id)
            )
            or 0
        )


def test_closed_trial_takes_no_new_mappings(runtime: VaultRuntime, key_dir: Path) -> None:
    trial = factories.trial(runtime)
    up = factories.uploader(runtime, trial)
    known = _enroll(runtime, up, trial, "MRN-9")
    # A vault process that served this trial before another one closed it must
    # notice the close, for new and known originals alike. (Its last batch met an
    # existing mapping, so it looks the next one up first; the shredding test below
    # covers a process that inserts first.)
    for _ in range(2):
        assert _get_or_create(runtime, up, trial, [PseudonymRequest("UID", "1.4", "2.25.4")])
    _close(_other_process(runtime, key_dir), trial, destroy_keys=False)
    for with_known in (False, True):
        items = [PseudonymRequest("UID", "1.5", "2.25.5")]
        items += [PseudonymRequest("UID", "1.4", "x")] if with_known else []
        with pytest.raises(ConflictError, match="closed"):
            _get_or_create(runtime, up, trial, items)
    assert _mapping_count(runtime, trial) == 1
    with pytest.raises(ConflictError, match="closed"):
        _enroll(runtime, up, trial, "MRN-new")
    assert _enroll(runtime, up, trial, "MRN-9").subject_id == known.subject_id


def test_trial_shredded_by_another_process_is_gone(runtime: VaultRuntime, key_dir: Path) -> None:
    trial = factories.trial(runtime)
    up = factories.uploader(runtime, trial)
    assert _get_or_create(runtime, up, trial, [PseudonymRequest("UID", "1.6", "2.25.6")])
    _close(_other_process(runtime, key_dir), trial, destroy_keys=True)
    for original in ("1.7", "1.6"):  # new and known
        with pytest.raises(GoneError, match="destroyed"):
            _get_or_create(runtime, up, trial, [PseudonymRequest("UID", original, "2.25.7")])
    assert _mapping_count(runtime, trial) == 1


def test_random_subject_ids_retry_on_collision(runtime: VaultRuntime) -> None:
    # One random digit plus a check digit: ten possible IDs, so collisions are likely
    # (85% for six patients) and each must be retried with a fresh draw.
    trial = factories.trial(runtime, subject_id_template="R{rand:1}{check}")
    up = factories.uploader(runtime, trial)
    ids = {_enroll(runtime, up, trial, f"P{i}").subject_id for i in range(6)}
    assert len(ids) == 6
    template = SubjectIdTemplate.parse("R{rand:1}{check}")
    assert all(template.is_valid(i) for i in ids)


def test_concurrent_clients_get_one_mapping_per_original(runtime: VaultRuntime) -> None:
    trial = factories.trial(runtime)
    uploaders = [factories.uploader(runtime, trial, s) for s in ("S01", "S02")]
    originals = [f"UID-{i}" for i in range(40)]
    patients = [f"PAT-{i}" for i in range(8)]
    results: list[list[str | None]] = []
    enrollments: list[tuple[str, str, int]] = []
    errors: list[BaseException] = []

    def client(n: int) -> None:
        up = uploaders[n % 2]
        site = ("S01", "S02")[n % 2]
        try:
            for start in range(0, 40, 10):
                items = [
                    PseudonymRequest("ID_ALPHANUMERICAL", o, f"P{n}-{o}")
                    for o in originals[start : start + 10]
                ]
                results.append(_get_or_create(runtime, up, trial, items, site))
            for p in patients:
                e = _enroll(runtime, up, trial, p, site)
                enrollments.append((p, e.subject_id, e.date_offset_days))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    answers: dict[str, set[str | None]] = {}
    for batch_index, batch in enumerate(results):
        del batch_index
        for o, p in zip(originals, batch, strict=False):
            answers.setdefault(o, set()).add(p)
    with runtime.transaction() as session:
        count = session.scalar(
            select(func.count()).select_from(Mapping).where(Mapping.trial_id == trial.id)
        )
        subjects = session.scalar(
            select(func.count()).select_from(Subject).where(Subject.trial_id == trial.id)
        )
    assert count == 40
    assert subjects == len(patients)
    per_patient = Counter((p, s, o) for p, s, o in enrollments)
    assert len({p for p, _, _ in per_patient}) == len(patients) == len(per_patient)
