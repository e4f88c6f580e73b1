"""The trial configuration page and its example files against the real model and loader."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from deid.contract.trial_config import TrialConfig, TrialConfigError, load_trial_config

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGE = DOCS / "trial-config.md"
EXAMPLES = sorted((DOCS / "examples").glob("onco42.*"))


def _key_rows() -> dict[str, list[str]]:
    """The rows of the page's key table: key -> cells."""
    text = PAGE.read_text(encoding="utf-8")
    table = text.split("## Keys", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        match = re.fullmatch(r"`(\w+)`", cells[0]) if cells else None
        if match:
            rows[match[1]] = cells
    return rows


def test_the_page_lists_exactly_the_models_keys() -> None:
    assert list(_key_rows()) == list(TrialConfig.model_fields)


def test_the_documented_defaults_are_the_models() -> None:
    for key, cells in _key_rows().items():
        field = TrialConfig.model_fields[key]
        if field.is_required():
            assert not cells[2].startswith("`"), key
            continue
        default = field.get_default(call_default_factory=True)
        documented = tomllib.loads(f"value = {cells[2].strip('`')}")["value"]
        assert documented == getattr(default, "value", default), key


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_the_examples_load_and_set_every_key(example: Path) -> None:
    config = load_trial_config(example, key="ONCO-42")
    assert config.model_fields_set == set(TrialConfig.model_fields)
    assert config.sponsor_name != TrialConfig.model_fields["sponsor_name"].default
    assert set(config.sites) == {"07", "12"}


def test_the_toml_and_json_examples_say_the_same() -> None:
    assert [path.suffix for path in EXAMPLES] == [".json", ".toml"]
    toml, json_ = (load_trial_config(path) for path in reversed(EXAMPLES))
    assert toml == json_
    assert json.loads(EXAMPLES[0].read_text(encoding="utf-8"))["key"] == toml.key


def test_a_setting_below_the_sites_table_is_refused(tmp_path: Path) -> None:
    """The pitfall the page warns about (a setting below [sites] read as a site, the
    sponsor left at its placeholder) is refused, naming the key."""
    misplaced = tmp_path / "trial.toml"
    misplaced.write_text('[sites]\n"07" = "Toronto"\nsponsor_name = "Northwind"\n')
    with pytest.raises(TrialConfigError, match="'sponsor_name' is a setting, not a site ID"):
        load_trial_config(misplaced, key="ONCO-42")
