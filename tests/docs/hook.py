"""The docs site's MkDocs hook, loaded from its file as MkDocs loads it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

HOOK = Path(__file__).resolve().parents[2] / "docs" / "hooks" / "cli_reference.py"
_spec = importlib.util.spec_from_file_location("cli_reference", HOOK)
assert _spec is not None and _spec.loader is not None
cli_reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cli_reference)
