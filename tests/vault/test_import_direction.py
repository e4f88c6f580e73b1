"""The vault's imports run one way: down its layers, and never in a circle.

Read from the source (every ``import`` statement, those inside functions and under
``TYPE_CHECKING`` included), so a cycle that only shows at run time in some order
is caught here, not in production.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

import vault

ROOT = Path(vault.__file__).parent
Graph = Mapping[str, Iterable[str]]
LAYERS = (
    {"vault.services"},
    {"vault.authz", "vault.runtime", "vault.audit", "vault.errors", "vault.config"},
    {"vault.repositories"},
    {"vault.models", "vault.crypto", "vault.db"},
)
"""DESIGN's layers below the front doors (api, console, cli, transfer, the embedded store,
and any part not named here), top to bottom: rules, their cross-cutting helpers, SQL, and
tables, keys and the database."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _imported(module: str, path: Path, known: set[str]) -> set[str]:
    """The vault modules that importing ``module`` runs, as written in its source."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            names.add(base)
            # ``from vault.services import trials`` imports the module vault.services.trials.
            names.update(f"{base}.{alias.name}" for alias in node.names)
    found: set[str] = set()
    for name in names:
        parts = name.split(".")
        # Importing a.b.c runs a/__init__, a/b/__init__ and a/b/c, except the packages
        # this module is already inside (they are running when it is imported).
        for end in range(1, len(parts) + 1):
            target = ".".join(parts[:end])
            inside = module == target or module.startswith(target + ".")
            if target in known and not inside:
                found.add(target)
    return found


def module_graph() -> dict[str, set[str]]:
    """Each vault module and the vault modules it imports."""
    modules = _modules()
    known = set(modules)
    return {name: _imported(name, path, known) for name, path in modules.items()}


def part_of(module: str) -> str:
    """The sub-package (``vault.api``) or top-level module (``vault.authz``) of ``module``."""
    return ".".join(module.split(".")[:2])


def part_graph(modules: Graph) -> dict[str, set[str]]:
    """The module graph folded onto vault's sub-packages and top-level modules."""
    parts: dict[str, set[str]] = defaultdict(set)
    for module, imported in modules.items():
        parts[part_of(module)].update(part_of(i) for i in imported if part_of(i) != part_of(module))
    return dict(parts)


def cycles(graph: Graph) -> list[list[str]]:
    """Every strongly connected set of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph.get(node, ()):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _explain(modules: Graph, component: list[str]) -> str:
    """The module imports that tie a cycle of parts together."""
    members = set(component)
    ties = sorted(
        f"{module} -> {imported}"
        for module, targets in modules.items()
        for imported in targets
        if part_of(module) in members
        and part_of(imported) in members
        and part_of(module) != part_of(imported)
    )
    return " / ".join(component) + ":\n    " + "\n    ".join(ties)


def test_the_walk_sees_every_kind_of_import() -> None:
    modules = module_graph()
    assert "vault.api.app" in modules and "vault.services.trials" in modules
    # A plain module-level import, and one under TYPE_CHECKING (errors -> audit events).
    assert "vault.crypto.barrier" in modules["vault.crypto"]
    assert "vault.audit.events" in modules["vault.errors"]
    # Importing a module of another package runs that package's __init__ first.
    assert "vault.audit" in modules["vault.errors"]


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    parts = part_graph({"vault.api.x": {"vault.console.y"}, "vault.console.y": {"vault.api.z"}})
    assert cycles(parts) == [["vault.api", "vault.console"]]


def test_no_sub_package_of_the_vault_imports_itself_back() -> None:
    modules = module_graph()
    parts = part_graph(modules)
    found = [_explain(modules, c) for c in cycles(parts)]
    assert not found, "import cycles between vault's parts:\n" + "\n".join(found)


def _layer(part: str) -> int:
    return next((n + 1 for n, layer in enumerate(LAYERS) if part in layer), 0)


def test_no_part_of_the_vault_imports_a_layer_above_it() -> None:
    modules = module_graph()
    upward = sorted(
        f"{module} -> {imported}"
        for module, targets in modules.items()
        for imported in targets
        if _layer(part_of(imported)) < _layer(part_of(module))
    )
    assert not upward, "imports that run up the vault's layers:\n" + "\n".join(upward)


def test_no_module_of_the_vault_imports_itself_back() -> None:
    modules = module_graph()
    found = [" -> ".join(c) for c in cycles(modules)]
    assert not found, "import cycles between vault modules:\n" + "\n".join(found)
