"""The import graph of `src/spotifier`: no cycle between modules, no arrow that runs back up.

Every `import` is read with `ast` (module level, inside functions, and under TYPE_CHECKING: each is
a dependency a reader has to follow). Data flows one way, so packages form layers, bottom first:

    errors                                     what can go wrong, and the exit codes
    progress, home                             progress bars and threads; the home folder
    data, metrics, spotifier (the package)     in-memory shapes; pure metric functions; __version__
    mpd                                        the file format: read, write, validate
    store, synth                               the DuckDB store; the generator
    split                                      held-out splits
    models                                     recommenders, their registry and persistence
    evaluation, serve, report, followers,      everything that uses trained models or the store
    spark
    cli                                        the thin command line
    __main__

A module may import its own layer or any below it, never one above.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "spotifier"

LAYERS: list[set[str]] = [
    {"errors"},
    {"progress", "home"},
    {"data", "metrics", "spotifier"},
    {"mpd"},
    {"store", "synth"},
    {"split"},
    {"models"},
    {"evaluation", "serve", "report", "followers", "spark"},
    {"cli"},
    {"__main__"},
]

#: Edges that break the rules today, each with who removes it. Delete an entry once it is gone
#: (the test fails on an entry that no longer exists, so the list cannot go stale).
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def import_edges(known: dict[str, Path]) -> set[tuple[str, str]]:
    """(importer, imported) for every import of a spotifier module (a name imported from a
    package counts as its submodule when it is one)."""
    edges = set()
    for name, path in known.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    targets.append(full if full in known else node.module)
            for target in targets:
                if target.split(".")[0] == "spotifier" and target != name:
                    edges.add((name, target if target in known else _owner(target, known)))
    return edges


def _owner(name: str, known: dict[str, Path]) -> str:
    while name not in known and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "spotifier"


def layer_of(module: str) -> int:
    pkg = package(module)
    for rank, members in enumerate(LAYERS):
        if pkg in members:
            return rank
    raise AssertionError(f"{module}: package '{pkg}' has no layer; add it to LAYERS")


def cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iteratively)."""
    graph: dict[str, list[str]] = {}
    for a, b in sorted(edges):
        graph.setdefault(a, []).append(b)
        graph.setdefault(b, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def test_every_package_has_a_layer() -> None:
    for module in modules():
        layer_of(module)


def test_no_package_imports_one_above_it() -> None:
    known = modules()
    upward = sorted(
        f"{a} (layer {layer_of(a)}) imports {b} (layer {layer_of(b)})"
        for a, b in import_edges(known) - set(KNOWN_EXCEPTIONS)
        if layer_of(b) > layer_of(a)
    )
    assert upward == []


def test_no_import_cycle_between_modules() -> None:
    edges = import_edges(modules())
    assert cycles(edges - set(KNOWN_EXCEPTIONS)) == []


def test_known_exceptions_still_exist() -> None:
    """An exception whose edge is gone must be deleted, so it cannot hide a new one."""
    edges = import_edges(modules())
    assert [edge for edge in KNOWN_EXCEPTIONS if edge not in edges] == []


def test_the_checker_sees_a_cycle_and_an_upward_import() -> None:
    edges = {
        ("spotifier.store.a", "spotifier.models.b"),
        ("spotifier.models.b", "spotifier.store.a"),
    }
    assert cycles(edges) == [["spotifier.models.b", "spotifier.store.a"]]
    assert layer_of("spotifier.models.b") > layer_of("spotifier.store.a")
