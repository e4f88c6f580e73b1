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


def test_the_benchmark_times_whole_processes_and_states_its_targets(tmp_path: Path) -> None:
    results = tmp_path / "results"
    argv = ["--files", "4", "--patients", "1", "--rows", "16", "--cols", "16"]
    argv += ["--workers", "1,2", "--repeat", "1", "--work-dir", str(tmp_path / "work")]
    assert main([*argv, "--results", str(results)]) == 0  # the embedded store
    (path,) = results.glob("bench-*.json")
    result = json.loads(path.read_text())
    assert result["measured"].startswith("whole processes")
    version = result["version_seconds"]
    assert 0 < version["fastest"] <= version["median"] and len(version["runs"]) > 1
    targets = result["targets"]
    assert set(targets) == {"one_worker_x_floor", "two_workers_x_one", "version_fastest_seconds"}
    assert targets["one_worker_x_floor"] == result["runs"][0]["ratio_to_floor"]
    # A whole process: its start-up counts, so even four tiny files take a while.
    assert result["floor"]["seconds"] > 0.05 and result["runs"][0]["cpu_seconds"] > 0.1
