"""Import arrows point inward: no module of ours imports another in a circle, and the packages
import each other only along the arrows listed below.

The graph counts every import statement of `src/coinswarm`: at module level, inside functions,
and under `if TYPE_CHECKING:` (a type-only arrow is still an arrow; mypy and a reader follow it).
An import of a package's `__init__` counts as an arrow to that package module; `from p import m`
where `m` is a submodule counts as an arrow to `p.m`.

The package arrows are those of ../shared/ARCHITECTURE.md ("domain imports nothing of ours;
data, risk and exchanges import domain; agents import domain and data; api, mcp and cli sit on
top and nothing imports them"), widened only where the code already depends on more; each such
widening says why. A new arrow fails here until someone adds it, with its reason.
"""

from __future__ import annotations

import ast
from collections.abc import Container, Mapping
from pathlib import Path

import coinswarm

SOURCE = Path(coinswarm.__file__).parent

TOP = frozenset({"cli", "api", "mcp", "__main__"})

# package -> the packages of ours it may import (top-level modules count as packages).
ALLOWED: dict[str, frozenset[str]] = {
    "coinswarm": frozenset(),
    "domain": frozenset(),
    "data": frozenset({"domain"}),
    "risk": frozenset({"domain"}),
    # timestamps and the bar builder of `data` (market feeds build bars); crash points of infra
    "exchanges": frozenset({"domain", "data", "infra"}),
    "agents": frozenset({"domain", "data"}),
    # the journal port names the committee's verdict and the risk layer's notes; recovery
    # reads the store
    "execution": frozenset({"domain", "agents", "exchanges", "infra", "risk"}),
    # the stores and journals write down what agents, risk and execution decided
    "infra": frozenset({"domain", "agents", "execution", "risk"}),
    "orchestration": frozenset({"domain", "data", "agents", "risk", "execution", "infra"}),
    # the committee strategy drives the master orchestrator
    "strategies": frozenset({"domain", "data", "agents", "orchestration"}),
    "backtest": frozenset(
        {
            "domain",
            "data",
            "agents",
            "risk",
            "exchanges",
            "execution",
            "infra",
            "orchestration",
            "strategies",
        }
    ),
    "preflight": frozenset({"domain", "exchanges", "execution", "risk"}),
    # discovery scores patterns with its own evaluator and proves the committee with the engine
    "evolution": frozenset(
        {"domain", "data", "agents", "strategies", "backtest", "infra", "bootstrap"}
    ),
    "bootstrap": frozenset(
        {
            "domain",
            "data",
            "risk",
            "exchanges",
            "execution",
            "infra",
            "orchestration",
            "strategies",
            "backtest",
        }
    ),
    "sessions": frozenset(
        {
            "domain",
            "data",
            "risk",
            "exchanges",
            "execution",
            "infra",
            "orchestration",
            "strategies",
            "backtest",
            "bootstrap",
            "preflight",
        }
    ),
    # the daily P&L report of each account: the stores, the ledger, the bars a paper run traded
    # on (bootstrap loads them again), its risk profile; the CLI and the API write and send it
    "reporting": frozenset({"domain", "data", "risk", "infra", "backtest", "bootstrap"}),
    # the top: nothing of ours imports these (except `python -m coinswarm`, which runs the CLI)
    "cli": frozenset(
        {
            "coinswarm",
            "domain",
            "data",
            "risk",
            "exchanges",
            "infra",
            "orchestration",
            "backtest",
            "bootstrap",
            "sessions",
            "preflight",
            "evolution",
            "api",  # `coinswarm serve` starts the API, imported when that command runs
            "reporting",  # `coinswarm report daily`
        }
    ),
    # the top beside the CLI: the API reads every store and starts runs as the CLI does
    "api": frozenset(
        {
            "coinswarm",
            "domain",
            "data",
            "agents",
            "risk",
            "exchanges",
            "execution",
            "infra",
            "orchestration",
            "strategies",
            "backtest",
            "bootstrap",
            "sessions",
            "preflight",
            "evolution",
            "reporting",  # the daily reports' timer beside `coinswarm serve`
        }
    ),
    "__main__": frozenset({"cli"}),
}

Graph = dict[str, set[str]]


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files(root: Path) -> dict[str, Path]:
    return {module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def owner(name: str, modules: Container[str]) -> str | None:
    """Return the module of ours that `name` (a module or a name in one) lives in."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imported_names(module: str, path: Path) -> list[str]:
    """Return every dotted name `module` imports, wherever the import statement stands."""
    is_package = path.name == "__init__.py"
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            names += [f"{base}.{alias.name}" for alias in node.names]
    return names


def import_graph(root: Path) -> Graph:
    """Return module -> the modules of ours it imports."""
    files = source_files(root)
    graph: Graph = {module: set() for module in files}
    for module, path in files.items():
        for name in imported_names(module, path):
            ours = name == root.name or name.startswith(f"{root.name}.")
            target = owner(name, files) if ours else None
            if target is not None and target != module:
                graph[module].add(target)
    return graph


def circles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Return the groups of modules that import each other (strongly connected, size > 1)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while (member := stack.pop()) != node:
                group.append(member)
            group.append(node)
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def wrong_arrows(graph: Mapping[str, set[str]]) -> list[str]:
    problems = []
    for module, targets in sorted(graph.items()):
        source = package_of(module)
        for target in sorted(targets):
            into = package_of(target)
            if into != source and into not in ALLOWED.get(source, frozenset()):
                problems.append(f"{module} -> {target} ({source} may not import {into})")
    return problems


def plant(root: Path, files: Mapping[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_no_module_of_ours_imports_another_in_a_circle():
    assert circles(import_graph(SOURCE)) == []


def test_packages_import_only_along_the_allowed_arrows():
    assert wrong_arrows(import_graph(SOURCE)) == []


def test_domain_imports_nothing_of_ours_and_nothing_imports_the_top():
    graph = import_graph(SOURCE)
    domain_reaches = {t for m, ts in graph.items() if package_of(m) == "domain" for t in ts}
    assert {package_of(t) for t in domain_reaches} <= {"domain"}
    into_top = [
        f"{m} -> {t}"
        for m, ts in graph.items()
        for t in ts
        if package_of(t) in TOP and package_of(m) not in TOP
    ]
    assert into_top == []


def test_a_circle_through_a_type_only_or_a_function_import_is_found(tmp_path):
    root = plant(
        tmp_path / "coinswarm",
        {
            "__init__.py": "",
            "domain/__init__.py": "",
            "domain/a.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from coinswarm.domain.b import B\n",
            "domain/b.py": "from coinswarm.domain.c import C\n",
            "domain/c.py": "def f():\n    from coinswarm.domain import a\n",
            "domain/d.py": "from . import c\n",
        },
    )
    assert circles(import_graph(root)) == [
        ["coinswarm.domain.a", "coinswarm.domain.b", "coinswarm.domain.c"]
    ]


def test_a_new_wrong_arrow_is_named():
    graph = import_graph(SOURCE)
    graph["coinswarm.domain.order"].add("coinswarm.risk.events")
    graph["coinswarm.risk.oversight"].add("coinswarm.orchestration.door")
    graph["coinswarm.infra.audit"].add("coinswarm.cli.admin")
    assert wrong_arrows(graph) == [
        "coinswarm.domain.order -> coinswarm.risk.events (domain may not import risk)",
        "coinswarm.infra.audit -> coinswarm.cli.admin (infra may not import cli)",
        "coinswarm.risk.oversight -> coinswarm.orchestration.door "
        "(risk may not import orchestration)",
    ]
