"""The import graphs have no cycle: the dashboard's JavaScript modules, and the Python packages' module-level
imports (imports inside functions, used on purpose to break start-up cost or optional dependencies, are not edges).
Entry points (api, ingest, simulators) never import each other."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "api" / "web" / "static"
PACKAGES = ("services", "api", "ingest", "simulators")


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return [*stack[stack.index(m):], m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def js_graph() -> dict[str, set[str]]:
    graph = {}
    for f in STATIC.glob("*.js"):
        text = f.read_text(encoding="utf-8")
        graph[f.name] = set(re.findall(r'^\s*import\b[^;]*?from\s+"\./([\w.-]+\.js)"', text, re.M | re.S))
    return graph


def test_the_dashboards_modules_import_no_cycle() -> None:
    graph = js_graph()
    assert graph.get("app.js")  # the parser sees the imports
    assert _cycle(graph) is None, _cycle(graph)


def _module(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def python_graph() -> dict[str, set[str]]:
    modules = {_module(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level only
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for t in targets:
                if t in modules and t != name:
                    edges.add(t)
        graph[name] = edges
    return graph


def test_python_packages_import_no_cycle() -> None:
    graph = python_graph()
    assert "services.connectors.service" in graph["ingest.sync"]  # the parser sees the imports
    assert _cycle(graph) is None, _cycle(graph)


def test_entry_points_never_import_each_other() -> None:
    graph = python_graph()
    entry = ("api", "ingest", "simulators")
    wrong = sorted((a, b) for a, edges in graph.items() for b in edges
                   if a.split(".")[0] in entry and b.split(".")[0] in entry and a.split(".")[0] != b.split(".")[0])
    assert wrong == []


def test_no_module_imports_a_private_name_of_another() -> None:
    wrong = []
    for pkg in PACKAGES:
        for path in (REPO / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PACKAGES:
                    wrong += [f"{_module(path)}: {node.module}.{a.name}" for a in node.names
                              if a.name.startswith("_") and not a.name.startswith("__")]
    assert wrong == []


def test_no_file_holds_a_merge_conflict_marker() -> None:
    suffixes = {".py", ".md", ".js", ".css", ".html", ".sh", ".toml", ".yml", ".service", ".json"}
    marked = [str(p.relative_to(REPO)) for p in REPO.rglob("*") if p.suffix in suffixes and p.is_file()
              and not any(part in (".venv", "node_modules", ".stack", ".git") for part in p.parts)
              and any(line.startswith(("<<<<<<< ", ">>>>>>> ")) for line in p.read_text(errors="replace").split("\n"))]
    assert marked == []
