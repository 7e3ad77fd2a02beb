"""A patterns file in the committee: read and pinned before any work, refused whole when it
cannot be traded, its proven patterns voting as the agent `pattern`, and a demotion written
beside every later order's explanation."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from coinswarm.agents.pattern import PatternAgent, PatternTimeframeError
from coinswarm.backtest.engine import BacktestConfig, run_backtest
from coinswarm.data.pattern_file import ExportedPattern, write_patterns
from coinswarm.domain.bar import NS_PER_HOUR
from coinswarm.domain.errors import DataError
from coinswarm.domain.pattern import Condition, Exit, Pattern, Side
from coinswarm.strategies import (
    InvalidStrategyError,
    build_strategy,
    check_intervals,
    pin_parameters,
)
from coinswarm.strategies.committee import CommitteeStrategy
from proven_patterns import at_hour, daily_trades, flat, proven

RSI_LONG = Pattern((Condition("rsi:14", "<", 30),), Side.LONG, Exit(24))
MIDNIGHT = Pattern(at_hour(0), Side.LONG, Exit(5, take_profit=0.015, stop_loss=0.015))


def patterns_file(folder: Path, *items: ExportedPattern, name: str = "p.jsonl") -> Path:
    path = folder / name
    write_patterns(path, items, source="test")
    return path


def test_the_proven_patterns_of_a_file_vote_as_the_agent_pattern(tmp_path):
    path = patterns_file(tmp_path, proven(RSI_LONG), proven(MIDNIGHT, status="rejected"))
    strategy, resolved = build_strategy(
        "committee", {"patterns": str(path), "pattern.fee_rate": "0.004"}
    )
    assert isinstance(strategy, CommitteeStrategy)
    names = [agent.name for agent in strategy.agents]
    assert names == ["trend", "mean_reversion", "risk", "pattern"]
    agent = strategy.agents[-1]
    assert isinstance(agent, PatternAgent)
    assert agent.patterns == (RSI_LONG,)  # the rejected one stays in the file
    assert agent.config.fee_rate == 0.004
    assert resolved["agents"] == "trend,mean_reversion,risk,pattern"
    assert resolved["pattern.fee_rate"] == "0.004"
    _, without = build_strategy("committee", {})
    assert "patterns" not in without  # committee runs without a file keep their ids


def test_a_pinned_file_names_its_path_and_digest_and_an_edited_one_is_refused(tmp_path):
    path = patterns_file(tmp_path, proven(RSI_LONG))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    pinned = pin_parameters("committee", {"patterns": str(path), "quorum": "1"})
    assert pinned == {"patterns": f"{path.resolve()}@sha256:{digest}", "quorum": "1"}
    assert pin_parameters("committee", pinned) == pinned  # the same file pins the same
    assert pin_parameters("sma-cross", {"patterns": "x"}) == {"patterns": "x"}
    _, resolved = build_strategy("committee", pinned)
    assert resolved["patterns"] == pinned["patterns"]  # so the run id holds the digest
    patterns_file(tmp_path, proven(RSI_LONG, mean=0.02))
    for refuse in (
        lambda: pin_parameters("committee", pinned),
        lambda: build_strategy("committee", pinned),
    ):
        with pytest.raises(DataError, match="patterns file changed since the run") as error:
            refuse()
        assert f"the run used {digest}" in str(error.value)


BAD = {
    "none proven": (
        (proven(RSI_LONG, status="candidate"), proven(MIDNIGHT, status="rejected")),
        r"p\.jsonl: holds no proven pattern to trade \(its patterns: 1 candidate, 1 rejected\)",
    ),
    "no trade statistics": (
        (proven(MIDNIGHT, status="rejected"), ExportedPattern(RSI_LONG, "proven")),
        r"p\.jsonl:3: field 'scores': pattern \w{16}: expected a walk-forward",
    ),
    "unknown timeframe": (
        (proven(Pattern(RSI_LONG.entry, Side.LONG, Exit(5), timeframe="1fortnight")),),
        r"p\.jsonl:2: field 'timeframe': pattern \w{16}: ",
    ),
    "unknown feature": (
        (proven(Pattern((Condition("astrology:3", ">", 1),), Side.LONG, Exit(5))),),
        r"p\.jsonl:2: field 'feature': .*astrology",
    ),
}


@pytest.mark.parametrize("case", BAD.values(), ids=BAD.keys())
def test_a_file_that_cannot_be_traded_is_refused_naming_line_and_field(tmp_path, case):
    items, message = case
    path = patterns_file(tmp_path, *items)
    with pytest.raises(DataError, match=message):
        pin_parameters("committee", {"patterns": str(path)})


def test_the_agent_pattern_without_a_file_is_refused():
    with pytest.raises(InvalidStrategyError, match="agent pattern trades the proven patterns"):
        build_strategy("committee", {"agents": "trend,pattern"})


def test_bars_of_another_timeframe_are_refused_before_the_run(tmp_path):
    path = patterns_file(tmp_path, proven(RSI_LONG))
    strategy, _ = build_strategy("committee", {"patterns": str(path)})
    check_intervals(strategy, {"BTC-USD": NS_PER_HOUR})
    with pytest.raises(PatternTimeframeError, match="but ETH-USD's bars in this run are 4h"):
        check_intervals(strategy, {"BTC-USD": NS_PER_HOUR, "ETH-USD": 4 * NS_PER_HOUR})


def test_a_demotion_is_in_the_explanation_of_every_later_order(tmp_path):
    # A's stop loss closes each trade at once at -2% (the pattern proved +1% +- 1%): demoted
    # on day 1; B, flat, is then holding the pattern's long, which a last SELL exits.
    path = patterns_file(tmp_path, proven(MIDNIGHT))
    parameters = {
        "patterns": str(path),
        "agents": "pattern",
        "quorum": "1",
        "pattern.fee_rate": "0",
    }
    strategy, _ = build_strategy("committee", parameters)
    market = [daily_trades([-0.02] * 3, "A-USD"), flat(72, "B-USD")]
    result = run_backtest(market, strategy, BacktestConfig())
    start = int(market[0].ts[0])
    by_hour = {
        (order.instrument, (order.created_ts - start) // NS_PER_HOUR): order.client_order_id
        for order in result.orders
    }
    assert ("B-USD", 26) in by_hour  # the last SELL of the demoted pattern
    assert not [key for key in by_hour if key[1] > 26]  # and nothing after it
    before, after = result.rationales[by_hour["B-USD", 0]], result.rationales[by_hour["B-USD", 26]]
    assert not any("demoted" in line for line in before.details)
    (note,) = after.details[1:]
    assert note.startswith(f"pattern: pattern {MIDNIGHT.id} ({MIDNIGHT.describe()}) demoted at ")
    assert "on A-USD: " in note
    assert "it votes no more in this run" in note
    (vote,) = after.votes
    assert vote.direction == -1
    assert "was demoted (see the notes), so its long here has no reason left" in vote.reason
