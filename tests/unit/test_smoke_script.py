"""The plain-install smoke script (tests/smoke/plain_install.py) runs every command for real."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[1] / "smoke" / "plain_install.py"


def smoke_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("plain_install", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_leaf_command_of_the_app_is_run_for_real_by_the_smoke_script():
    script = smoke_script()
    paths = script.command_paths()
    leaves = {
        path
        for path in paths
        if not any(other[: len(path)] == path for other in paths if len(other) > len(path))
    }
    assert ("sandbox",) in leaves
    assert ("exchange", "serve") in leaves
    assert leaves == script.RUN_FOR_REAL


def test_the_smoke_script_uses_the_standard_library_and_coinswarm_only():
    # It runs where only Coinswarm's own dependencies are installed: no pytest, no hypothesis.
    text = SCRIPT.read_text(encoding="utf-8")
    for extra in ("pytest", "hypothesis", "httpx"):
        assert f"import {extra}" not in text
        assert f"from {extra}" not in text
