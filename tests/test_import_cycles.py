"""No module of mlship imports another in a cycle (the import graph, read from the source with ast).

Every import counts, at the top of a module or inside a function: a lazy import inside a function still
ties the two modules together, and hides the layering the package should have.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the mlship modules it imports (a `from pkg import name` counts as pkg.name where that
    is a module, else as pkg)."""
    paths = {_module_name(p): p for p in (SRC / "mlship").rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base for a in node.names]
            for target in targets:
                while target and target not in paths:  # `import mlship.deploy.gate` names the module
                    target = target.rpartition(".")[0]
                if target and target != name and target.startswith("mlship"):
                    graph[name].add(target)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_the_finder_sees_a_cycle() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles_in_mlship() -> None:
    cycles = find_cycles(import_graph())
    assert cycles == [], "\n".join(" <-> ".join(c) for c in cycles)


def test_monitor_and_the_target_interface_import_downwards_only() -> None:
    graph = import_graph()
    monitor = {m: sorted(graph[m] & {"mlship.stages"}) for m in graph if m.startswith("mlship.monitor")}
    assert not any(monitor.values()), monitor
    base = "mlship.deploy.targets.base"
    concrete = {m for m in graph if m.startswith("mlship.deploy.targets.") and m != base}
    assert not graph[base] & concrete
