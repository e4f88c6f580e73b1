import json

import pytest

from deid.contract.trial_config import ReidentificationPolicy, TrialConfigError, load_trial_config


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
