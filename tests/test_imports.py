"""The import graph of ``dissector/``, computed from the code with ``ast`` (issue 14).

Rules:

* ``protocol/`` imports nothing of ``dissector`` outside ``protocol/``: it is the source of
  every protocol fact and must load without a decoder, pandas or Scapy;
* ``capture/`` imports only ``protocol/`` and ``dissector.errors``: reading records never
  needs the layers or the analysis;
* no circle between files.

What counts as an import: every ``import``/``from ... import`` statement, at module level or
inside a function (a deferred import is still a dependency: it runs on first use, and a circle
through it is a circle in the design; deferring only hides it from the interpreter). Imports
under ``if TYPE_CHECKING:`` count for layering but not for circles, as they never run.
``from pkg import name`` depends on ``pkg.name`` when that is a module, else on ``pkg``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "dissector"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    deferred: bool  # inside a function or class body
    typing_only: bool  # under ``if TYPE_CHECKING:``


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((ROOT / PACKAGE).rglob("*.py"))}


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is one of our modules."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module) -> list[tuple[ast.Import | ast.ImportFrom, bool, bool]]:
    """Every import statement with (deferred, typing_only)."""
    found: list[tuple[ast.Import | ast.ImportFrom, bool, bool]] = []

    def walk(node: ast.AST, deferred: bool, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append((child, deferred, typing_only))
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
                walk(child, True, typing_only)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    walk(ast.Module(body=[stmt], type_ignores=[]), deferred, True)
                for stmt in child.orelse:
                    walk(ast.Module(body=[stmt], type_ignores=[]), deferred, typing_only)
            else:
                walk(child, deferred, typing_only)

    walk(tree, False, False)
    return found


@cache
def edges() -> tuple[Edge, ...]:
    known = modules()
    out: list[Edge] = []
    for source, path in known.items():
        is_package = path.name == "__init__.py"
        for node, deferred, typing_only in _imports(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = source if is_package else source.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        base = base.rpartition(".")[0]
                    stem = f"{base}.{node.module}" if node.module else base
                else:
                    stem = node.module or ""
                targets = [f"{stem}.{alias.name}" for alias in node.names]
            for target in targets:
                resolved = _resolve(target, known)
                if resolved is not None and resolved != source:
                    out.append(Edge(source, resolved, node.lineno, deferred, typing_only))
    return tuple(out)


def _where(edge: Edge) -> str:
    how = " (deferred)" if edge.deferred else ""
    return f"{modules()[edge.source].relative_to(ROOT)}:{edge.line} imports {edge.target}{how}"


def _outside(edge: Edge, allowed: tuple[str, ...]) -> bool:
    return edge.target.startswith(PACKAGE + ".") and not any(
        edge.target == a or edge.target.startswith(a + ".") for a in allowed
    )


def find_cycle(graph: dict[str, dict[str, Edge]]) -> list[Edge] | None:
    """One circle of the graph as its edges, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in sorted(graph):
        if state.get(start):
            continue
        path: list[tuple[str, list[str]]] = [(start, sorted(graph.get(start, {})))]
        state[start] = 1
        while path:
            node, todo = path[-1]
            if not todo:
                state[node] = 2
                path.pop()
                continue
            nxt = todo.pop(0)
            if state.get(nxt) == 1:
                names = [n for n, _ in path]
                ring = [*names[names.index(nxt) :], nxt]
                return [graph[a][b] for a, b in pairwise(ring)]
            if not state.get(nxt):
                state[nxt] = 1
                path.append((nxt, sorted(graph.get(nxt, {}))))
    return None


def runtime_graph(include_typing: bool = False) -> dict[str, dict[str, Edge]]:
    graph: dict[str, dict[str, Edge]] = {}
    for edge in edges():
        if include_typing or not edge.typing_only:
            graph.setdefault(edge.source, {}).setdefault(edge.target, edge)
    return graph


def test_the_graph_is_read_from_the_code():
    # a known edge in each direction of the rules, so an empty graph cannot pass
    pairs = {(e.source, e.target) for e in edges()}
    assert ("dissector.capture.reassembly", "dissector.errors") in pairs
    assert ("dissector.protocol.registry", "dissector.protocol.layouts") in pairs  # deferred
    assert len(modules()) > 100


@pytest.mark.parametrize(
    ("package", "allowed"),
    [
        ("dissector.protocol", ("dissector.protocol",)),
        ("dissector.capture", ("dissector.capture", "dissector.protocol", "dissector.errors")),
    ],
)
def test_lower_packages_import_nothing_above_them(package, allowed):
    bad = [
        _where(e)
        for e in edges()
        if (e.source == package or e.source.startswith(package + ".")) and _outside(e, allowed)
    ]
    assert not bad, f"{package} may import only {', '.join(allowed)}:\n" + "\n".join(bad)


def test_no_circle_between_files():
    cycle = find_cycle(runtime_graph())
    assert cycle is None, "import circle:\n" + "\n".join(_where(e) for e in cycle)


def test_find_cycle_reports_the_path():
    e = {
        ("a", "b"): Edge("a", "b", 1, False, False),
        ("b", "c"): Edge("b", "c", 2, True, False),
        ("c", "a"): Edge("c", "a", 3, False, False),
    }
    graph = {"a": {"b": e["a", "b"]}, "b": {"c": e["b", "c"]}, "c": {"a": e["c", "a"]}, "d": {}}
    assert [(x.source, x.target) for x in find_cycle(graph)] == [("a", "b"), ("b", "c"), ("c", "a")]
    del graph["c"]["a"]
    assert find_cycle(graph) is None
