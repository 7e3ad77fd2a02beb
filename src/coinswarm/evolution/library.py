"""Published rules and classic chart patterns, as patterns the loop tests like any other.

Each academic rule carries its reference. Lookbacks are stated in days, as the papers state
them, and turned into bars for the timeframe a rule is built for; crypto trades every day, so
a day is 24 hourly bars. The rules enter the loop on its cadence and face the same
walk-forward windows, fees and statistics as chaos's finds: a famous name proves nothing.
"""

from __future__ import annotations

from coinswarm.data.features.chart import DEFAULT_CHART_FEATURES
from coinswarm.data.timeframe import timeframe_ns
from coinswarm.domain.pattern import Condition, Exit, Pattern, Side, Source

__all__ = ["academic_patterns", "technical_patterns"]

BLL = (
    "Brock, Lakonishok & LeBaron (1992), Simple Technical Trading Rules and the Stochastic "
    "Properties of Stock Returns, Journal of Finance 47(5)"
)
MOP = (
    "Moskowitz, Ooi & Pedersen (2012), Time Series Momentum, Journal of Financial Economics 104(2)"
)
WILDER = "Wilder (1978), New Concepts in Technical Trading Systems: the Relative Strength Index"
BOLLINGER = "Bollinger (2001), Bollinger on Bollinger Bands"
DONCHIAN = "Donchian (1960) channel breakouts; the Turtle Traders' systems 1 and 2 (Faith 2007)"
APPEL = "Appel (1979), The Moving Average Convergence-Divergence Trading Method"
LMW = (
    "Lo, Mamaysky & Wang (2000), Foundations of Technical Analysis, Journal of Finance 55(4); "
    "Bulkowski, Encyclopedia of Chart Patterns"
)

_DAY_NS = 86_400 * 10**9
_BULLISH = ("double_bottom", "inverse_head_shoulders", "bull_flag", "range_breakout_up")


def _bars(days: float, timeframe: str) -> int:
    return max(1, round(days * _DAY_NS / timeframe_ns(timeframe)))


def academic_patterns(timeframe: str) -> tuple[Pattern, ...]:
    """Return the published rules, long only, built for bars of `timeframe`."""

    def rule(entry: tuple[Condition, ...], exit_: Exit, reference: str) -> Pattern:
        return Pattern(entry, Side.LONG, exit_, timeframe, Source.ACADEMIC, reference=reference)

    def bars(days: float) -> int:
        return _bars(days, timeframe)

    year = bars(365)
    rules = [
        # Variable-length moving average: long while price is above the long average, out
        # when it falls below; BLL's (1, 50), (1, 150), (1, 200) with a 0 and a 1% band.
        *(
            rule(
                (Condition(f"close_sma:{bars(days)}", ">", band),),
                Exit(year, conditions=(Condition(f"close_sma:{bars(days)}", "<", -band),)),
                BLL,
            )
            for days in (50, 150, 200)
            for band in (0.0, 0.01)
        ),
        # (5, 150): the short average is 5 days, not one.
        rule(
            (Condition(f"sma_gap:{bars(5)}:{bars(150)}", ">", 0.0),),
            Exit(year, conditions=(Condition(f"sma_gap:{bars(5)}:{bars(150)}", "<", 0.0),)),
            BLL,
        ),
        # Trading-range breakout: buy a close above the last 50/150/200 days' high, hold 10 days.
        *(
            rule((Condition(f"breakout_up:{bars(days)}", ">", 0.5),), Exit(bars(10)), BLL)
            for days in (50, 150, 200)
        ),
        # Time-series momentum: long after a positive 12-month return, held a month; and the
        # faster 1-month / 1-week version crypto studies use.
        rule((Condition(f"ret:{year}", ">", 0.0),), Exit(bars(30)), MOP),
        rule((Condition(f"ret:{bars(30)}", ">", 0.0),), Exit(bars(7)), MOP),
        # Wilder's RSI: buy oversold, leave once it recovers to the middle.
        rule(
            (Condition("rsi:14", "<", 30.0),),
            Exit(bars(20), conditions=(Condition("rsi:14", ">", 50.0),)),
            WILDER,
        ),
        # Bollinger: buy a close under the lower band, leave at the middle band.
        rule(
            (Condition("bb_pctb:20", "<", 0.0),),
            Exit(bars(20), conditions=(Condition("bb_pctb:20", ">", 0.5),)),
            BOLLINGER,
        ),
        # Turtle system 1 (20-day breakout, out on a 10-day low) and system 2 (55 / 20).
        rule(
            (Condition(f"breakout_up:{bars(20)}", ">", 0.5),),
            Exit(
                year, stop_loss=0.1, conditions=(Condition(f"breakout_down:{bars(10)}", ">", 0.5),)
            ),
            DONCHIAN,
        ),
        rule(
            (Condition(f"breakout_up:{bars(55)}", ">", 0.5),),
            Exit(
                year, stop_loss=0.1, conditions=(Condition(f"breakout_down:{bars(20)}", ">", 0.5),)
            ),
            DONCHIAN,
        ),
        # MACD: long while the histogram is positive.
        rule(
            (Condition("macd_hist:12:26:9", ">", 0.0),),
            Exit(year, conditions=(Condition("macd_hist:12:26:9", "<", 0.0),)),
            APPEL,
        ),
    ]
    return tuple(rules)


def technical_patterns(timeframe: str) -> tuple[Pattern, ...]:
    """Return the classic chart patterns: long on the bullish ones, short on the bearish."""
    hold = _bars(2, timeframe)
    patterns = []
    for feature in DEFAULT_CHART_FEATURES:
        family = feature.partition(":")[0]
        side = Side.LONG if family in _BULLISH else Side.SHORT
        patterns.append(
            Pattern(
                (Condition(feature, ">", 0.5),),
                side,
                Exit(hold, take_profit=0.04, stop_loss=0.02),
                timeframe,
                Source.TECHNICAL,
                reference=LMW,
            )
        )
    return tuple(patterns)
