"""Rule 2 of the architecture: the only path to an exchange adapter goes through the door.

Only the execution agent may hold an adapter and only the door may hold the execution agent;
wiring modules (the backtest engine, bootstrap) build them. Any other module of ours that
imports `coinswarm.exchanges` or `coinswarm.execution.agent` fails this test (the journal in
`coinswarm.execution.journal` reaches no exchange and may be used by anyone).
"""

from __future__ import annotations

import ast
from pathlib import Path

import coinswarm

SOURCE = Path(coinswarm.__file__).parent

ALLOWED = {
    "coinswarm.exchanges": {
        "coinswarm.exchanges",  # the adapters themselves
        "coinswarm.execution",  # the execution agent holds the adapter
        "coinswarm.backtest.engine",  # wiring: builds the simulated exchange for a backtest
        "coinswarm.bootstrap",  # wiring: chooses the adapter of a mode
        "coinswarm.sessions",  # wiring: the adapter and feed of a sandbox or live session
        "coinswarm.preflight",  # reads the key's scopes and reconciles before a session starts
        "coinswarm.backtest.recording",  # wraps a session's venue to journal what it answers
        "coinswarm.backtest.session_replay",  # a recorded venue standing in for the exchange
        "coinswarm.cli.exchange",  # serves the local exchange to others; never trades on it
        "coinswarm.cli._download",  # reads candles through ccxt; never trades
    },
    "coinswarm.execution.agent": {
        "coinswarm.execution",
        "coinswarm.orchestration.door",  # the one door holds the execution agent
        "coinswarm.backtest.engine",  # wiring: hands the execution agent to the door
    },
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def violations(sources: dict[str, set[str]]) -> list[str]:
    problems = []
    for module, imported in sorted(sources.items()):
        for guarded, allowed in ALLOWED.items():
            reaches = any(i == guarded or i.startswith(guarded + ".") for i in imported)
            permitted = any(module == a or module.startswith(a + ".") for a in allowed)
            if reaches and not permitted:
                problems.append(f"{module} imports {guarded}")
    return problems


def our_modules() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in SOURCE.rglob("*.py")}


def test_no_module_reaches_an_adapter_except_through_the_door():
    assert violations(our_modules()) == []


def test_the_check_catches_a_strategy_that_imports_an_adapter():
    planted = our_modules()
    planted["coinswarm.strategies.sneaky"] = {"coinswarm.exchanges.simulated"}
    planted["coinswarm.agents.sneaky"] = {"coinswarm.execution.agent"}
    assert violations(planted) == [
        "coinswarm.agents.sneaky imports coinswarm.execution.agent",
        "coinswarm.strategies.sneaky imports coinswarm.exchanges",
    ]


def test_the_domain_imports_nothing_of_ours_outside_it():
    for module, imported in our_modules().items():
        if module.startswith("coinswarm.domain"):
            outside = {
                i
                for i in imported
                if i.startswith("coinswarm.") and not i.startswith("coinswarm.domain")
            }
            assert not outside, f"{module} imports {outside}"
