"""One measurement of a whole process, from a process of its own.

``python -m bench.measure floor CORPUS OUT``: :mod:`bench.floor`, pydicom reading and
writing every file unchanged (``floor-synced``: and waiting until they are on disk).

``python -m bench.measure run CORPUS OUT -- DEID_RUN_ARGS...``: the ``deid`` command,
``deid run CORPUS OUT DEID_RUN_ARGS``.

The clock runs from just before the process is started until it has ended: the
interpreter's start, every import, every worker and the store's process count.
Prints one JSON object: seconds, CPU seconds of every process of it, files, the
peak RSS of its largest process and, for ``run``, the report's summary and exit
status.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def deid_command() -> list[str]:
    """The installed ``deid`` console script (what a user runs), else the module."""
    script = Path(sys.executable).with_name("deid")
    return [str(script)] if script.exists() else [sys.executable, "-m", "deid.cli"]


def whole_process(command: list[str]) -> dict[str, Any]:
    """Run ``command`` to its end; its wall and CPU seconds and peak RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):  # deid run: 1 is "done, with quarantines"
        raise RuntimeError(f"{command[:3]} failed ({done.returncode}):\n{done.stderr[-4000:]!r}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # Linux reports kilobytes: the largest process of the run (parent, worker, store).
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss_mb": after.ru_maxrss / 1024,
        "exit": done.returncode,
    }


def main(argv: list[str]) -> int:
    """Run one measurement named by ``argv`` and print it as JSON."""
    kind, corpus, out, *rest = argv
    if rest[:1] == ["--"]:
        rest = rest[1:]
    if kind in ("floor", "floor-synced"):
        synced = ["--sync"] if kind == "floor-synced" else []
        result = whole_process([sys.executable, "-m", "bench.floor", corpus, out, *synced])
        result["files"] = sum(1 for path in Path(out).iterdir() if path.suffix == ".dcm")
    else:
        report = Path(out).parent / f"{Path(out).name}-report.json"
        command = [*deid_command(), "run", corpus, out, "--no-progress", "--report", str(report)]
        result = whole_process([*command, *rest])
        summary = json.loads(report.read_text())["summary"]
        result.update(files=summary["inputs"], summary=summary)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
