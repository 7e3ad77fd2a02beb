"""What the read endpoints answer: one pydantic model per shape, the contract of the dashboards.

Conventions, the same in every model:
- Money and quantities are decimal strings ("10000.5"), never floats: a float in JSON loses
  digits a ledger keeps. Ratios (drawdown, Sharpe, weights, hit rates) are plain numbers.
- Times are UTC nanoseconds (`*_ts`, `*_ns`, integers). Some ids are ISO text besides.
- A score always says its sample in its name: `in_sample_*`, `out_of_sample_*`, `holdout_*`.
- A list that can be long is a `Page`: newest first unless `order=oldest` is asked for, at
  most `limit` items, and `next`, the `after` that fetches the page after this one (None at
  the end). Items carry `seq`, the key the pages are cut on.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AgentDay",
    "AgentRecord",
    "AgentsReport",
    "Bar",
    "BreakerEvent",
    "Checkpoint",
    "EquityCurve",
    "EquityPoint",
    "EvolutionProgress",
    "EvolutionRunProgress",
    "FillItem",
    "Limit",
    "LineageItem",
    "ModeRisk",
    "OrderExplanation",
    "OrderItem",
    "Page",
    "PatternDetail",
    "PatternItem",
    "Portfolio",
    "PositionItem",
    "RiskDecision",
    "RiskReport",
    "RunComparison",
    "RunDetail",
    "RunSummary",
    "ScoreItem",
    "SharedSwitch",
    "StateChangeItem",
    "Stop",
    "VerdictItem",
    "VoteItem",
]

Item = TypeVar("Item", bound=BaseModel)
Order = Literal["newest", "oldest"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Page(_Model, Generic[Item]):
    """One page of a long list, cut on each item's `seq`."""

    items: list[Item]
    order: Order
    next: int | None = Field(description="pass as `after` for the next page; None: no more")
    total: int = Field(description="how many items the whole list holds")


# -- runs --------------------------------------------------------------------------------------


class RunSummary(_Model):
    """One stored run, as `coinswarm runs list` shows it."""

    run: str
    mode: str
    strategy: str
    parameters: dict[str, Any]
    data: str = Field(description="what it traded on, in a few words")
    status: str = Field(description="running, finished, failed, interrupted or killed")
    database: str = Field(description="where it is stored (a password is never shown)")
    started: str | None = Field(description="when it first started, ISO UTC (wall clock)")
    started_ns: int | None
    final_equity: str | None = Field(description="from its summary; None if it did not end")
    orders: int
    fills: int
    metrics: dict[str, str | float | int | None] = Field(
        description="the run's own figures over every bar it ran (money as strings): what it "
        "did, not an out-of-sample score (parameters chosen on the same bars make them "
        "in-sample)"
    )
    resume: str | None = Field(description="the command that resumes it, if it can be")
    resume_note: str | None


class Checkpoint(_Model):
    ts: int
    cash: dict[str, str]
    positions: dict[str, str]


class RunDetail(RunSummary):
    """Everything known about one run (`coinswarm runs show`)."""

    stored_status: str
    reason: str | None = Field(description="why it failed or was interrupted")
    venue: str
    inputs: dict[str, Any]
    created_ts: int
    updated_ts: int
    last_started: str | None
    rows: dict[str, int] = Field(description="rows of each table the run holds")
    last_checkpoint: Checkpoint | None
    summary: dict[str, Any] | None
    explained: bool = Field(description="its folder keeps an explanation of every order")
    report: bool = Field(description="an HTML report was written for it")


class RunComparison(_Model):
    """Runs side by side: `metrics[name]` lists each run's figure, in the order of `runs`."""

    runs: list[RunSummary]
    metrics: dict[str, list[str | float | int | None]]


# -- orders, fills, verdicts -------------------------------------------------------------------


class OrderItem(_Model):
    seq: int = Field(description="the order's number in the store: the paging key")
    order_id: str
    client_order_id: str
    instrument: str
    side: str
    type: str
    status: str
    quantity: str | None
    quote_quantity: str | None
    limit_price: str | None
    stop_price: str | None
    filled_quantity: str
    average_fill_price: str
    fees: str
    reject_reason: str | None
    created_ts: int = Field(description="the bar it was decided on (market time)")
    updated_ts: int


class FillItem(_Model):
    seq: int = Field(description="the fill's number in the run's ledger: the paging key")
    trade_id: str
    order_id: str
    client_order_id: str
    instrument: str
    side: str
    quantity: str
    price: str
    fee: str
    fee_currency: str
    ts: int
    liquidity: str


class VoteItem(_Model):
    agent: str
    action: str = Field(description="BUY, SELL or HOLD")
    direction: int = Field(description="1 buy, -1 sell, 0 hold")
    confidence: float
    size_hint: float
    weight: float = Field(
        description="the committee's weight for the agent then: its decayed hit rate"
    )
    veto: bool
    reason: str


class VerdictItem(_Model):
    seq: int = Field(description="the verdict's number in the store: the paging key")
    instrument: str
    ts: int
    action: str
    direction: int
    score: float = Field(description="weighted mean of direction x confidence, in [-1, 1]")
    size: float
    vetoed_by: list[str]
    reason: str
    votes: list[VoteItem]


class Bar(_Model):
    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class RiskDecision(_Model):
    action: str = Field(description="approved, shrunk, rejected or blocked")
    reason: str
    requested: str | None
    sent: str | None


class StateChangeItem(_Model):
    seq: int
    ts: int
    from_status: str | None
    to_status: str
    filled_quantity: str


class OrderExplanation(_Model):
    """Why an order was placed: the bar, the votes, the verdict, the risk decision, the fills."""

    run: str
    order: OrderItem
    decided_ts: int
    bar: Bar | None = Field(description="the bar it was decided on, if its run kept it")
    summary: str | None = Field(description="the strategy's one line of why")
    details: list[str]
    verdict: VerdictItem | None = Field(description="the committee's verdict on that bar")
    votes: list[VoteItem]
    risk: RiskDecision | None
    fills: list[FillItem]
    history: list[StateChangeItem]
    lines: list[str] = Field(description="the explanation as `coinswarm explain` prints it")


# -- the account -------------------------------------------------------------------------------


class EquityPoint(_Model):
    ts: int
    equity: str
    drawdown: float = Field(description="fraction below the peak so far: 0 or less")


class EquityCurve(_Model):
    """A run's equity over time, at most `max_points` points (peaks and troughs kept)."""

    run: str
    currency: str
    marked: Literal["close", "fill"] = Field(
        description="close: marked at every bar's close (the report's curve); fill: at each "
        "fill, every holding at its last traded price (no bars were kept)"
    )
    initial_cash: str
    points: list[EquityPoint]
    total_points: int = Field(description="points before thinning")
    max_drawdown: float = Field(description="the deepest drawdown of the whole curve, <= 0")
    run_max_drawdown: float | None = Field(
        description="the run's own figure, from its summary (a positive fraction)"
    )


class PositionItem(_Model):
    instrument: str
    quantity: str
    average_cost: str
    realised_pnl: str
    fees: str
    mark: str | None = Field(description="the latest price known: a close or a fill's")
    mark_ts: int | None
    market_value: str | None
    unrealised_pnl: str | None
    share_of_equity: float | None


class Portfolio(_Model):
    """The run's account at its latest checkpoint, marked at the latest price known."""

    run: str
    as_of_ts: int | None = Field(description="the checkpoint's time; None: none yet")
    currency: str | None
    cash: dict[str, str]
    fees: dict[str, str]
    equity: str | None
    realised_pnl: str
    round_trips: int
    positions: list[PositionItem]


# -- risk --------------------------------------------------------------------------------------


class Limit(_Model):
    """One hard limit of the profile and how much of it is used (`used` / `limit`)."""

    name: str
    limit: float | int
    used: float | int | None = Field(description="None when the run gives no figure yet")
    closeness: float | None = Field(description="used / limit: 1 means the limit is reached")
    unit: Literal["fraction", "count"]
    detail: str


class Stop(_Model):
    kind: str
    reason: str


class BreakerEvent(_Model):
    run: str
    ts: int
    source: str
    kind: str
    reason: str
    actor: str | None


class SharedSwitch(_Model):
    where: str = Field(description="the Redis server, without its password")
    set: bool
    by: str | None
    reason: str | None
    ts: int | None


class ModeRisk(_Model):
    """One mode's risk: its profile, how close each limit is, what stops it, what happened."""

    mode: str
    run: str | None = Field(description="the latest run of the mode, whose figures are used")
    run_status: str | None
    phase: int | None
    profile: str | None
    limits: list[Limit]
    stopped: bool = Field(description="a running session of this mode refuses new exposure")
    stops: list[Stop]
    breaker_tripped: bool
    breaker_latched: bool
    breaker_reason: str | None
    breaker_resume_ts: int | None
    pending_actions: int = Field(description="stops or resets a session has yet to apply")
    log: list[str] = Field(description="the state file's latest lines, oldest first")
    breaker_history: list[BreakerEvent] = Field(description="stored risk events, newest first")


class RiskReport(_Model):
    modes: list[ModeRisk]
    shared: SharedSwitch | None = Field(description="the shared kill switch, when configured")


# -- patterns ----------------------------------------------------------------------------------


class PatternItem(_Model):
    """One pattern of the leaderboard; every score names its sample."""

    pattern_id: str
    run_id: str
    status: str = Field(description="candidate, proven, rejected, retired (demoted), imported")
    proven: bool
    reason: str = Field(description="why it stands where it does")
    source: str = Field(description="CHAOS, ACADEMIC, TECHNICAL or EVOLVED")
    reference: str
    timeframe: str
    rule: str
    born_cycle: int
    retired_cycle: int | None
    parents: list[str]
    in_sample_sharpe: float | None
    in_sample_return: float | None
    in_sample_trades: int | None
    out_of_sample_sharpe: float | None
    out_of_sample_return: float | None
    out_of_sample_trades: int | None
    out_of_sample_deflated_sharpe: float | None = Field(
        description="the out-of-sample Sharpe deflated for the trials the search made"
    )
    search_pbo: float | None = Field(
        description="probability of backtest overfitting of the search that judged it"
    )
    out_of_sample_reality_check_p: float | None
    out_of_sample_random_entry_p: float | None
    search_trials: int | None
    holdout_sharpe: float | None
    holdout_return: float | None


class ScoreItem(_Model):
    sample: str = Field(description="in_sample, out_of_sample or holdout")
    cycle: int
    timeframe: str
    instruments: list[str]
    start_ns: int
    end_ns: int
    trades: int
    net_return: float
    sharpe: float
    max_drawdown: float
    deflated_sharpe: float | None
    pbo: float | None
    n_trials: int | None
    reality_check_p: float | None
    random_entry_p: float | None


class LineageItem(_Model):
    run_id: str
    child_id: str
    parent_id: str


class PatternDetail(PatternItem):
    lineage: list[LineageItem] = Field(description="every link to its first ancestors")
    scores: list[ScoreItem] = Field(description="every score, in the order received")


# -- agents ------------------------------------------------------------------------------------


class AgentDay(_Model):
    day: str = Field(description="UTC date of the bars voted on (market time)")
    votes: int
    buys: int
    sells: int
    holds: int
    vetoes: int
    weight: float = Field(description="mean weight the committee gave the agent that day")
    scored: int
    hits: int
    hit_rate: float | None


class AgentRecord(_Model):
    agent: str
    votes: int
    buys: int
    sells: int
    holds: int
    vetoes: int
    weight: float = Field(description="the weight of its latest vote")
    mean_weight: float
    scored: int
    hits: int
    hit_rate: float | None
    days: list[AgentDay]


class AgentsReport(_Model):
    """Each agent's votes, weight and hit rate over time in one run.

    A vote is a hit when its direction (buy +1, sell -1) matches the sign of the next bar's
    close-to-close return of its instrument; holds and vetoes are not scored, and neither is
    the last bar's vote. Days are UTC days of the bars (market time in a backtest).
    """

    run: str | None
    hit_basis: Literal["next bar close", "unavailable"] = Field(
        description="unavailable: the run's bars were not kept, so votes are counted only"
    )
    agents: list[AgentRecord]


# -- evolution ---------------------------------------------------------------------------------


class EvolutionRunProgress(_Model):
    run_id: str
    status: str
    imported: bool
    created_ns: int
    finished_ns: int | None
    cycles_done: int
    cycles_planned: int | None
    closed: bool = Field(description="its closing step (holdout, verdicts) is done")
    progress: float | None = Field(description="cycles done / planned, in [0, 1]")
    trials: int
    patterns: dict[str, int] = Field(description="patterns of the run by status")
    candidates: int
    proven: int


class EvolutionProgress(_Model):
    status: str = Field(description="running if any run is, else the latest run's; idle")
    runs: list[EvolutionRunProgress] = Field(description="newest first")
    cycles: int
    trials: int
    candidates: int
    proven: int
