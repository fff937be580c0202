"""The dependencies between koji_server's packages point one way: read from
the source's imports (ast), no package imports another that imports it back.
The domain owns its ports (domain.ports) and storage implements them, so the
domain imports neither storage nor the layers around it; config is a leaf."""

from __future__ import annotations

import ast
import itertools
from collections import defaultdict
from pathlib import Path

import koji_server

ROOT = Path(koji_server.__file__).parent
# What the domain may import of koji_server: itself and the plain helpers.
DOMAIN_MAY_IMPORT = {"domain", "support"}


def _imported(module: Path) -> set[str]:
    """The koji_server modules `module` imports (absolute names)."""
    package = ("koji_server", *module.relative_to(ROOT).parent.parts)
    names: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text(), str(module))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                if node.module:
                    names.add(f"{base}.{node.module}")
                else:
                    names.update(f"{base}.{alias.name}" for alias in node.names)
            elif node.module:
                names.add(node.module)
    return {name for name in names if name.startswith("koji_server.")}


def _package_of(relative: Path) -> str:
    """A subpackage's name, or a top-level module's (config, app, main)."""
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def package_graph() -> dict[str, dict[str, set[str]]]:
    """package -> imported package -> the modules that import it."""
    graph: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for module in ROOT.rglob("*.py"):
        relative = module.relative_to(ROOT)
        source = _package_of(relative)
        for name in _imported(module):
            target = name.split(".")[1]
            if target != source:
                graph[source][target].add(str(relative))
    return graph


def _cycles(graph: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """Every cycle through the graph, as its packages in order (each once)."""
    found: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()

    def walk(path: list[str]) -> None:
        for target in graph.get(path[-1], {}):
            if target == path[0]:
                start = path.index(min(path))
                key = tuple(path[start:] + path[:start])
                if key not in seen:
                    seen.add(key)
                    found.append([*key, key[0]])
            elif target not in path and target > path[0]:
                walk([*path, target])

    for package in sorted(graph):
        walk([package])
    return found


def test_the_graph_is_read_from_the_source() -> None:
    graph = package_graph()
    assert "storage" in graph["app"]
    assert "domain" in graph["storage"]


def test_no_package_imports_one_that_imports_it_back() -> None:
    graph = package_graph()
    described = [
        " -> ".join(cycle)
        + ": "
        + "; ".join(
            f"{a}->{b} in {', '.join(sorted(graph[a][b]))}" for a, b in itertools.pairwise(cycle)
        )
        for cycle in _cycles(graph)
    ]
    assert described == []


def test_the_domain_imports_only_itself_and_support() -> None:
    graph = package_graph()
    outside = {target: sorted(where) for target, where in graph["domain"].items()}
    assert set(outside) <= DOMAIN_MAY_IMPORT, outside


def test_config_imports_nothing_of_the_server() -> None:
    assert dict(package_graph().get("config", {})) == {}


def test_a_cycle_is_found() -> None:
    """The check itself: a made-up graph with a cycle is caught."""
    graph = {"a": {"b": {"a/x.py"}}, "b": {"c": {"b/y.py"}}, "c": {"a": {"c/z.py"}}}
    assert _cycles(graph) == [["a", "b", "c", "a"]]
