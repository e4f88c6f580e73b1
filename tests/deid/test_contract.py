"""The contract: light enough for either side to import alone, and the one source of its facts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from deid.contract.errors import DeidError
from deid.contract.kinds import PSEUDONYM_KINDS, UID_KIND, Derivation, is_identifying
from deid.contract.limits import MAX_BATCH_ITEMS, MAX_ORIGINAL_LENGTH
from deid.contract.purposes import PURPOSES, Purpose
from deid.pseudo import PSEUDO_CLASSES

CONTRACT_MODULES = (
    "deid.contract.errors",
    "deid.contract.kinds",
    "deid.contract.limits",
    "deid.contract.purposes",
    "deid.contract.reidentification",
    "deid.contract.store",
    "deid.contract.subject_ids",
    "deid.contract.trial_config",
)
HEAVY = ("pydicom", "faker", "httpx", "sqlalchemy", "numpy", "fastapi", "vault")


def test_the_contract_imports_nothing_heavy() -> None:
    """In a fresh interpreter: every contract module, and none of what either side carries."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {CONTRACT_MODULES!r}: importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


def test_every_pseudo_class_is_a_contract_kind_and_proposes_when_it_should() -> None:
    assert PSEUDO_CLASSES.keys() == PSEUDONYM_KINDS.keys()
    for name, pseudo_class in PSEUDO_CLASSES.items():
        kind = PSEUDONYM_KINDS[name]
        assert (pseudo_class.identifying, pseudo_class.vrs) == (kind.identifying, kind.vrs)
        if kind.derivation is Derivation.PROPOSED:
            assert pseudo_class.propose(sorted(kind.vrs)[0])
        else:
            with pytest.raises(ValueError, match="derived from the enrollment"):
                pseudo_class.propose(sorted(kind.vrs)[0])


def test_unknown_kinds_count_as_identifying() -> None:
    assert is_identifying(UID_KIND)
    assert is_identifying("FULL_NAME")
    assert not is_identifying("DATE")
    assert is_identifying("NOT_A_KIND")  # the safe side


def test_purposes_are_one_list() -> None:
    assert tuple(p.value for p in Purpose) == PURPOSES
    assert "incidental_finding" in PURPOSES


def test_the_vault_enforces_the_contracts_limits() -> None:
    from vault.api.schemas import MAX_ITEMS
    from vault.config import Settings
    from vault.runtime import Limits

    assert Limits() == Limits(MAX_BATCH_ITEMS, MAX_ORIGINAL_LENGTH)
    assert Settings.model_fields["max_value_length"].default == MAX_ORIGINAL_LENGTH
    assert Settings.model_fields["max_batch_items"].default == MAX_BATCH_ITEMS
    assert MAX_ITEMS == MAX_BATCH_ITEMS


def test_contract_errors_derive_from_the_one_base() -> None:
    from deid.contract.subject_ids import SubjectIdTemplateError
    from deid.contract.trial_config import TrialConfigError

    for error in (SubjectIdTemplateError, TrialConfigError):
        assert issubclass(error, DeidError)
        assert issubclass(error, ValueError)  # what pydantic validators and callers expect
