"""A tiny run of the benchmark code: it measures and reports (no timing asserts)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.run import main


def test_benchmark_measures_floor_and_workers(tmp_path: Path) -> None:
    results = tmp_path / "results"
    argv = ["--files", "8", "--patients", "1", "--rows", "16", "--cols", "16"]
    argv += ["--workers", "1,2", "--store", "anonymize", "--repeat", "1"]
    argv += ["--work-dir", str(tmp_path / "work")]
    assert main([*argv, "--results", str(results)]) == 0
    (path,) = results.glob("bench-*.json")
    result = json.loads(path.read_text())
    assert result["corpus"]["files"] == 8
    assert result["floor"]["files"] == 8 and result["floor"]["files_per_second"] > 0
    assert [run["workers"] for run in result["runs"]] == [1, 2]
    for run in result["runs"]:
        assert run["summary"]["written"] == 8 and run["exit"] == 0
        assert run["ratio_to_floor"] > 0 and run["peak_rss_mb"] > 0
    assert result["runs"][1]["speedup"] is not None
