"""Changing a trial's settings after creation: what may change, when, by whom, on record."""

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from deid.contract.store import PseudonymRequest
from deid.contract.subject_ids import DEFAULT_TEMPLATE
from tests.vault import factories
from tests.vault.api_world import World, make_world
from vault.authz import Binding, Caller
from vault.errors import ConflictError, ForbiddenError, GoneError, InvalidInputError, NotFoundError
from vault.models import AuditRecord, Role, Trial
from vault.runtime import VaultRuntime
from vault.services import mappings as mapping_service
from vault.services import trials as trial_service
from vault.services.trials import FIXED_ONCE_IN_USE, TrialChange


def _change(runtime: VaultRuntime, caller: Caller, trial: str, **changes: Any) -> TrialChange:
    with runtime.transaction() as session:
        return trial_service.change_trial(session, runtime, caller, trial, changes)


def _updates(runtime: VaultRuntime, trial: str) -> list[AuditRecord]:
    with runtime.transaction() as session:
        return list(
            session.scalars(
                select(AuditRecord)
                .where(AuditRecord.trial_key == trial, AuditRecord.action == "trial.update")
                .order_by(AuditRecord.seq)
            )
        )


def _in_use(runtime: VaultRuntime, trial: Trial) -> Caller:
    """Enroll a patient and map a name, as a site would: the trial now holds data."""
    uploader = factories.uploader(runtime, trial)
    with runtime.transaction() as session:
        mapping_service.enroll(session, runtime, uploader, trial.key, "S01", "MRN-7")
        mapping_service.get_or_create(
            session,
            runtime,
            uploader,
            trial.key,
            "S01",
            [PseudonymRequest("FULL_NAME", "DOE^JANE", "ROE^ANN")],
        )
    return uploader


def test_names_and_policy_change_at_any_time_and_sites_receive_them(
    runtime: VaultRuntime,
) -> None:
    trial = factories.trial(runtime, sponsor_name="UNSPECIFIED SPONSOR")
    uploader = _in_use(runtime, trial)
    admin = factories.admin(runtime)
    with runtime.transaction() as session:
        before = trial_service.site_trial_info(session, uploader, trial.key, "S01")
    assert before.sponsor_name == "UNSPECIFIED SPONSOR" and before.site_name == "Site S01"

    change = _change(
        runtime,
        admin,
        trial.key,
        sponsor_name="Acme Oncology",
        protocol_name="Onco 42 Phase II",
        reidentification_policy="immediate",
        bulk_reidentification_limit="3",  # as typed into a form: checked and converted
        grant_ttl_hours=48,
        sites={"S01": "Halifax Infirmary", "S02": "Site S02", "S03": "Moncton"},
    )
    assert change.settings == {
        "sponsor_name": ("UNSPECIFIED SPONSOR", "Acme Oncology"),
        "protocol_name": ("", "Onco 42 Phase II"),
        "reidentification_policy": ("approval", "immediate"),
        "bulk_reidentification_limit": (10, 3),
        "grant_ttl_hours": (24, 48),
    }
    assert change.renamed_sites == {"S01": ("Site S01", "Halifax Infirmary")}
    assert change.added_sites == {"S03": "Moncton"}
    assert change.summary()[-2:] == ["site S01 renamed", "site S03 added"]

    with runtime.transaction() as session:
        info = trial_service.site_trial_info(session, uploader, trial.key, "S01")
        config = trial_service.trial_config(trial_service.get_trial(session, admin, trial.key))
        sites = {s.site_key: s.name for s in trial_service.list_sites(session, change.trial)}
    assert (info.sponsor_name, info.protocol_name, info.site_name) == (
        "Acme Oncology",
        "Onco 42 Phase II",
        "Halifax Infirmary",
    )
    assert info.protocol_id == before.protocol_id == trial.key
    assert config.reidentification_policy.value == "immediate"
    assert (config.bulk_reidentification_limit, config.grant_ttl_hours) == (3, 48)
    assert config.subject_id_template == DEFAULT_TEMPLATE
    assert sites == {"S01": "Halifax Infirmary", "S02": "Site S02", "S03": "Moncton"}
    # The patient keeps the subject, and the name its pseudonym.
    with runtime.transaction() as session:
        again = mapping_service.enroll(session, runtime, uploader, trial.key, "S01", "MRN-7")
        name = mapping_service.lookup(
            session, runtime, uploader, trial.key, "S01", [("FULL_NAME", "DOE^JANE")]
        )
    assert not again.created and name == ["ROE^ANN"]

    (record,) = _updates(runtime, trial.key)
    assert record.principal_id == admin.principal_id and record.outcome == "success"
    assert record.details == {
        "settings": {k: list(v) for k, v in change.settings.items()},
        "renamed_sites": {"S01": ["Site S01", "Halifax Infirmary"]},
        "added_sites": {"S03": "Moncton"},
    }


def test_settings_that_shaped_issued_data_are_fixed_once_the_trial_holds_data(
    runtime: VaultRuntime,
) -> None:
    trial = factories.trial(runtime)
    admin = factories.admin(runtime)
    _in_use(runtime, trial)
    for setting, value in [
        ("protocol_id", "ONCO-42"),
        ("subject_id_template", "{site}-{seq:6}"),
        ("date_offset_min_days", -3650),
        ("date_offset_max_days", -1),
    ]:
        with pytest.raises(ConflictError, match="already has enrolled subjects") as refused:
            _change(runtime, admin, trial.key, sponsor_name="Changed Too", **{setting: value})
        assert setting in refused.value.message
        assert FIXED_ONCE_IN_USE[setting] in refused.value.message
    # Nothing of a refused change was kept.
    with runtime.transaction() as session:
        kept = trial_service.get_trial(session, admin, trial.key)
        assert kept.sponsor_name == "UNSPECIFIED SPONSOR" and kept.protocol_id == trial.key
        assert trial_service.fixed_settings(session, kept) == FIXED_ONCE_IN_USE
    assert _updates(runtime, trial.key) == []
    # Naming a fixed setting with the value it has in effect changes nothing, so it passes.
    change = _change(runtime, admin, trial.key, protocol_id=trial.key, date_offset_max_days=-30)
    assert change.settings == {"protocol_id": ("", trial.key)}


def test_before_any_data_every_setting_but_the_key_may_change(runtime: VaultRuntime) -> None:
    trial = factories.trial(runtime)
    admin = factories.admin(runtime)
    with runtime.transaction() as session:
        assert trial_service.fixed_settings(session, trial) == {}
    change = _change(
        runtime,
        admin,
        trial.key,
        key=trial.key,  # the key it has: no change
        protocol_id="ONCO-42",
        subject_id_template="{site}-{seq:6}",
        date_offset_min_days=-90,
        date_offset_max_days=-10,
    )
    assert set(change.settings) == {
        "protocol_id",
        "subject_id_template",
        "date_offset_min_days",
        "date_offset_max_days",
    }
    uploader = factories.uploader(runtime, trial)
    with runtime.transaction() as session:
        info = trial_service.site_trial_info(session, uploader, trial.key, "S01")
        enrolled = mapping_service.enroll(session, runtime, uploader, trial.key, "S01", "MRN-1")
    assert info.protocol_id == "ONCO-42"
    assert enrolled.subject_id == "S01-000001" and -90 <= enrolled.date_offset_days <= -10
    with pytest.raises(InvalidInputError, match="key cannot change"):
        _change(runtime, admin, trial.key, key="RENAMED")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sponsor_name": ""}, "sponsor_name: String should have at least 1 character"),
        ({"protocol_name": "x" * 65}, "protocol_name: String should have at most 64"),
        ({"subject_id_template": "{site}"}, "no {seq:N} or {rand:N}"),
        ({"date_offset_min_days": 5, "date_offset_max_days": 1}, "must not exceed"),
        ({"grant_ttl_hours": "soon"}, "grant_ttl_hours: Input should be a valid integer"),
        ({"reidentification_policy": "never"}, "reidentification_policy: Input should be"),
        ({"sites": {"bad id!": "x"}}, "site ID 'bad id!'"),
        ({"sites": {"S01": ""}}, "site S01: the name must be 1 to 64 characters"),
        ({"sponsr_name": "typo"}, "sponsr_name: Extra inputs are not permitted"),
    ],
)
def test_bad_values_are_refused_with_what_is_wrong(
    runtime: VaultRuntime, changes: dict[str, Any], message: str
) -> None:
    trial = factories.trial(runtime)
    with pytest.raises(InvalidInputError) as refused:
        _change(runtime, factories.admin(runtime), trial.key, **changes)
    assert message in refused.value.message
    assert refused.value.message.startswith("the trial's settings cannot change so")


def test_only_admins_change_a_trial_and_outsiders_cannot_tell_it_exists(
    runtime: VaultRuntime,
) -> None:
    trial = factories.trial(runtime)
    member = factories.caller(runtime, Binding(Role.APPROVER, trial.id))
    outsider = factories.caller(runtime, Binding(Role.APPROVER, factories.trial(runtime).id))
    with pytest.raises(ForbiddenError, match="admin role"):
        _change(runtime, member, trial.key, sponsor_name="Mine Now")
    for key in (trial.key, "NO-SUCH-TRIAL"):
        with pytest.raises(NotFoundError, match="trial not found"):
            _change(runtime, outsider, key, sponsor_name="Mine Now")
    with pytest.raises(NotFoundError):
        _change(runtime, factories.admin(runtime), "NO-SUCH-TRIAL", sponsor_name="X")
    assert _updates(runtime, trial.key) == []


def test_closed_and_shredded_trials_keep_their_settings(runtime: VaultRuntime) -> None:
    admin = factories.admin(runtime)
    for destroy_keys, error, message in [
        (False, ConflictError, "is closed; its settings no longer change"),
        (True, GoneError, "keys destroyed"),
    ]:
        trial = factories.trial(runtime)
        with runtime.transaction() as session:
            trial_service.close_trial(session, runtime, admin, trial.key, destroy_keys=destroy_keys)
        with pytest.raises(error, match=message):
            _change(runtime, admin, trial.key, sponsor_name="Too Late")


def test_a_change_that_changes_nothing_is_not_recorded(runtime: VaultRuntime) -> None:
    trial = factories.trial(runtime, sponsor_name="Acme")
    change = _change(
        runtime, factories.admin(runtime), trial.key, sponsor_name="Acme", sites={"S01": "Site S01"}
    )
    assert not change and change.summary() == []
    assert _updates(runtime, trial.key) == []


# Through the HTTP API.


@pytest.fixture(scope="module")
def world(runtime: VaultRuntime) -> Iterator[World]:
    yield make_world(runtime)


def test_the_api_changes_settings_and_sites_see_them(world: World) -> None:
    path = f"/v1/trials/{world.trial}"
    changed = world.ok(
        "admin",
        "PATCH",
        path,
        {"sponsor_name": "Acme Oncology", "sites": {"S02": "Moncton", "S09": "Saint John"}},
    )
    assert changed["sponsor_name"] == "Acme Oncology"
    assert {s["site_id"]: s["name"] for s in changed["sites"]} == {
        "S01": "One",
        "S02": "Moncton",
        "S09": "Saint John",
    }
    assert changed["settings"]["sponsor_name"] == "Acme Oncology"
    info = world.ok("uploader", "GET", f"{path}/sites/S01/info")
    assert info["sponsor_name"] == "Acme Oncology" and info["site_name"] == "One"
    assert world.ok("uploader_s02", "GET", f"{path}/sites/S02/info")["site_name"] == "Moncton"
    records = world.ok(
        "auditor", "GET", f"/v1/audit/records?action=trial.update&trial={world.trial}"
    )
    assert records["records"][-1]["details"]["added_sites"] == {"S09": "Saint John"}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"key": "RENAMED"}, 422, "key: Extra inputs are not permitted"),
        ({"grant_ttl_hours": 0}, 422, "grant_ttl_hours: Input should be greater than"),
        ({"reidentification_policy": "never"}, 422, "reidentification_policy"),
        ({"sites": {"S01": "x" * 65}}, 422, "the name must be 1 to 64 characters"),
    ],
)
def test_the_api_refuses_bad_changes_clearly(
    world: World, body: dict[str, Any], status: int, message: str
) -> None:
    response = world.call("admin", "PATCH", f"/v1/trials/{world.trial}", body)
    assert response.status_code == status, response.text
    assert message in response.json()["message"]


def test_the_api_refuses_fixed_settings_once_the_trial_holds_data(world: World) -> None:
    world.ok(
        "uploader",
        "POST",
        f"/v1/trials/{world.trial}/sites/S01/enroll",
        {"patient_key": "MRN-API-1"},
    )
    response = world.call(
        "admin", "PATCH", f"/v1/trials/{world.trial}", {"subject_id_template": "{site}-{seq:6}"}
    )
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert "subject IDs already issued" in response.json()["message"]


def test_the_change_is_documented_in_openapi(world: World) -> None:
    spec = world.client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/trials/{trial}"]["patch"]
    assert {"200", "403", "404", "409", "422"} <= set(operation["responses"])
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][body.rsplit("/", 1)[1]]
    assert "sponsor_name" in schema["properties"] and "key" not in schema["properties"]
    assert "fixed once the trial" in schema["description"]
