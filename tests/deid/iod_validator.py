"""dciodvfy (Debian ``dicom3tools``): the IOD validator that outputs are checked with.

A file must never get more errors from it after de-identification than before.
Missing, the tests skip; under CI=true (CI installs ``dicom3tools``) they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

DCIODVFY = shutil.which("dciodvfy")


def require_dciodvfy() -> str:
    """The validator's path; skips (fails under CI=true) when it is not installed."""
    if DCIODVFY is None:
        message = "dciodvfy is missing: apt-get install dicom3tools"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return DCIODVFY


def iod_errors(path: Path) -> list[str]:
    """dciodvfy's error lines for ``path`` (warnings left out)."""
    done = subprocess.run(
        [require_dciodvfy(), "-new", str(path)],
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
        timeout=120,
    )
    return [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("Error")]


def error_kinds(lines: list[str]) -> set[str]:
    """Error lines with numbers and values blurred, to compare kinds across files."""
    return {re.sub(r"<[^>]*>|\d+", "#", line) for line in lines}
