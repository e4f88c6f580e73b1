"""One direction of imports: the vault imports deid's contract; deid reaches the vault through
one adapter, and a command that does not need the vault does not load it."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ADAPTER = ROOT / "deid" / "embedded.py"
SERVER_SIDE = ("sqlalchemy", "fastapi", "alembic", "uvicorn")


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """Every module ``path`` imports, however: import statements at any depth (inside
    functions and ``TYPE_CHECKING`` blocks too) and ``import_module``/``__import__``
    calls with a literal name."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
        elif isinstance(node, ast.Call) and node.args:
            function = node.func
            name = function.attr if isinstance(function, ast.Attribute) else None
            name = function.id if isinstance(function, ast.Name) else name
            first = node.args[0]
            if name in ("import_module", "__import__") and isinstance(first, ast.Constant):
                yield node.lineno, str(first.value)


def _is_within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_deid_imports_vault_only_through_the_adapter() -> None:
    offending = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in sorted((ROOT / "deid").rglob("*.py"))
        if path != ADAPTER
        for line, module in imported_modules(path)
        if _is_within(module, "vault")
    ]
    assert offending == []
    assert any(_is_within(module, "vault") for _, module in imported_modules(ADAPTER))


def test_the_vault_imports_only_the_contract_of_deid() -> None:
    offending = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for folder in ("vault", "migrations")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for line, module in imported_modules(path)
        if _is_within(module, "deid") and not _is_within(module, "deid.contract")
    ]
    assert offending == []


def test_the_walk_sees_imports_at_any_depth(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import vault.models\n"
        "def later():\n    from vault.embedded import open_embedded_store\n"
        "    importlib.import_module('vault.db')\n"
    )
    assert [m for _, m in imported_modules(sample)] == [
        "typing",
        "vault.models",
        "vault.embedded",
        "vault.db",
    ]


def modules_loaded_by(command: list[str], env: dict[str, str] | None = None) -> set[str]:
    """The modules the real process tree of ``command`` imports, as ``-X importtime``
    reports them (workers inherit the setting and the standard error)."""
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, **(env or {}), "PYTHONPROFILEIMPORTTIME": "1"},
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    return {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def deid_script() -> str:
    """The installed ``deid`` console script beside this interpreter."""
    script = Path(sys.executable).with_name("deid")
    assert script.exists(), f"{script} is missing: install the project (make setup)"
    return str(script)


def test_deid_version_loads_neither_the_vault_nor_the_engine() -> None:
    loaded = modules_loaded_by([deid_script(), "--version"])
    assert "deid.cli" in loaded  # the report is read: this would fail with none
    heavy = {m for m in loaded if m.split(".")[0] in {*SERVER_SIDE, "vault", "pydicom", "faker"}}
    assert heavy == set()
