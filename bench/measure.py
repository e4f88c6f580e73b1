"""One measurement, in a process of its own so its peak memory is its own.

``python -m bench.measure floor CORPUS OUT``: pydicom reads every file of CORPUS and
writes it unchanged into OUT, in one process: the cost no de-identifier can beat.

``python -m bench.measure run CORPUS OUT -- DEID_RUN_ARGS...``: ``deid run CORPUS OUT
DEID_RUN_ARGS`` in process.

Prints one JSON object: seconds (the work only, not the interpreter's start), CPU
seconds of this process and its workers, files, peak RSS of this process and of
its largest worker, and for ``run`` the report's summary.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from pydicom import dcmread, dcmwrite


def _peak_rss_mb(who: int) -> float:
    # Linux reports kilobytes.
    return resource.getrusage(who).ru_maxrss / 1024


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (workers, store server)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def floor(corpus: Path, out: Path) -> dict[str, Any]:
    """Read and write every file unchanged with pydicom; return timings."""
    from deid.writing import input_files

    files = [path for path, _ in input_files(corpus)]
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for number, path in enumerate(files):
        dataset = dcmread(path)
        dcmwrite(out / f"{number}.dcm", dataset)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "files": len(files)}


def run(corpus: Path, out: Path, extra: list[str]) -> dict[str, Any]:
    """Time ``deid run`` in this process; return timings and the report's summary."""
    from deid.cli import main

    report = out.parent / f"{out.name}-report.json"
    argv = ["run", str(corpus), str(out), "--no-progress", "--report", str(report), *extra]
    started = time.perf_counter()
    status = main(argv)
    seconds = time.perf_counter() - started
    summary = json.loads(report.read_text())["summary"]
    return {"seconds": seconds, "files": summary["inputs"], "exit": status, "summary": summary}


def main(argv: list[str]) -> int:
    """Run one measurement named by ``argv`` and print it as JSON."""
    kind, corpus, out, *rest = argv
    if rest[:1] == ["--"]:
        rest = rest[1:]
    cpu_before = _cpu_seconds()
    result = (
        floor(Path(corpus), Path(out)) if kind == "floor" else run(Path(corpus), Path(out), rest)
    )
    # CPU per file does not depend on what else the machine runs; wall time does.
    result["cpu_seconds"] = _cpu_seconds() - cpu_before
    result["peak_rss_mb"] = _peak_rss_mb(resource.RUSAGE_SELF)
    result["peak_rss_worker_mb"] = _peak_rss_mb(resource.RUSAGE_CHILDREN)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
