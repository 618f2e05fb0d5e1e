"""The demo's modules depend one way: no import cycle, and only the entry point and the step
runner (pipeline.py) know the whole run. A module that needs `Demo` to work cannot be tested or
reused without it (monitor.py used to import pipeline.py while pipeline.py imported it)."""

from __future__ import annotations

import ast
from pathlib import Path

DEMO = Path(__file__).resolve().parents[1] / "tools" / "demo"


def _imports() -> dict[str, set[str]]:
    """{module: tools.demo modules it imports}, TYPE_CHECKING and function-local imports too."""
    graph: dict[str, set[str]] = {}
    for path in sorted(DEMO.glob("*.py")):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == "tools.demo":
                    found |= {alias.name for alias in node.names}
                elif node.module.startswith("tools.demo."):
                    found.add(node.module.removeprefix("tools.demo.").split(".")[0])
            elif isinstance(node, ast.Import):
                found |= {a.name.removeprefix("tools.demo.").split(".")[0]
                          for a in node.names if a.name.startswith("tools.demo.")}
        graph[path.stem] = found - {path.stem}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node):], node]
        for nxt in sorted(graph.get(node, ())):
            found = visit(nxt, [*path, node])
            if found:
                return found
        return None

    for start in sorted(graph):
        found = visit(start, [])
        if found:
            return found
    return None


def test_the_demo_modules_have_no_import_cycle() -> None:
    graph = _imports()
    assert {"pipeline", "monitor", "registry", "procs", "__main__"} <= set(graph), graph
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph) or [])}"


def test_only_the_entry_point_imports_the_step_runner() -> None:
    users = sorted(m for m, deps in _imports().items() if "pipeline" in deps)
    assert users == ["__main__"], users


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycle({"monitor": {"pipeline"}, "pipeline": {"monitor"}}) is not None
    assert _cycle({"pipeline": {"monitor"}, "monitor": {"procs"}}) is None
