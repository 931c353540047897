"""One-way layering inside ``siamjax``: docs/design.md's layer table (a module imports its
own package and the layers below, nothing beside or above), no import cycles, nothing
imports ``pysot_reference``, and the library never imports the top-level ``data_prep``
scripts (they import it)."""

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


# docs/design.md, "Layers and imports": (layer, module prefixes), top layer first.
LAYERS = (
    ("python -m siamjax", ("__main__",)),
    ("entry points", ("cli", "api", "integrations")),
    ("experiments", ("experiment",)),
    ("quickstart", ("quickstart",)),
    ("assembly", ("loading",)),
    ("workflows", ("eval", "prep", "aot")),
    ("features", ("train", "tracking")),
    ("components", ("data", "export")),
    ("models and datasets", ("models", "datasets")),
    ("core", ("backend", "platforms", "registry", "anchors", "fs", "fake_bucket", "image_io",
              "config_loader", "config_defaults", "checkpoints", "cluster", "machine",
              "synthetic_scenes", "")),
)  # fmt: skip
TOOLS = ("pysot_reference",)  # runs the reference; may import anything, nothing imports it


def _place(module: str) -> tuple[int, str] | None:
    """(rank from the bottom, package) of a ``siamjax`` module by the longest prefix in
    ``LAYERS``; None for the tools."""
    name = module.removeprefix("siamjax").removeprefix(".")
    package = name.split(".")[0]
    if package in TOOLS:
        return None
    for rank, (layer, prefixes) in enumerate(reversed(LAYERS)):
        if package in prefixes:
            # The core's small modules import one another freely (cycles are checked
            # separately); every other package is its own unit.
            return rank, "core" if layer == "core" else package
    raise AssertionError(f"{module} is in no layer of docs/design.md's table (add it)")


def _layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """'a -> b (layer -> layer)' for every import sideways or upwards, and every import
    of a tool."""
    names = [name for name, _ in reversed(LAYERS)]
    found = []
    for module, targets in sorted(graph.items()):
        here = _place(module)
        for target in sorted(targets):
            there = _place(target)
            if there is None and here is not None:
                found.append(f"{module} -> {target} (nothing imports {TOOLS})")
            elif here and there and there[1] != here[1] and there[0] >= here[0]:
                found.append(f"{module} -> {target} ({names[here[0]]} -> {names[there[0]]})")
    return found


def test_imports_follow_the_layer_table_of_docs_design():
    violations = _layer_violations(_graph())
    assert violations == [], "\n".join(violations)


def test_the_layer_check_finds_sideways_and_upward_imports():
    graph = {
        "siamjax.eval.report": {"siamjax.datasets", "siamjax.eval.metrics"},  # fine
        "siamjax.datasets": {"siamjax.eval.benchmarks"},  # upwards
        "siamjax.cli.track": {"siamjax.api"},  # sideways, another package of the layer
        "siamjax.train.loop": {"siamjax.tracking.network", "siamjax.pysot_reference.runner"},
    }
    assert _layer_violations(graph) == [
        "siamjax.cli.track -> siamjax.api (entry points -> entry points)",
        "siamjax.datasets -> siamjax.eval.benchmarks (models and datasets -> workflows)",
        "siamjax.train.loop -> siamjax.pysot_reference.runner (nothing imports "
        "('pysot_reference',))",
        "siamjax.train.loop -> siamjax.tracking.network (features -> features)",
    ]


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


def test_the_datasets_package_imports_only_fs_numpy_and_the_standard_library():
    import sys

    allowed = {"siamjax.fs", "numpy"} | set(sys.stdlib_module_names)
    for module, path in _modules().items():
        if module.startswith("siamjax.datasets"):
            outside = {
                name
                for name in _imports(path)
                if not name.startswith("siamjax.datasets") and name != "__future__.annotations"
            }
            roots = {name if name.startswith("siamjax") else name.split(".")[0] for name in outside}
            assert roots <= allowed, (module, sorted(roots - allowed))
