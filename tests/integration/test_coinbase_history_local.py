"""Warm-up history from the local exchange over real HTTP: equal to the venue's own bars.

The venue replays synthetic hourly bars; its clock stands at the open of the latest revealed
bar, so by the venue's time that bar is still forming and by any later time it has closed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import httpx
import numpy as np
import pytest

from coinbase_harness import API, BTC_USD, PRODUCT, Control, credentials, make_venue
from coinswarm.data import synthetic_market
from coinswarm.domain.bar import NS_PER_HOUR, BarSeries
from coinswarm.domain.clock import WallClock
from coinswarm.exchanges.coinbase import ExchangeDataError, TokenBucket, TokenSigner
from coinswarm.exchanges.coinbase.history import fetch_history
from coinswarm.exchanges.coinbase.rest import RestClient
from coinswarm.exchanges.local_coinbase import (
    KeyRing,
    Venue,
    create_app,
    generate_key,
    serve_in_thread,
)

CANDLES = f"{API}/products/{PRODUCT}/candles"


@dataclass
class Local(Control):
    venue: Venue
    rest: RestClient
    control: httpx.Client
    asked: list[httpx.QueryParams]


def serve(venue: Venue) -> Iterator[Local]:
    key = generate_key()
    keys = KeyRing()
    keys.add(key)
    asked: list[httpx.QueryParams] = []
    app = create_app(venue, keys, control_api=True)
    with serve_in_thread(app) as server, httpx.Client(base_url=server.base_url) as control:
        http = httpx.Client(
            base_url=server.base_url,
            timeout=5.0,
            event_hooks={"request": [lambda r: asked.append(r.url.params)]},
        )
        rest = RestClient(
            http,
            TokenSigner(credentials(key), WallClock()),
            bucket=TokenBucket(20, monotonic=lambda: 0.0, sleep=lambda _: None),
            rng=random.Random(1),
            sleep=lambda _: None,
        )
        with http:
            yield Local(venue, rest, control, asked)


@pytest.fixture
def local() -> Iterator[Local]:
    yield from serve(make_venue(bars=1000, reveal=900))


def same(ours: BarSeries, theirs: BarSeries) -> None:
    assert ours.instrument == theirs.instrument
    assert ours.interval_ns == theirs.interval_ns
    for column in ("ts", "open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(ours, column), getattr(theirs, column)), column


def test_800_bars_equal_the_venue_bars_before_the_one_still_forming(local: Local) -> None:
    revealed = local.venue.revealed(PRODUCT)
    assert revealed is not None
    assert len(revealed) == 900
    (history,) = fetch_history(local.rest, [PRODUCT], bars=800, end_ts=local.venue.now_ns)
    forming = int(revealed.ts[-1])
    assert forming == local.venue.now_ns
    same(history, revealed.between(int(revealed.ts[-801]), forming))
    assert [int(q["limit"]) for q in local.asked] == [350, 350, 100]


def test_once_its_hour_is_over_the_latest_revealed_bar_is_history_too(local: Local) -> None:
    revealed = local.venue.revealed(PRODUCT)
    assert revealed is not None
    end = local.venue.now_ns + NS_PER_HOUR
    (history,) = fetch_history(local.rest, [PRODUCT], bars=2000, end_ts=end)
    same(history, revealed)  # all 900: the window reaches before the first bar
    local.advance(50)  # nothing after `end_ts` leaks in, even once the venue has it
    (again,) = fetch_history(local.rest, [PRODUCT], bars=2000, end_ts=end)
    same(again, revealed)


def test_gaps_in_the_venue_stay_gaps() -> None:
    full = synthetic_market(instrument=PRODUCT, bars=500, seed=3, start_price=20_000.0)
    keep = np.array([i not in {10, 11, 12, 400} for i in range(len(full))])
    holed = BarSeries(
        PRODUCT,
        full.interval_ns,
        full.ts[keep],
        full.open[keep],
        full.high[keep],
        full.low[keep],
        full.close[keep],
        full.volume[keep],
    )
    balances = {"USD": Decimal(1000)}
    venue = Venue({PRODUCT: BTC_USD}, [holed], balances=balances, reveal=len(holed))
    for local in serve(venue):
        end = venue.now_ns + NS_PER_HOUR
        (history,) = fetch_history(local.rest, [PRODUCT], bars=500, end_ts=end)
        same(history, holed)
        assert len(history) == 496
        gaps = np.diff(history.ts) // NS_PER_HOUR
        assert sorted(gaps[gaps > 1].tolist()) == [2, 4]  # hours 10-12 and 400 are missing


def test_a_spoiled_candle_from_the_exchange_is_refused_with_its_time(local: Local) -> None:
    now_s = local.venue.now_ns // 1_000_000_000
    bad = {
        "start": str(now_s - 3600),
        "low": "100",
        "high": "99",
        "open": "100",
        "close": "100",
        "volume": "1",
    }
    local.fault(method="GET", path=CANDLES, kind="status", status_code=200, body={"candles": [bad]})
    with pytest.raises(ExchangeDataError) as caught:
        fetch_history(local.rest, [PRODUCT], bars=10, end_ts=local.venue.now_ns)
    assert caught.value.field == "candles.0.high"
    assert "BTC-USD candle at 2022-02-07T10:00:00Z: expected high >= low 100" in str(caught.value)
