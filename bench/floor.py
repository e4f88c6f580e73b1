"""The floor: pydicom reads every file of CORPUS and writes it unchanged into OUT.

``python -m bench.floor CORPUS OUT``, a whole process that imports pydicom and
nothing else: the cost no de-identifier in Python can beat, start-up included.
With ``--sync`` it also waits, at the end, until its files are on disk, as
``deid run`` does for each chunk before its outputs go into place: the floor of a
writer whose outputs survive a power cut.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pydicom import dcmread, dcmwrite


def main(corpus: Path, out: Path, *, sync: bool = False) -> int:
    """Read and write every file under ``corpus`` (sorted, as ``deid run`` walks it)."""
    out.mkdir(parents=True, exist_ok=True)
    files = sorted(Path(folder) / name for folder, _, names in os.walk(corpus) for name in names)
    for number, path in enumerate(files):
        dcmwrite(out / f"{number}.dcm", dcmread(path))
    if sync:
        os.sync()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), sync="--sync" in sys.argv[3:]))
