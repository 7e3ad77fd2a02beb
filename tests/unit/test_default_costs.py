"""A backtest as a user asks for it costs at least the roadmap's realistic slippage, and says so."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal

import numpy as np

from coinswarm import bootstrap
from coinswarm.backtest import recording
from coinswarm.backtest.engine import BacktestConfig
from coinswarm.backtest.session_replay import read_start
from coinswarm.domain.bar import NS_PER_HOUR
from coinswarm.domain.costs import FillModel
from coinswarm.domain.order import OrderSide
from coinswarm.domain.slippage import FixedSlippage, SlippageModel
from coinswarm.infra.session_journal import Record

BARS = 3000
REQUEST = bootstrap.BacktestRequest(
    synthetic_bars=BARS, parameters={"fast": "10", "slow": "30"}, store="none"
)
FLOOR = Decimal(10) / 10_000


def _outcome(request: bootstrap.BacktestRequest) -> bootstrap.BacktestOutcome:
    return bootstrap.run(request)


def test_by_default_every_fill_slips_at_least_ten_bps_from_the_open_it_took():
    outcome = _outcome(REQUEST)
    (series,) = outcome.result.market.values()
    fills = outcome.result.fills
    assert len(fills) > 20
    for fill in fills:
        opened = Decimal(repr(float(series.open[int(np.searchsorted(series.ts, fill.ts))])))
        if fill.side is OrderSide.BUY:
            assert fill.price >= opened * (1 + FLOOR)
        else:
            assert fill.price <= opened * (1 - FLOOR)


def test_the_default_costs_more_than_no_slippage_and_is_another_run():
    modelled = _outcome(REQUEST)
    frictionless = _outcome(replace(REQUEST, slippage=FixedSlippage()))
    assert modelled.result.final_equity < frictionless.result.final_equity
    assert modelled.run_id != frictionless.run_id
    # Other model parameters are other costs, so another run too.
    wider = _outcome(replace(REQUEST, slippage=SlippageModel(floor_bps=Decimal(20))))
    assert wider.run_id not in (modelled.run_id, frictionless.run_id)
    assert wider.result.final_equity < modelled.result.final_equity


def test_the_summary_states_the_cost_assumptions():
    summary = _outcome(replace(REQUEST, fee_bps=Decimal(25), max_volume_share=Decimal("0.1")))
    costs = summary.summary()["costs"]
    assert costs == {
        "maker_bps": "25",
        "taker_bps": "25",
        "slippage": {
            "kind": "model",
            "floor_bps": "10",
            "range_share": "0.1",
            "impact_bps": "100",
            "ceiling_bps": "1000",
        },
        "max_volume_share": "0.1",
    }


def test_a_stored_request_comes_back_with_its_slippage():
    for slippage in (SlippageModel(), FixedSlippage(bps=Decimal(5))):
        request = replace(REQUEST, slippage=slippage)
        stored = bootstrap.request_to_json(request)
        assert bootstrap.request_from_json(stored) == request


def test_a_run_stored_before_the_model_resumes_with_its_fixed_figure_and_id():
    stored = bootstrap.request_to_json(replace(REQUEST, slippage=FixedSlippage()))
    del stored["slippage"]
    stored["slippage_bps"] = "0"  # how runs were stored when the default was no slippage
    request = bootstrap.request_from_json(stored)
    assert request.slippage == FixedSlippage()
    # The run id of a fixed figure is the one it had then: "0" as the slippage's identity.
    old_inputs = bootstrap._run_inputs(request, dict(REQUEST.parameters), None)
    assert old_inputs["slippage_bps"] == "0"


def _start_record(config: BacktestConfig) -> Record:
    data = recording._start(
        mode="paper",
        strategy="sma-cross",
        config=config,
        instruments=["BTC-USDT"],
        interval_ns=NS_PER_HOUR,
        clock=recording.HISTORICAL,
        run_id="r",
        resumed=False,
        book=False,
    )
    return Record(1, "start", json.loads(json.dumps(data)))


def test_a_session_journal_replays_with_the_slippage_it_recorded(tmp_path):
    model = SlippageModel(floor_bps=Decimal(15))
    config = BacktestConfig(fill_model=FillModel(slippage=model), parameters={})
    start = read_start(tmp_path / "j.jsonl", _start_record(config))
    assert start.config.fill_model.slippage == model


def test_a_journal_recorded_before_the_model_replays_with_its_fixed_figure(tmp_path):
    record = _start_record(BacktestConfig(parameters={}))
    data = dict(record.data)
    del data["slippage"]
    data["slippage_bps"] = "0"  # how journals were written when the default was no slippage
    start = read_start(tmp_path / "j.jsonl", Record(1, "start", data))
    assert start.config.fill_model.slippage == FixedSlippage()
