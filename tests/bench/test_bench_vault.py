"""A tiny run of ``python -m bench --store vault``: both stores measured, ratios reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.run import main

pytestmark = pytest.mark.e2e


def test_benchmark_puts_the_served_vault_next_to_the_embedded_store(tmp_path: Path) -> None:
    results = tmp_path / "results"
    argv = ["--files", "4", "--patients", "1", "--rows", "16", "--cols", "16"]
    argv += ["--workers", "1", "--store", "vault", "--repeat", "1"]
    argv += ["--work-dir", str(tmp_path / "work"), "--results", str(results)]
    assert main(argv) == 0
    (path,) = results.glob("bench-*.json")
    result = json.loads(path.read_text())
    assert result["store"] == "vault"
    (embedded,) = result["runs"]
    (served,) = result["vault_runs"]
    for run in (embedded, served):
        assert run["summary"]["written"] == 4 and run["exit"] == 0
    assert served["embedded_files_per_second"] == embedded["files_per_second"]
    # Each vault run is paired with an embedded run just before it; the ratio is
    # the median of those pairs' (one round here: that pair's).
    (paired,) = served["ratio_to_embedded_by_round"]
    assert served["ratio_to_embedded"] == pytest.approx(paired)
    assert 0 < paired < 10
    # The served vault's work folder holds its database and a mode-600 token file.
    token = tmp_path / "work" / "served-vault" / "token-1"
    assert token.stat().st_mode & 0o077 == 0
