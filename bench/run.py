"""``python -m bench``: corpus, floor, ``deid run`` on 1..N workers, ``deid --version``.

Every figure is relative to a floor measured in the same run on the same files, so
results from different machines compare as ratios. Every measurement is a whole
process, timed from its start to its end (:mod:`bench.measure`): the floor is
pydicom reading and writing the files (:mod:`bench.floor`), the run is the ``deid``
command, start-up, workers and store included. A second floor also waits until its
files are on disk, as ``deid run`` does before its outputs go into place: the
share of a run's time that durability costs on this machine.

Targets (issue 10): one worker at least 0.8 of the floor; two workers at least 1.4
times one worker; ``deid --version`` under 0.3 s.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import cProfile
import importlib.util
import io
import json
import math
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deid.corpus import TRANSFER_SYNTAXES, generate_corpus

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parent.parent
ONE_WORKER_TARGET = 0.8
"""One worker's rate over the floor's, whole processes."""
TWO_WORKERS_TARGET = 1.4
"""Two workers' rate over one worker's."""
VERSION_TARGET_SECONDS = 0.3
"""``deid --version``, whole process."""
VERSION_RUNS = 11


def _workers(text: str) -> list[int]:
    counts = sorted({int(part) for part in text.split(",") if part.strip()})
    if not counts or counts[0] < 1:
        raise argparse.ArgumentTypeError("a comma-separated list of worker counts >= 1")
    return counts


def _parser() -> argparse.ArgumentParser:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--files", type=int, default=1000, help="CT files (default 1000)")
    parser.add_argument("--patients", type=int, default=10)
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--cols", type=int, default=256)
    parser.add_argument(
        "--workers",
        type=_workers,
        default=list(range(1, cores + 1)),
        help=f"worker counts to measure (default 1..{cores}, this machine's cores)",
    )
    parser.add_argument(
        "--transfer-syntax",
        choices=sorted(TRANSFER_SYNTAXES),
        default="explicit-le",
        help="of the generated files (default explicit-le, what PACS exports most)",
    )
    parser.add_argument(
        "--store",
        choices=("embedded", "anonymize", "vault"),
        default="embedded" if importlib.util.find_spec("vault.embedded") else "anonymize",
        help="the embedded vault (the default where installed), the run-scoped store "
        "of --anonymize, or vault: the embedded store and then a vault served by uvicorn "
        "on loopback, with the ratio of their rates",
    )
    parser.add_argument(
        "--vault-server-workers",
        type=int,
        default=1,
        help="uvicorn worker processes of the served vault (--store vault; default 1)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="measure each configuration this many times and keep the fastest (default 5): "
        "other programs on the machine only ever make a run slower",
    )
    parser.add_argument("--work-dir", type=Path, help="keep corpus and outputs here")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile one worker's pipeline with cProfile (in this process) and "
        "write its hot spots",
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON goes")
    return parser


def _measure(
    kind: str, corpus: Path, out: Path, extra: list[str], fresh: tuple[Path, ...] = ()
) -> dict[str, Any]:
    """One measurement, in a process of its own, from a clean slate."""
    root = ROOT
    command = [sys.executable, "-m", "bench.measure", kind, str(corpus), str(out), "--", *extra]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    # A leftover output (an earlier benchmark in the same --work-dir) would be
    # resumed, not redone; a leftover vault reused.
    for leftover in (*out.parent.glob(f"{out.name}*"), *fresh):
        if leftover.is_dir():
            shutil.rmtree(leftover)
        elif leftover.exists():
            leftover.unlink()
    # What the last measurement wrote goes to disk now, not during this one (deid
    # run syncs its outputs, and a file system sync writes back everything dirty).
    os.sync()
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=root, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} measurement failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _interleaved(
    corpus: Path, work: Path, store: str, workers: list[int], repeat: int
) -> dict[str, dict[str, Any]]:
    """The floor and every worker count, measured in turns ``repeat`` times; the fastest
    of each. In turns, so that a slower spell of the machine (another program, the
    disk writing back) costs the floor and the runs alike, not whichever ran then;
    each round starts one further along.

    Every measurement writes into folders of its own, removed only after the last:
    deleting the last measurement's thousand files just before the next one costs
    that one the file system's freeing of them (on the development VM, whose disk is
    mounted with ``discard``, system time grew by half from run to run), and most
    the run that syncs its outputs.
    """

    def config(name: str, round_number: int) -> tuple[str, Path, list[str], tuple[Path, ...]]:
        folder = work / f"round-{round_number}"
        if name.startswith("floor"):
            return name, folder / name, [], ()
        count = int(name.split("-")[1])
        vault = folder / f"vault-{count}"
        return "run", folder / f"out-{count}", _run_arguments(store, vault, count), (vault,)

    names = ["floor", "floor-synced", *(f"run-{count}" for count in workers)]
    best: dict[str, dict[str, Any]] = {}
    seconds: dict[str, list[float]] = {name: [] for name in names}
    try:
        for round_number in range(repeat):
            # Each round starts with the next configuration: none is always the first
            # (or the last) after the machine has rested.
            turn = round_number % len(names)
            for name in names[turn:] + names[:turn]:
                kind, out, extra, fresh = config(name, round_number)
                result = _measure(kind, corpus, out, extra, fresh)
                seconds[name].append(result["seconds"])
                if name not in best or result["seconds"] < best[name]["seconds"]:
                    best[name] = result
    finally:
        for round_number in range(repeat):
            shutil.rmtree(work / f"round-{round_number}", ignore_errors=True)
    for name, result in best.items():
        result["repeats"] = repeat
        result["seconds_by_round"] = seconds[name]
    return best


def _run_arguments(store: str, vault: Path, workers: int) -> list[str]:
    common = ["--profile", "basic", "--workers", str(workers), "--trial", "BENCH", "--site", "01"]
    if store == "anonymize":
        return [*common, "--anonymize"]
    return [*common, "--store", str(vault / "vault.sqlite")]


def _compile_bytecode() -> None:
    """Compile deid and the vault as an installation does: a whole process then starts
    the way it does for a user (an editable install, or an environment that writes
    no bytecode, would otherwise compile every module at every start)."""
    for package in ("deid", "vault", "bench"):
        compileall.compile_dir(ROOT / package, quiet=1)


def _version_seconds() -> dict[str, Any]:
    """``deid --version``, whole processes: the fastest and the median of a few."""
    from bench.measure import deid_command

    seconds = []
    for _ in range(VERSION_RUNS):
        started = time.perf_counter()
        subprocess.run([*deid_command(), "--version"], capture_output=True, check=True)
        seconds.append(time.perf_counter() - started)
    return {"fastest": min(seconds), "median": statistics.median(seconds), "runs": seconds}


def _profile_one_worker(corpus: Path, work: Path, store: str) -> str:
    """A cProfile of one worker's pipeline over the corpus, in this process (a run's
    workers are processes of their own), its store served as a run serves it."""
    from deid.run.batch import open_store
    from deid.run.chunks import ChunkWorker, Task, chunk_results, chunks_of
    from deid.run.config import BatchConfig
    from deid.run.settings import RuleSettings
    from deid.store.factory import StoreSpec
    from deid.writing import input_files, input_id

    shutil.rmtree(work / "profiled", ignore_errors=True)
    spec = StoreSpec("BENCH", "01", store_path=work / "profiled" / "vault" / "vault.sqlite")
    config = BatchConfig(
        input_root=corpus,
        output_root=work / "profiled" / "out",
        quarantine_root=work / "profiled" / "quarantine",
        rules=RuleSettings(),
        store=spec,
        anonymize=store == "anonymize",
        salt=b"profiled",
    )
    profiler = cProfile.Profile()
    with contextlib.ExitStack() as stack:
        config = open_store(config, stack)
        tasks = [
            Task(index, str(path), relative, input_id(relative, config.salt))
            for index, (path, relative) in enumerate(input_files(corpus))
        ]
        worker = ChunkWorker(config)
        profiler.enable()
        for _ in chunk_results(worker, chunks_of(tasks, 1)):
            pass
        profiler.disable()
        worker.close()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(40)
    return text.getvalue()


def _targets(runs: list[dict[str, Any]], version: dict[str, Any]) -> dict[str, Any]:
    """Each target, met or not, and the lines that say so."""
    by_workers = {r["workers"]: r for r in runs}
    found: dict[str, Any] = {"lines": []}
    if 1 in by_workers:
        ratio = by_workers[1]["ratio_to_floor"]
        found["one_worker_x_floor"] = ratio
        met = ratio >= ONE_WORKER_TARGET
        found["lines"].append(
            f"one worker: {ratio:.2f} x floor ({'meets' if met else 'misses'} the target "
            f"of {ONE_WORKER_TARGET})"
        )
    if 1 in by_workers and 2 in by_workers:
        speedup = by_workers[2]["speedup"]
        found["two_workers_x_one"] = speedup
        met = speedup >= TWO_WORKERS_TARGET
        found["lines"].append(
            f"two workers: {speedup:.2f} x one worker ({'meets' if met else 'misses'} the "
            f"target of {TWO_WORKERS_TARGET})"
        )
    met = version["fastest"] < VERSION_TARGET_SECONDS
    found["version_fastest_seconds"] = version["fastest"]
    found["lines"].append(
        f"deid --version: {version['fastest']:.3f} s ({'meets' if met else 'misses'} the "
        f"target of {VERSION_TARGET_SECONDS} s)"
    )
    return found


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print a table; write the JSON result."""
    args = _parser().parse_args(argv)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="deid-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "corpus"
    per_patient = 2 * 2  # studies x series
    instances = max(1, math.ceil(args.files / (args.patients * per_patient)))
    try:
        _compile_bytecode()
        version = _version_seconds()
        print(
            f"deid --version: {version['fastest']:.3f} s fastest, {version['median']:.3f} s "
            f"median of {VERSION_RUNS} (target < {VERSION_TARGET_SECONDS} s)"
        )
        started = time.perf_counter()
        manifest = generate_corpus(
            corpus,
            patients=args.patients,
            studies_per_patient=2,
            series_per_study=2,
            instances_per_series=instances,
            rows=args.rows,
            cols=args.cols,
            transfer_syntaxes=[TRANSFER_SYNTAXES[args.transfer_syntax]],
            include_documents=False,
        )
        generation = time.perf_counter() - started
        files = len(manifest.files)
        print(f"corpus: {files} CT files of {args.rows}x{args.cols} in {generation:.1f} s")

        store = "embedded" if args.store == "vault" else args.store
        best = _interleaved(corpus, work, store, args.workers, args.repeat)
        floor = best.pop("floor")
        floor_rate = floor["files"] / floor["seconds"]
        floor["cpu_ms_per_file"] = 1000 * floor["cpu_seconds"] / floor["files"]
        print(
            f"floor (pydicom read + write, 1 process): {floor_rate:8.1f} files/s, "
            f"{floor['cpu_ms_per_file']:.2f} CPU ms/file"
        )
        synced = best.pop("floor-synced")
        synced_rate = synced["files"] / synced["seconds"]
        print(
            f"the same, then waiting until its files are on disk (as deid run does): "
            f"{synced_rate:8.1f} files/s"
        )

        runs = []
        for count in args.workers:
            result = best[f"run-{count}"]
            rate = result["files"] / result["seconds"]
            cpu = 1000 * result["cpu_seconds"] / result["files"]
            runs.append(
                {"workers": count, "files_per_second": rate, "cpu_ms_per_file": cpu, **result}
            )
        one = next((r["files_per_second"] for r in runs if r["workers"] == 1), None)
        print(f"{'workers':>7}  {'files/s':>8}  {'x floor':>7}  {'x synced':>8}  {'speed-up':>8}  "
              f"{'CPU ms/file':>11}  {'peak RSS MB':>11}  quarantined")  # fmt: skip
        for r in runs:
            r["ratio_to_floor"] = r["files_per_second"] / floor_rate
            r["ratio_to_synced_floor"] = r["files_per_second"] / synced_rate
            # The floor's time over the run's, round by round: what a drifting machine
            # (this VM's disk, mostly) moves least.
            r["ratio_to_floor_by_round"] = [
                f / s for f, s in zip(floor["seconds_by_round"], r["seconds_by_round"], strict=True)
            ]
            r["speedup"] = r["files_per_second"] / one if one else None
            speedup = f"{r['speedup']:8.2f}" if r["speedup"] else f"{'-':>8}"
            print(
                f"{r['workers']:7d}  {r['files_per_second']:8.1f}  {r['ratio_to_floor']:7.2f}  "
                f"{r['ratio_to_synced_floor']:8.2f}  {speedup}  {r['cpu_ms_per_file']:11.2f}  "
                f"{r['peak_rss_mb']:11.0f}  "
                f"{r['summary']['quarantined']}"
            )

        if args.repeat > 1:
            for r in runs:
                low, *_, high = by_round = sorted(r["ratio_to_floor_by_round"])
                print(
                    f"{r['workers']} worker(s), x floor round by round: median "
                    f"{statistics.median(by_round):.2f} (from {low:.2f} to {high:.2f})"
                )

        targets = _targets(runs, version)
        for line in targets["lines"]:
            print(line)

        served = None
        if args.store == "vault":
            from bench.vault_store import measure_vault

            def embedded(count: int, folder: Path) -> list[str]:
                return _run_arguments(store, folder, count)

            served = measure_vault(
                _measure, corpus, work, runs, args.repeat, args.vault_server_workers, embedded
            )
        profile_text = _profile_one_worker(corpus, work, store) if args.profile else None
        result = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "cpu_count": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "corpus": {
                "files": files,
                "patients": args.patients,
                "rows": args.rows,
                "cols": args.cols,
                "transfer_syntax": args.transfer_syntax,
                "generation_seconds": generation,
            },
            "store": args.store,
            "measured": "whole processes: interpreter start to exit",
            "floor": {"files_per_second": floor_rate, **floor},
            "floor_synced": {"files_per_second": synced_rate, **synced},
            "runs": runs,
            "version_seconds": version,
            "targets": {k: v for k, v in targets.items() if k != "lines"},
        }
        if served is not None:
            result["vault_runs"] = served
        args.results.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        path = args.results / f"bench-{stamp}.json"
        path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        print(f"result: {path}")
        if profile_text is not None:
            profile_path = args.results / f"profile-{stamp}.txt"
            profile_path.write_text(profile_text, encoding="utf-8")
            print(f"profile of the one-worker run: {profile_path}")
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0
