"""`coinswarm new-strategy NAME`: which names it takes, and that it never overwrites."""

from __future__ import annotations

from pathlib import Path

import pytest

from coinswarm.cli._template import (
    STRATEGY,
    TEST,
    TemplateError,
    class_name,
    write_template,
)
from coinswarm.strategies import build_strategy


@pytest.mark.parametrize(
    ("name", "cls"), [("breakout", "Breakout"), ("my_momentum", "MyMomentum"), ("rsi2", "Rsi2")]
)
def test_a_name_gives_its_file_and_class(tmp_path: Path, name: str, cls: str) -> None:
    made = write_template(name, tmp_path / "new")
    assert class_name(name) == cls
    assert made.strategy == tmp_path / "new" / f"{name}.py"
    assert made.test == tmp_path / "new" / f"test_{name}.py"
    assert made.spec == f"{made.strategy}:{cls}"
    strategy, parameters = build_strategy(made.spec, {})
    assert strategy.name == name
    assert parameters == {"lookback": "24", "exit_average": "24", "fraction": "0.2"}


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("Breakout", "expected a lowercase name"),
        ("2fast", "expected a lowercase name"),
        ("my-breakout", "expected a lowercase name"),
        ("class", "expected a lowercase name"),
        ("json", "is the name of a module Python or pytest needs"),
        ("test_breakout", "is the name of a module Python or pytest needs"),
        ("coinswarm", "is the name of a module Python or pytest needs"),
    ],
)
def test_a_name_that_cannot_be_a_module_is_refused(tmp_path: Path, name: str, problem: str) -> None:
    with pytest.raises(TemplateError, match=problem):
        write_template(name, tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_an_existing_file_refuses_both_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "test_breakout.py").write_text("# mine\n")
    with pytest.raises(TemplateError, match="already exist"):
        write_template("breakout", tmp_path)
    assert not (tmp_path / "breakout.py").exists()
    assert (tmp_path / "test_breakout.py").read_text() == "# mine\n"


def test_a_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    with pytest.raises(TemplateError, match="is a file, not a folder"):
        write_template("breakout", tmp_path / "taken")


def test_the_template_is_tidy_python() -> None:
    for text in (STRATEGY, TEST):
        body = text.replace("__NAME__", "breakout").replace("__CLASS__", "Breakout")
        compile(body, "template", "exec")
        assert max(len(line) for line in body.splitlines()) <= 100
