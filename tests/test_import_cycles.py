"""No module of the package imports one that imports it back, directly or through others.

Every ``import`` of ``generator/*.py`` (and ``generator/cli/*.py``) counts, at
module level or inside a function, under ``TYPE_CHECKING`` or not: a cycle is
a design knot whichever way Python happens to resolve it.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "generator"
# Known cycles (none: add one only with the reason it cannot be broken yet).
KNOWN: set[frozenset[str]] = set()


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


def imports_of(path: Path) -> set[str]:
    """The package's modules that ``path`` imports (relative imports, or ``paylink.`` ones)."""
    here = module_name(path).split(".")
    package = here[:-1] if path.name != "__init__.py" else here[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                parts = [*base, *(node.module.split(".") if node.module else [])]
            elif node.module and node.module.split(".")[0] == "paylink":
                parts = node.module.split(".")[1:]
            else:
                continue
            found.add(".".join(parts))
            for alias in node.names:  # `from . import ledger` names a module
                found.add(".".join([*parts, alias.name]))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "paylink":
                    found.add(".".join(alias.name.split(".")[1:]))
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p).removesuffix(".__init__"): p for p in paths}
    return {name: {m for m in imports_of(path) if m in modules and m != name} for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_the_imports():
    graph = import_graph()
    assert {"facts", "dates"} <= graph["compiled_page"]
    assert "compiled_page" in graph["page_cache"]
    assert "ledger" in graph["actions.posting"]  # `from .. import ledger`
    assert "actions.workspace" in graph["actions"]  # `from .workspace import ...`
    assert "errors" in graph["cli.base"]  # `from ..errors import ...`


def test_no_import_cycles():
    found = [group for group in cycles(import_graph()) if frozenset(group) not in KNOWN]
    assert not found, f"import cycles: {found}"


@pytest.mark.parametrize("module", ["render", "compiled_page", "page_cache", "facts", "dates"])
def test_the_page_drawing_modules_import_nothing_that_imports_them(module):
    graph = import_graph()
    reached: set[str] = set()
    todo = list(graph[module])
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo.extend(graph[name])
    assert module not in reached
    if module in ("compiled_page", "page_cache", "facts", "dates"):
        assert "render" not in reached  # the renderer is handed its page source, never the other way
