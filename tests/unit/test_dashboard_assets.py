"""The dashboards ship whole: every page, script and stylesheet they load is inside the package.

Installing Coinswarm must need no network and no build step, and a dashboard opened on a
machine without internet must still draw. So no page or module may load anything from another
host, every relative reference must name a file that exists under `api/static/`, and the
vendored chart library must be the version its README names, with its licence beside it.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from coinswarm.api.app import STATIC

PAGES = sorted(STATIC.glob("*.html"))
MODULES = sorted((STATIC / "js").rglob("*.js"))
VENDORED = STATIC / "vendor" / "lightweight-charts.standalone.production.js"
IMPORT = re.compile(r"""^\s*(?:import|export)\s[^;]*?from\s+["']([^"']+)["']""", re.MULTILINE)


class _References(HTMLParser):
    """Collect what a page loads: scripts, stylesheets, icons (not the links a person follows)."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[str] = []
        self.modules: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script" and named.get("src"):
            self.loaded.append(str(named["src"]))
            if named.get("type") == "module":
                self.modules.append(str(named["src"]))
        if tag == "link" and named.get("href"):
            self.loaded.append(str(named["href"]))


def _references(page: Path) -> _References:
    parser = _References()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def test_every_dashboard_page_is_there() -> None:
    names = {page.name for page in PAGES}
    assert names >= {
        "index.html",
        "trades.html",
        "risk.html",
        "patterns.html",
        "agents.html",
        "architecture.html",
        "alerts.html",
    }


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_a_page_loads_only_files_of_the_package(page: Path) -> None:
    found = _references(page)
    assert found.modules, f"{page.name} runs no module"
    for reference in found.loaded:
        if reference.startswith("data:"):
            continue  # an inline icon, so the browser asks for no favicon
        assert "//" not in reference, f"{page.name} loads {reference} from another host"
        assert (STATIC / reference).is_file(), f"{page.name} loads {reference}: not shipped"


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(STATIC)))
def test_a_module_imports_only_modules_of_the_package(module: Path) -> None:
    text = module.read_text(encoding="utf-8")
    for target in IMPORT.findall(text):
        assert target.startswith("."), f"{module.name} imports {target}: not a relative file"
        assert (module.parent / target).resolve().is_file(), f"{module.name} imports {target}"
    assert 'fetch("http' not in text, f"{module.name} fetches from another host"
    assert 'import("http' not in text, f"{module.name} imports from another host"
    assert "innerHTML" not in text, f"{module.name}: data must enter the page as text, not HTML"


def test_the_chart_library_is_the_vendored_version_with_its_licence() -> None:
    head = VENDORED.read_text(encoding="utf-8")[:400]
    version = re.search(r"Lightweight Charts™ v(\d+\.\d+\.\d+)", head)
    assert version is not None, "the vendored file lost its licence header"
    readme = (STATIC / "vendor" / "README.md").read_text(encoding="utf-8")
    assert f"**{version.group(1)}**" in readme, "vendor/README.md names another version"
    assert "Apache License" in (STATIC / "vendor" / "LICENSE-lightweight-charts").read_text()
    assert "TradingView" in (STATIC / "vendor" / "NOTICE-lightweight-charts").read_text()
