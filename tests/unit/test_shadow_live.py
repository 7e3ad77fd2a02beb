"""The shadow backtest beside a session: the gap as the session trades, as the journal's shadow."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from absent import absent
from coinswarm.backtest.engine import BacktestConfig, VenueFactory, run_live, simulated_venue
from coinswarm.backtest.recording import HISTORICAL, Recorder
from coinswarm.backtest.result import BacktestResult
from coinswarm.backtest.shadow import (
    MATCHED,
    MISSED,
    PARTIAL,
    UNFILLED,
    ShadowReport,
    Trades,
    attribute,
    shadow_journal,
)
from coinswarm.backtest.shadow_live import LiveShadow, ShadowFailedError
from coinswarm.data import synthetic_market
from coinswarm.data.loader import load_bars
from coinswarm.domain.bar import NS_PER_HOUR, Bar, BarSeries
from coinswarm.domain.clock import Clock, HistoricalClock
from coinswarm.domain.costs import FillModel
from coinswarm.domain.instrument import Instrument
from coinswarm.domain.order import OrderStatus
from coinswarm.domain.slippage import FixedSlippage
from coinswarm.exchanges.base import Venue
from coinswarm.risk.profiles import profile_for
from coinswarm.strategies import build_strategy
from coinswarm.strategies.base import Intent, StrategyContext

PRODUCT = "BTC-USD"
SMA = ("sma-cross", {"fast": "3", "slow": "8"})
REAL_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "binance-spot-1h"


def _market(bars: int = 400) -> list[Bar]:
    series = synthetic_market(instrument=PRODUCT, bars=bars, seed=7)
    return [series.bar(i) for i in range(len(series))]


def _config(name: str, parameters: Mapping[str, str]) -> BacktestConfig:
    _, resolved = build_strategy(name, parameters)
    # The shadow assumes no slippage, so a session's gap is exactly what its venue slipped.
    return BacktestConfig(
        initial_cash=Decimal(100_000),
        fill_model=FillModel(slippage=FixedSlippage()),
        parameters=resolved,
        risk=profile_for(1),
    )


def _worse(model: FillModel) -> VenueFactory:
    """The simulated exchange with `model` instead of the session's: the session trades worse."""

    def build(instruments: Mapping[str, Instrument], clock: Clock, config: BacktestConfig) -> Venue:
        return simulated_venue(instruments, clock, replace(config, fill_model=model))

    return build


def _session(
    shadow: LiveShadow,
    bars: Sequence[Bar] | Iterator[Bar],
    config: BacktestConfig,
    strategy: tuple[str, Mapping[str, str]] = SMA,
    *,
    venue: VenueFactory = simulated_venue,
    instrument: str = PRODUCT,
) -> BacktestResult:
    """Trade a session beside `shadow`, wired as a session wires it."""
    bars = iter(bars)
    first = next(bars)

    def feed() -> Iterator[Bar]:
        yield first
        yield from bars

    return run_live(
        shadow.follow(feed()),
        build_strategy(*strategy)[0],
        config,
        instruments=[instrument],
        clock=HistoricalClock(first.ts),
        venue=venue,
        journal=shadow.watch(),
    )


def _shadow(
    config: BacktestConfig, strategy: tuple[str, Mapping[str, str]] = SMA, instrument: str = PRODUCT
) -> LiveShadow:
    return LiveShadow(*strategy, config, instruments=[instrument]).start()


@pytest.mark.parametrize(
    ("strategy", "bars"), [(SMA, 400), (("committee", {}), 1200)], ids=["sma-cross", "committee"]
)
def test_fed_the_bars_of_a_simulated_session_the_shadow_sees_no_gap(
    strategy: tuple[str, Mapping[str, str]], bars: int
) -> None:
    config = _config(*strategy)
    shadow = _shadow(config, strategy)
    session = _session(shadow, _market(bars), config, strategy)
    shadow.close()
    report = shadow.report()
    assert len(session.fills) >= 4
    assert len(report.gaps) == len(session.orders)
    # An order sent on the last bar (a risk-layer trim, say) is still open on both sides.
    still_open = {o.client_order_id for o in session.orders if o.status is OrderStatus.OPEN}
    assert {g.kind for g in report.gaps if g.client_order_id not in still_open} == {MATCHED}
    assert all(g.kind == UNFILLED for g in report.gaps if g.client_order_id in still_open)
    assert report.slippage_cost == 0
    filled = [g for g in report.gaps if g.client_order_id not in still_open]
    assert all(g.latency_bars == 0 and g.slippage_bps == 0 for g in filled)
    # The shadow is the backtest of the session's own strategy, fresh, on the same bars.
    assert shadow.result is not None
    assert shadow.result.fills == session.fills


def _recorded_session(
    path: Path, bars: list[Bar], config: BacktestConfig, venue: VenueFactory, instrument: str
) -> LiveShadow:
    """Trade a journalled session beside a live shadow; return the shadow, closed."""
    recorder = Recorder(
        path,
        mode="paper",
        strategy=SMA[0],
        config=config,
        instruments=[instrument],
        interval_ns=NS_PER_HOUR,
        clock=HISTORICAL,
        run_id="shadowed",
    )
    shadow = _shadow(config, instrument=instrument)
    result = _session(shadow, bars, config, venue=recorder.venue(venue), instrument=instrument)
    recorder.finish(result)
    shadow.close()
    return shadow


def test_a_session_filled_worse_shows_the_gap_the_journals_shadow_shows(tmp_path: Path) -> None:
    config = _config(*SMA)
    worse = _worse(
        FillModel(slippage=FixedSlippage(bps=Decimal(25)), max_volume_share=Decimal("0.002"))
    )
    path = tmp_path / "session.jsonl"
    shadow = _recorded_session(path, _market(), config, worse, PRODUCT)
    live = shadow.report()
    matched = [g.slippage_bps for g in live.gaps if g.kind == MATCHED]
    # Filled at once, the session pays the 25 bps; in slivers, the bars' moves come in too.
    slipped = [s.quantize(Decimal("0.01")) for s in matched if s is not None]
    assert len(slipped) == len(matched) >= 10
    assert slipped.count(Decimal("25.00")) > len(slipped) // 2
    assert live.slippage_cost > 0
    # Sells of what the dearer buys bought are short; a drawdown stop ends the session early.
    assert live.count(PARTIAL) >= 10
    assert live.count(MISSED) >= 1
    assert live.to_json() == shadow_journal(path).to_json()


def test_on_real_hourly_candles_the_live_and_the_journal_shadows_agree(tmp_path: Path) -> None:
    source = REAL_DATA / "BTC_USDT-1h.csv.gz"
    if not source.exists():
        absent(f"real market data is absent ({source}); see ../shared/data/README.md")
    series: BarSeries = load_bars(source, instrument="BTC-USDT")
    # 2021-05-19, one of the flash crashes, with a week on either side.
    crash = series.between(1_620_864_000 * 10**9, 1_622_073_600 * 10**9)
    bars = [crash.bar(i) for i in range(len(crash))]
    config = _config(*SMA)
    worse = _worse(
        FillModel(slippage=FixedSlippage(bps=Decimal(10)), max_volume_share=Decimal("0.00005"))
    )
    path = tmp_path / "session.jsonl"
    shadow = _recorded_session(path, bars, config, worse, "BTC-USDT")
    live = shadow.report()
    # A sliver of each bar's volume: the session's orders fill bars after the shadow's.
    assert live.count(MATCHED) >= 10
    assert live.latency_bars > 0
    assert live.to_json() == shadow_journal(path).to_json()


def test_edited_session_fills_are_put_down_to_slippage_missed_and_partial() -> None:
    config = _config(*SMA)
    shadow = _shadow(config)
    _session(shadow, _market(), config)
    shadow.close()
    honest = shadow.session_trades()
    buy, sell, dearer = (
        next(o for o in honest.orders if o.request.quote_quantity is not None),
        next(o for o in honest.orders if o.request.quantity is not None),
        next(o for o in reversed(honest.orders) if o.status is OrderStatus.FILLED),
    )
    assert len({buy.order_id, sell.order_id, dearer.order_id}) == 3
    fills = []
    for fill in honest.fills:
        if fill.order_id == buy.order_id:
            continue  # the session never heard of this order's fills
        edited = fill
        if fill.order_id == sell.order_id:
            edited = replace(fill, quantity=fill.quantity / 2)
        if fill.order_id == dearer.order_id:
            edited = replace(fill, price=fill.price * (1 + fill.side.sign * Decimal("0.01")))
        fills.append(edited)
    session = replace(honest, fills=tuple(fills))
    report = shadow.report(session)
    kinds = {g.client_order_id: g.kind for g in report.gaps}
    assert kinds[buy.client_order_id] == MISSED
    assert kinds[sell.client_order_id] == PARTIAL
    gap = next(g for g in report.gaps if g.client_order_id == dearer.client_order_id)
    assert gap.slippage_bps == Decimal(100)
    still_open = {o.client_order_id for o in honest.orders if o.status is OrderStatus.OPEN}
    edited = {buy.client_order_id, sell.client_order_id, dearer.client_order_id}
    others = set(kinds) - edited - still_open
    assert others
    assert {kinds[c] for c in others} == {MATCHED}
    # What the live shadow reports is what `attribute` says over the same trades afterwards.
    after = attribute(session.traded(), shadow.shadow_trades().traded())
    assert report == after


def _reports_along(
    shadow: LiveShadow, bars: list[Bar], seen: dict[int, tuple[ShadowReport, str]]
) -> Iterator[Bar]:
    """Yield `bars`; before the bar at each position in `seen`, note the shadow's report."""
    for i, bar in enumerate(bars):
        if i in seen:
            seen[i] = (shadow.report(), shadow.summary())
        yield bar


def test_a_report_mid_run_reflects_exactly_the_bars_stepped_so_far() -> None:
    config = _config(*SMA)
    worse = _worse(
        FillModel(slippage=FixedSlippage(bps=Decimal(25)), max_volume_share=Decimal("0.002"))
    )
    bars = _market()
    none = (ShadowReport(()), "")
    seen = dict.fromkeys((1, 60, 137, 250, 399), none)
    shadow = _shadow(config)
    _session(shadow, _reports_along(shadow, bars, seen), config, venue=worse)
    shadow.close()
    final = shadow.report()
    for n in sorted(seen):
        # The same session and shadow stopped after n bars report what the running pair did.
        alone = _shadow(config)
        _session(alone, bars[:n], config, venue=worse)
        alone.close()
        report, line = seen[n]
        assert report == alone.report(), f"after {n} bars"
        assert line.startswith(f"shadow backtest after {n} bars: ")
    assert seen[399][0] != final  # a trade came later: each report was of its own moment
    assert len(seen[60][0].gaps) < len(final.gaps)


class _Broken:
    name = "broken"

    def __init__(self, after: int) -> None:
        self._left = after

    def on_bar(self, bar: Bar, context: StrategyContext) -> Sequence[Intent]:
        self._left -= 1
        if self._left < 0:
            msg = "the strategy broke"
            raise ArithmeticError(msg)
        return ()


def test_a_strategy_that_raises_on_the_shadow_thread_is_raised_by_close(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = _config(*SMA)
    monkeypatch.setattr(
        "coinswarm.backtest.shadow_live.build_strategy", lambda *_: (_Broken(after=30), {})
    )
    shadow = _shadow(config)
    monkeypatch.undo()
    lines: list[str] = []
    bars = _market(200)
    session = run_live(
        shadow.follow(iter(bars), log=lines.append, every=50),
        build_strategy(*SMA)[0],
        config,
        instruments=[PRODUCT],
        clock=HistoricalClock(bars[0].ts),
        venue=simulated_venue,
        journal=shadow.watch(),
    )
    assert session.fills, "the session traded on, every bar, whatever became of its shadow"
    assert len(lines) == 1
    assert lines[0] == "the shadow backtest stopped: the strategy broke"
    with pytest.raises(ShadowFailedError, match="the strategy broke"):
        shadow.report()
    with pytest.raises(ShadowFailedError) as raised:
        shadow.close()
    assert isinstance(raised.value.__cause__, ArithmeticError)


def test_trades_of_nothing_report_no_gap() -> None:
    config = _config(*SMA)
    with LiveShadow(*SMA, config, instruments=[PRODUCT]) as shadow:
        shadow.watch()
        assert shadow.report().gaps == ()
        assert shadow.shadow_trades() == Trades()
    assert shadow.report().gaps == ()
