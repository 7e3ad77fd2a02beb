"""The academic and technical libraries: every rule names real features, carries its reference,
and is built for the timeframe asked (lookbacks in days become bars)."""

from __future__ import annotations

import pytest

from coinswarm.data.features import parse_feature
from coinswarm.domain.pattern import Side, Source
from coinswarm.evolution.library import academic_patterns, technical_patterns


@pytest.mark.parametrize("timeframe", ["1h", "4h", "1d"])
def test_every_library_rule_names_known_features_and_a_reference(timeframe):
    rules = academic_patterns(timeframe) + technical_patterns(timeframe)
    assert len({r.id for r in rules}) == len(rules)
    for rule in rules:
        assert rule.timeframe == timeframe
        assert rule.reference
        for feature in rule.features:
            parse_feature(feature)  # raises on an unknown or malformed name
    assert {r.source for r in academic_patterns(timeframe)} == {Source.ACADEMIC}
    assert {r.source for r in technical_patterns(timeframe)} == {Source.TECHNICAL}


def test_lookbacks_stated_in_days_become_bars_of_the_timeframe():
    hourly = {r.features[0] for r in academic_patterns("1h")}
    daily = {r.features[0] for r in academic_patterns("1d")}
    assert "close_sma:1200" in hourly  # BLL's 50-day average on hourly bars
    assert "close_sma:50" in daily
    assert "ret:8760" in hourly  # Moskowitz, Ooi & Pedersen's 12 months
    assert "breakout_up:200" in daily


def test_bearish_chart_patterns_are_traded_short_and_bullish_long():
    sides = {r.features[0].partition(":")[0]: r.side for r in technical_patterns("1h")}
    assert sides["double_top"] is Side.SHORT
    assert sides["double_bottom"] is Side.LONG
    assert sides["bull_flag"] is Side.LONG
    assert sides["range_breakout_down"] is Side.SHORT
