"""The pattern model: one id per rule, a canonical form that round-trips, bad input refused."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinswarm.domain.pattern import (
    Condition,
    Exit,
    InvalidPatternError,
    Pattern,
    Sample,
    Score,
    Side,
    Source,
)

FEATURES = ("rsi:14", "ret:24", "hour", "sma_gap:10:50", "vol:24")
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
conditions = st.builds(Condition, st.sampled_from(FEATURES), st.sampled_from([">", "<"]), finite)
fractions = st.none() | st.floats(min_value=1e-4, max_value=1.0)
exits = st.builds(
    Exit,
    st.integers(1, 500),
    fractions,
    fractions,
    st.lists(conditions, max_size=2).map(tuple),
)
scores = st.builds(
    Score,
    st.sampled_from(list(Sample)),
    st.integers(0, 10**18),
    st.just(2 * 10**18),
    st.just(("BTC-USDT",)),
    st.just("1h"),
    st.integers(0, 1000),
    finite,
    finite,
)
patterns = st.builds(
    Pattern,
    st.lists(conditions, min_size=1, max_size=4).map(tuple),
    st.sampled_from(list(Side)),
    exits,
    st.sampled_from(["1h", "4h", "1d"]),
    st.sampled_from(list(Source)),
    st.lists(st.text("0123456789abcdef", min_size=16, max_size=16), max_size=2).map(tuple),
    st.text(max_size=20),
    st.lists(scores, max_size=3).map(tuple),
)


def rsi_dip(**changes: object) -> Pattern:
    base = {
        "entry": (Condition("rsi:14", "<", 30),),
        "side": Side.LONG,
        "exit": Exit(24, take_profit=0.05, stop_loss=0.02),
    }
    return Pattern(**(base | changes))  # type: ignore[arg-type]


@given(patterns)
def test_the_canonical_form_round_trips_with_its_id_and_scores(pattern):
    again = Pattern.from_json(pattern.to_json())
    assert again == pattern
    assert again.id == pattern.id
    assert again.scores == pattern.scores
    assert again.to_json() == pattern.to_json()


def test_the_id_is_the_rule_alone_not_where_it_came_from_or_how_it_scored():
    plain = rsi_dip()
    score = Score(Sample.OUT_OF_SAMPLE, 0, 10, ("BTC-USDT",), "1h", 3, 0.1, 1.2)
    found_again = rsi_dip(source=Source.ACADEMIC, parents=("a" * 16,), reference="Wilder 1978")
    assert found_again.id == plain.id
    assert plain.with_score(score).id == plain.id
    assert rsi_dip(exit=Exit(24, take_profit=0.05, stop_loss=0.03)).id != plain.id
    assert rsi_dip(side=Side.SHORT).id != plain.id
    assert rsi_dip(timeframe="4h").id != plain.id
    assert len(plain.id) == 16


def test_integer_and_float_thresholds_are_one_rule():
    assert (
        rsi_dip(entry=(Condition("rsi:14", "<", 30),)).id
        == rsi_dip(entry=(Condition("rsi:14", "<", 30.0),)).id
    )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d | {"colour": "red"}, "unknown pattern field 'colour'"),
        (lambda d: {k: v for k, v in d.items() if k != "exit"}, "missing 'exit'"),
        (lambda d: d | {"id": "0" * 16}, "does not match its rule"),
        (lambda d: d | {"side": "sideways"}, "malformed pattern"),
        (lambda d: d | {"entry": []}, "at least one entry condition"),
        (lambda d: d | {"entry": [{"feature": "rsi:14", "op": ">=", "threshold": 1}]}, "op"),
        (lambda d: d | {"entry": [{"feature": "rsi:14", "op": ">", "threshold": "x"}]}, "number"),
        (lambda d: d | {"exit": d["exit"] | {"max_bars": 0}}, "max_bars"),
        (lambda d: d | {"exit": d["exit"] | {"stop_loss": -0.1}}, "stop_loss"),
        (lambda d: d | {"exit": d["exit"] | {"trail": 1}}, "unknown exit field 'trail'"),
    ],
)
def test_a_bad_serialised_pattern_is_refused_with_one_clear_reason(mutate, message):
    data = json.loads(rsi_dip().to_json())
    with pytest.raises(InvalidPatternError, match=message):
        Pattern.from_dict(mutate(data))


def test_corrupt_json_is_refused_naming_where():
    with pytest.raises(InvalidPatternError, match="not JSON"):
        Pattern.from_json('{"entry": [')


def test_a_non_finite_threshold_or_score_is_refused():
    with pytest.raises(InvalidPatternError, match="finite"):
        Condition("ret:24", ">", float("nan"))
    with pytest.raises(InvalidPatternError, match="finite"):
        Score(Sample.IN_SAMPLE, 0, 10, ("X",), "1h", 1, 0.0, float("inf"))


def test_describe_says_the_rule_in_one_line():
    text = rsi_dip().describe()
    assert text == "long on 1h when rsi:14 < 30; exit tp 5.00%, sl 2.00%, at most 24 bars"
    assert rsi_dip().features == ("rsi:14",)
