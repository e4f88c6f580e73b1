import json
import pickle

import pytest

from deid.contract.trial_config import (
    ReidentificationPolicy,
    TrialConfig,
    TrialConfigError,
    TrialSettingsDifferError,
    load_trial_config,
)


def test_toml_config_fills_in_the_key(tmp_path):
    path = tmp_path / "trial.toml"
    path.write_text(
        'sponsor_name = "Acme Oncology"\n'
        'subject_id_template = "{site}-{rand:6}{check}"\n'
        'reidentification_policy = "immediate"\n'
        '[sites]\nS01 = "Halifax Infirmary"\n'
    )
    config = load_trial_config(path, key="ONC-7")
    assert config.key == "ONC-7"
    assert config.effective_protocol_id == "ONC-7"
    assert config.reidentification_policy is ReidentificationPolicy.IMMEDIATE
    assert config.site_name("S01") == "Halifax Infirmary"
    assert config.site_name("S02") == "S02"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"sponsr_name": "typo"}, "sponsr_name: Extra inputs are not permitted"),
        ({"subject_id_template": "{site}"}, "no {seq:N} or {rand:N}"),
        ({"date_offset_min_days": 5, "date_offset_max_days": 1}, "must not exceed"),
        ({"key": "OTHER"}, "is for trial 'OTHER', not 'ONC-7'"),
        ({"sites": {"bad id!": "x"}}, "site ID 'bad id!'"),
    ],
)
def test_bad_configs_are_explained(tmp_path, content, message):
    path = tmp_path / "trial.json"
    path.write_text(json.dumps(content))
    with pytest.raises(TrialConfigError, match=message.replace("{", r"\{").replace("}", r"\}")):
        load_trial_config(path, key="ONC-7")


def test_unparsable_file_is_explained(tmp_path):
    path = tmp_path / "trial.json"
    path.write_text("{not json")
    with pytest.raises(TrialConfigError, match="is not valid"):
        load_trial_config(path, key="ONC-7")


def test_differences_name_only_what_the_file_sets(tmp_path):
    path = tmp_path / "onco42.toml"
    path.write_text(
        'sponsor_name = "Onco Pharma"\nprotocol_id = "ONC-7"\n[sites]\n"07" = "Toronto"\n'
        '"12" = "Lyon"\n'
    )
    given = load_trial_config(path, key="ONC-7")
    stored = TrialConfig(key="ONC-7", date_offset_min_days=-100)  # the file says nothing of it
    # protocol_id ONC-7 is what the stored default (the key) amounts to; site 12 is new.
    assert given.differences(stored, {"07": "07"}) == [
        "sponsor_name (the store has 'UNSPECIFIED SPONSOR', the file 'Onco Pharma')",
        "sites.07 (the store has '07', the file 'Toronto')",
    ]
    same = TrialConfig(key="ONC-7", sponsor_name="Onco Pharma")
    assert given.differences(same, {"07": "Toronto"}) == []
    policy = TrialConfig.model_validate({"key": "ONC-7", "reidentification_policy": "immediate"})
    assert policy.differences(stored, {}) == [
        "reidentification_policy (the store has 'approval', the file 'immediate')"
    ]


def test_the_settings_error_crosses_processes_whole():
    error = TrialSettingsDifferError("trial T differs: sponsor_name", ["sponsor_name (...)"])
    again = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert (str(again), again.differences) == (str(error), error.differences)
    assert again.exit_status == 2


def test_a_setting_written_below_the_sites_table_is_refused(tmp_path):
    """In TOML it belongs to [sites]: it was taken for a site, and the sponsor stayed at its
    placeholder default in every file."""
    path = tmp_path / "onco42.toml"
    path.write_text('[sites]\n"07" = "Toronto"\nsponsor_name = "Onco Pharma"\n')
    with pytest.raises(TrialConfigError, match=r"'sponsor_name' is a setting, not a site ID"):
        load_trial_config(path, key="ONCO-42")
