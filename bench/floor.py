"""The floor: pydicom reads every file of CORPUS and writes it unchanged into OUT.

``python -m bench.floor CORPUS OUT``, a whole process that imports pydicom and
nothing else: the cost no de-identifier in Python can beat, start-up included.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pydicom import dcmread, dcmwrite


def main(corpus: Path, out: Path) -> int:
    """Read and write every file under ``corpus`` (sorted, as ``deid run`` walks it)."""
    out.mkdir(parents=True, exist_ok=True)
    files = sorted(Path(folder) / name for folder, _, names in os.walk(corpus) for name in names)
    for number, path in enumerate(files):
        dcmwrite(out / f"{number}.dcm", dcmread(path))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
