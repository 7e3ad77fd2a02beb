"""Every package our code imports is one a plain `pip install coinswarm` brings.

An import of a package that only the `dev` extra installs works in every test and fails for a
user (`coinswarm sandbox` once died on `import httpx`). So each third-party import under src
must belong to a distribution named in pyproject's [project].dependencies, not one that merely
arrives with another dependency today.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import packages_distributions
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SOURCE = PROJECT_ROOT / "src" / "coinswarm"


def canonical(name: str) -> str:
    """Return a distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    names = (re.match(r"[A-Za-z0-9._-]+", spec) for spec in project["dependencies"])
    return {canonical(name.group()) for name in names if name}


def _type_checking_only(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST) -> Iterator[str]:
    if _type_checking_only(node):
        return  # never run: the types may come from anywhere
    if isinstance(node, ast.Import):
        yield from (alias.name.split(".")[0] for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        yield node.module.split(".")[0]
    for child in ast.iter_child_nodes(node):
        yield from _imports(child)


def third_party_imports() -> dict[str, set[str]]:
    """Return each third-party top-level module imported under src, with the files that do."""
    found: dict[str, set[str]] = {}
    for path in sorted(SOURCE.rglob("*.py")):
        for module in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if module in sys.stdlib_module_names or module == "coinswarm":
                continue
            found.setdefault(module, set()).add(str(path.relative_to(PROJECT_ROOT)))
    return found


def test_the_source_imports_third_party_packages_at_all():
    # A walker that found nothing would make the next test pass vacuously.
    assert {"numpy", "typer", "sqlalchemy"} <= set(third_party_imports())


def test_every_imported_package_is_a_declared_dependency():
    providers = packages_distributions()
    wanted = declared()
    missing = {
        module: sorted(files)
        for module, files in third_party_imports().items()
        if not {canonical(name) for name in providers.get(module, [])} & wanted
    }
    assert missing == {}, (
        "imported under src but not in [project].dependencies (a plain install lacks them): "
        f"{missing}"
    )


def test_the_declared_names_are_read_from_pyproject():
    names = declared()
    assert {"numpy", "typer", "pyjwt", "psycopg"} <= names
    assert "pytest" not in names  # the dev extra is not a dependency
