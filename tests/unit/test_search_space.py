"""`--space KEY=LOW..HIGH[:STEP]`: parsed exactly, checked against the strategy's own model."""

from __future__ import annotations

from decimal import Decimal

import optuna
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinswarm.evolution.optimize.space import SpaceError, check_space, parse_space, propose

STRATEGY_FILE = """
from pydantic import BaseModel


class Plain:
    name = "plain"

    def on_bar(self, bar, context):
        return ()
"""


def grid(text: str) -> list[str]:
    dimension = parse_space(text)
    assert dimension.size is not None
    return [dimension.at(i) for i in range(dimension.size)]


def test_whole_numbers_with_a_step_are_an_integer_grid():
    dimension = parse_space("fast=5..50:5")
    assert (dimension.key, dimension.whole, dimension.size) == ("fast", True, 10)
    assert grid("fast=5..50:5") == [str(v) for v in range(5, 51, 5)]
    assert dimension.to_json() == {"key": "fast", "low": 5, "high": 50, "step": 5, "kind": "int"}


def test_whole_numbers_without_a_step_step_by_one():
    assert grid("slow=-2..3") == ["-2", "-1", "0", "1", "2", "3"]


def test_decimals_without_a_step_are_continuous():
    dimension = parse_space("threshold=0.1..0.9")
    assert dimension.size is None
    assert dimension.step is None
    assert dimension.to_json()["kind"] == "float"


def test_a_decimal_grid_is_counted_exactly():
    assert grid("threshold=0.1..0.9:0.1") == [f"0.{i}" for i in range(1, 10)]
    assert grid("x=5..6:0.5") == ["5.0", "5.5", "6.0"]  # a decimal step: decimal values


@given(
    low=st.integers(-1000, 1000),
    step=st.integers(1, 500),
    steps=st.integers(1, 40),
    scale=st.sampled_from([1, 10, 100, 1000]),
)
def test_every_grid_value_is_low_plus_whole_steps_and_ends_at_high(low, step, steps, scale):
    low_d, step_d = Decimal(low) / scale, Decimal(step) / scale
    high_d = low_d + steps * step_d
    values = grid(f"k={low_d}..{high_d}:{step_d}")
    assert len(values) == steps + 1
    assert [Decimal(v) for v in values] == [low_d + i * step_d for i in range(steps + 1)]
    assert Decimal(values[-1]) == high_d


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("fast", "expected KEY=LOW..HIGH[:STEP], found 'fast'"),
        ("=5..6", "expected KEY=LOW..HIGH[:STEP]"),
        ("fast=5", "fast: expected LOW..HIGH[:STEP], found '5'"),
        ("fast=a..5", "fast: expected LOW to be a number, found 'a'"),
        ("fast=5..nan", "fast: expected HIGH to be a number, found 'nan'"),
        ("fast=50..5", "fast: expected LOW below HIGH, found 50..5"),
        ("fast=5..5", "fast: expected LOW below HIGH"),
        ("fast=5..50:0", "fast: expected a STEP above 0, found 0"),
        ("fast=5..50:-5", "fast: expected a STEP above 0, found -5"),
        (
            "fast=5..50:7",
            "HIGH 50 is not LOW 5 plus a whole number of steps of 7; expected 47 or 54",
        ),
        ("fast=5..50:x", "fast: expected STEP to be a number, found 'x'"),
    ],
)
def test_a_malformed_or_empty_range_is_refused_saying_why(text, says):
    with pytest.raises(SpaceError, match=r"^--space") as refused:
        parse_space(text)
    assert says in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_key_the_strategy_does_not_have_is_refused_naming_the_ones_it_has():
    with pytest.raises(SpaceError) as refused:
        check_space("sma-cross", [parse_space("fats=5..50:5")])
    assert str(refused.value) == (
        "--space fats: not a parameter of sma-cross (its parameters: fast, slow)"
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("fast=0..10", "--space fast: the strategy refuses 0: Input should be greater than"),
        (
            "fast=1.5..10.5",
            "--space fast: the strategy refuses 1.5: Input should be a valid integer",
        ),
        # Both ends whole, a decimal inside: a whole-number field refuses the range too.
        ("fast=1.0..10.0", "--space fast: the strategy refuses 5.5: Input should be a valid"),
    ],
)
def test_a_range_the_parameter_refuses_is_refused_before_any_work(text, says):
    with pytest.raises(SpaceError) as refused:
        check_space("sma-cross", [parse_space(text)])
    assert str(refused.value).startswith(says)


def test_a_combination_refused_as_a_whole_is_not_an_error_here():
    # fast=50 with slow's default 50 is refused by the model, but only as a combination: the
    # search records such proposals as refused trials.
    check_space("sma-cross", [parse_space("fast=5..50:5"), parse_space("slow=20..200:20")])


def test_a_key_given_twice_or_no_key_at_all_is_refused():
    with pytest.raises(SpaceError, match="fast is given twice"):
        check_space("sma-cross", [parse_space("fast=5..10"), parse_space("fast=6..9")])
    with pytest.raises(SpaceError, match="expected at least one"):
        check_space("sma-cross", [])


def test_the_committee_takes_an_agent_key_and_refuses_an_unknown_one():
    check_space("committee", [parse_space("trend.fast=5..20"), parse_space("threshold=0.1..0.5")])
    with pytest.raises(SpaceError, match=r"^--space nobody.fast: strategy committee"):
        check_space("committee", [parse_space("nobody.fast=5..20")])


def test_a_strategy_without_parameters_has_nothing_to_search(tmp_path):
    path = tmp_path / "plain.py"
    path.write_text(STRATEGY_FILE, encoding="utf-8")
    with pytest.raises(SpaceError, match="takes no parameters to search"):
        check_space(f"{path}:Plain", [parse_space("x=1..2")])


def test_a_proposal_is_the_grid_value_the_sampler_chose():
    space = [parse_space("fast=5..50:5"), parse_space("t=0.1..0.9"), parse_space("u=0.1..0.9:0.1")]
    chosen = propose(optuna.trial.FixedTrial({"fast": 3, "t": 0.25, "u": 2}), space)
    assert chosen == {"fast": "20", "t": "0.25", "u": "0.3"}
