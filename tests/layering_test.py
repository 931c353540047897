"""One-way layering inside ``siamjax``: no import cycles between its modules, and the
library never imports the top-level ``data_prep`` scripts (they import it)."""

import ast
import os

from tests.conftest import REPO_ROOT

PACKAGE = os.path.join(REPO_ROOT, "siamjax")


def _modules() -> dict[str, str]:
    found = {}
    for folder, _, names in os.walk(PACKAGE):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                module = os.path.relpath(path[:-3], REPO_ROOT).replace(os.sep, ".")
                found[module.removesuffix(".__init__")] = path
    return found


def _imports(path: str) -> set[str]:
    """The dotted names the import statements of ``path`` bring in, at any nesting level
    (``from a.b import c`` gives ``a.b.c``: module ``a.b.c`` if it is one, else ``a.b``)."""
    names = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _graph() -> dict[str, set[str]]:
    modules = _modules()

    def owner(name):
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for module, path in modules.items():
        targets = {owner(name) for name in _imports(path) if name.startswith("siamjax")}
        graph[module] = {t for t in targets if t and t != module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
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


def test_no_import_cycles_between_siamjax_modules():
    graph = _graph()
    assert "siamjax.data.pair_source" in graph["siamjax.data.workers"]
    assert _cycles(graph) == []


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_siamjax_never_imports_data_prep():
    offenders = sorted(
        module
        for module, path in _modules().items()
        if any(name.split(".")[0] == "data_prep" for name in _imports(path))
    )
    assert offenders == []
