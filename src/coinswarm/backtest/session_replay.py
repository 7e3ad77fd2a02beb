"""Re-run a recorded session as a backtest and check it decides and trades the same.

The replay rebuilds the strategy and configuration from the journal's `start` record and runs
the live engine (`run_live`) on the recorded bars. `ReplayClock` returns the recorded clock
readings in order and `ReplayVenue` the recorded venue answers in order; both read one tape, so
the engine must ask for exactly what the session asked for, in the same order. Anything else is
a divergence, raised at once naming the journal line the replay could not match. At the end
the replay's digest is compared with the one the session stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from coinswarm.backtest.engine import BacktestConfig, Book, run_live
from coinswarm.backtest.operator import SimulatedOperator
from coinswarm.backtest.recording import (
    HISTORICAL,
    HISTORY,
    PERSON,
    RECONCILED,
    SHARED,
    WALL,
    decisions,
    digest,
)
from coinswarm.backtest.result import BacktestResult
from coinswarm.domain.bar import Bar, BarSeries
from coinswarm.domain.clock import Clock, HistoricalClock
from coinswarm.domain.costs import FeeSchedule, FillModel
from coinswarm.domain.fill import Fill
from coinswarm.domain.instrument import Instrument, instrument_from_symbol
from coinswarm.domain.ledger import Deposit, Ledger
from coinswarm.domain.order import Order, OrderRequest
from coinswarm.domain.slippage import FixedSlippage, Slippage, slippage_from_json
from coinswarm.exchanges.base import Venue
from coinswarm.infra.session_codec import (
    FieldError,
    bar_from_json,
    decimal_or_none,
    deposit_from_json,
    fill_from_json,
    instrument_from_json,
    order_from_json,
    request_to_json,
)
from coinswarm.infra.session_journal import JournalError, Record, read_journal
from coinswarm.infra.state import KillSwitchFlag
from coinswarm.orchestration.door import Door
from coinswarm.orchestration.state_file_operator import apply_person, follow_shared
from coinswarm.risk.circuit_breaker import BreakerState
from coinswarm.risk.errors import RiskConfigError, RiskStateError
from coinswarm.risk.kill_switch import KillSwitchState
from coinswarm.risk.profiles import BreakerSettings, RiskProfile, profile_for
from coinswarm.risk.state_file import PersonAction, StoredRiskState
from coinswarm.strategies import build_strategy

__all__ = [
    "ReplayClock",
    "ReplayDivergenceError",
    "ReplayReport",
    "ReplayVenue",
    "SessionStart",
    "Tape",
    "read_start",
    "replay_journal",
]

T = TypeVar("T")


class ReplayDivergenceError(JournalError):
    """The replay asked for something the journal does not have next: names the line."""


class Tape:
    """The journal's records after `start`, taken strictly in order by the clock and venue."""

    def __init__(self, path: Path, records: Sequence[Record]) -> None:
        self.path = path
        self._records = records
        self._at = 1  # past `start`
        while self._at < len(records) and records[self._at].kind == HISTORY:
            self._at += 1  # the warm-up bars: read by `history`, not taken by the engine
        self.fill_lines: dict[str, int] = {}  # trade id -> the line that brought the fill

    def next_kind(self) -> str | None:
        """Return the kind of the next record, or None at the end."""
        return self._records[self._at].kind if self._at < len(self._records) else None

    def take(self, kind: str, asked: str) -> Record:
        """Return the next record, which must be of `kind`, else raise a divergence."""
        record = self._records[self._at]
        if record.kind != kind:
            problem = (
                f"replay diverged: the engine asked for {asked}, the journal has a "
                f"{record.kind!r} record here"
            )
            raise ReplayDivergenceError(self.path, record.line, problem)
        self._at += 1
        return record

    def read(self, record: Record, name: str, parse: Callable[[Any], T]) -> T:
        """Return one field of `record` parsed, or raise naming the line and field."""
        try:
            if name not in record.data:
                raise FieldError(name, "missing")
            return parse(record.data[name])
        except FieldError as error:
            raise JournalError(self.path, record.line, str(error)) from None
        except (ValueError, TypeError) as error:
            problem = f"field '{name}': cannot read {record.data.get(name)!r}: {error}"
            raise JournalError(self.path, record.line, problem) from None

    def whole(self, record: Record, parse: Callable[[Mapping[str, Any]], T]) -> T:
        """Return the whole record parsed, or raise naming the line and field."""
        try:
            return parse(record.data)
        except FieldError as error:
            raise JournalError(self.path, record.line, str(error)) from None

    def expect(self, record: Record, name: str, expected: object) -> None:
        """Raise a divergence unless field `name` of `record` is `expected`."""
        found = record.data.get(name)
        if found != expected:
            problem = (
                f"replay diverged: field '{name}': the engine asked for {expected!r}, "
                f"the session asked for {found!r}"
            )
            raise ReplayDivergenceError(self.path, record.line, problem)

    def finished(self) -> None:
        """Raise a divergence unless only the `end` record is left."""
        record = self._records[self._at]
        if record.kind != "end":
            problem = f"replay diverged: the replay ended, the session went on with {record.kind!r}"
            raise ReplayDivergenceError(self.path, record.line, problem)


class ReplayClock:
    """Return the recorded wall-clock readings, in order."""

    __slots__ = ("_tape",)

    def __init__(self, tape: Tape) -> None:
        self._tape = tape

    def now_ns(self) -> int:
        record = self._tape.take("clock", "the time")
        return self._tape.read(record, "ts", _integer)


class ReplayOperator:
    """The operator of a recorded run: applies the journal's stops, resets and changes of the
    shared kill switch where it has them, then shows the bar to the risk layer as the run's
    operator did (`StateFileOperator` live; the simulated one, with its resets, in a backtest).
    """

    def __init__(self, door: Door, *, tape: Tape, clock: Clock, reset_after_ns: int | None) -> None:
        self._door = door
        self._tape = tape
        self._clock = clock
        self._simulated = SimulatedOperator(door, reset_after_ns)

    def watch(self, bar: Bar) -> None:
        while (kind := self._tape.next_kind()) in (PERSON, SHARED):
            if kind == PERSON:
                self._person()
            else:
                record = self._tape.take(SHARED, "a change of the shared kill switch")
                flag = self._tape.read(record, "flag", _shared_or_none)
                follow_shared(self._door, self._clock.now_ns(), flag)
        self._simulated.watch(bar)

    def _person(self) -> None:
        record = self._tape.take(PERSON, "a person's action")
        try:
            action = PersonAction.from_dict(record.data.get("action") or {})
        except RiskStateError as error:
            raise JournalError(self._tape.path, record.line, str(error)) from None
        apply_person(self._door, self._clock.now_ns(), action)


def _reconciled(bars: Sequence[Bar], tape: Tape, book: Book | None) -> Iterator[Bar]:
    """Yield the bars, booking what the session's reconciliation booked before each one."""
    for bar in bars:
        while tape.next_kind() == RECONCILED:
            record = tape.take(RECONCILED, "what reconciliation booked")
            if book is None:
                problem = "a reconciliation record in a run that kept no book of its own"
                raise JournalError(tape.path, record.line, problem)
            for deposit in tape.read(record, "deposits", _deposits):
                book.ledger.deposit(deposit.currency, deposit.amount, deposit.ts, deposit.reference)
            for fill in tape.read(record, "fills", _fills):
                book.ledger.record(fill)
        yield bar


class ReplayVenue:
    """Return the recorded venue answers, in order, checking each question was the same."""

    def __init__(self, tape: Tape) -> None:
        self._tape = tape
        record = tape.take("venue", "the venue")
        self.name = tape.read(record, "name", str)

    def instruments(self) -> Mapping[str, Instrument]:
        record = self._tape.take("instruments", "the instruments")
        return self._tape.read(record, "instruments", _instruments)

    def place_order(self, request: OrderRequest) -> Order:
        record = self._ack("place_order", f"placing {request.client_order_id}")
        self._tape.expect(record, "request", request_to_json(request))
        return self._tape.read(record, "order", order_from_json)

    def cancel_order(self, order_id: str) -> Order:
        record = self._ack("cancel_order", f"cancelling {order_id}")
        self._tape.expect(record, "order_id", order_id)
        return self._tape.read(record, "order", order_from_json)

    def get_order(self, order_id: str) -> Order:
        record = self._ack("get_order", f"order {order_id}")
        self._tape.expect(record, "order_id", order_id)
        return self._tape.read(record, "order", order_from_json)

    def open_orders(self, instrument: str | None = None) -> Sequence[Order]:
        record = self._tape.take("open", "the open orders")
        self._tape.expect(record, "instrument", instrument)
        return self._tape.read(record, "orders", lambda v: [order_from_json(o) for o in v])

    def list_fills(self, *, since_ts: int | None = None) -> Sequence[Fill]:
        record = self._tape.take("listed", "the fills list")
        self._tape.expect(record, "since_ts", since_ts)
        return self._tape.read(record, "fills", lambda v: [fill_from_json(f) for f in v])

    def balances(self) -> Mapping[str, Decimal]:
        record = self._tape.take("balances", "the balances")
        return self._tape.read(record, "balances", _amounts)

    def on_bar(self, bar: Bar) -> Sequence[Fill]:
        record = self._tape.take("bar", f"the fills of bar {bar.instrument} {bar.ts}")
        self._tape.expect(record, "instrument", bar.instrument)
        self._tape.expect(record, "ts", bar.ts)
        record = self._tape.take("fills", f"the fills of bar {bar.instrument} {bar.ts}")
        fills = self._tape.read(record, "fills", lambda v: [fill_from_json(f) for f in v])
        for fill in fills:
            self._tape.fill_lines.setdefault(fill.trade_id, record.line)
        return fills

    def settle(self) -> Sequence[Fill]:
        record = self._tape.take("settle", "the fills after the last bar")
        fills = self._tape.read(record, "fills", _fills)
        for fill in fills:
            self._tape.fill_lines.setdefault(fill.trade_id, record.line)
        return fills

    def open_order_count(self) -> int:
        record = self._tape.take("open_count", "how many orders are open")
        return self._tape.read(record, "count", _integer)

    def has_resting(self, instrument: str) -> bool:
        record = self._tape.take("resting", f"whether orders rest on {instrument}")
        self._tape.expect(record, "instrument", instrument)
        return self._tape.read(record, "resting", _boolean)

    def _ack(self, call: str, asked: str) -> Record:
        record = self._tape.take("ack", asked)
        self._tape.expect(record, "call", call)
        return record


@dataclass(frozen=True, slots=True)
class SessionStart:
    """What the `start` record says: how to rebuild the run."""

    run_id: str
    mode: str
    clock: str
    strategy: str
    parameters: dict[str, str]
    config: BacktestConfig
    instruments: tuple[str, ...]
    interval_ns: int
    book: bool = False

    def opening_book(self) -> Book | None:
        """Return the ledger a session kept itself, holding its opening deposit; else None."""
        if not self.book:
            return None
        configured = self.config.instruments
        instruments = {s: configured.get(s) or instrument_from_symbol(s) for s in self.instruments}
        quote = next(iter(instruments.values())).quote
        ledger = Ledger(instruments, quote)
        ledger.deposit(quote, self.config.initial_cash, 0, "initial cash")
        return Book(ledger)


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """The session's digest and the replay's, and the first place they differ."""

    path: Path
    run_id: str
    mode: str
    original: str
    replay: str
    first_difference: str | None
    bars: int
    orders: int
    fills: int

    @property
    def equal(self) -> bool:
        """Return True when the replay decided and traded exactly as the session did."""
        return self.original == self.replay

    def to_json(self) -> dict[str, Any]:
        """Return the report as plain values."""
        return {
            "journal": str(self.path),
            "run": self.run_id,
            "mode": self.mode,
            "original_digest": self.original,
            "replay_digest": self.replay,
            "equal": self.equal,
            "first_difference": self.first_difference,
            "bars": self.bars,
            "orders": self.orders,
            "fills": self.fills,
        }


def read_start(path: Path, record: Record) -> SessionStart:
    """Rebuild the run's strategy configuration from the `start` record."""
    tape = Tape(path, [record])
    read = partial_reader(tape, record)
    clock = read("clock", str)
    if clock not in (WALL, HISTORICAL):
        problem = f"field 'clock': expected {WALL!r} or {HISTORICAL!r}, found {clock!r}"
        raise JournalError(path, record.line, problem)
    config = BacktestConfig(
        initial_cash=read("initial_cash", Decimal),
        fill_model=FillModel(
            fees=FeeSchedule(
                maker_bps=read("maker_bps", Decimal), taker_bps=read("taker_bps", Decimal)
            ),
            slippage=_slippage(read, record),
            max_volume_share=read("max_volume_share", decimal_or_none),
        ),
        instruments=read("increments", _instruments),
        parameters=read("parameters", _text_map),
        risk=_risk(path, record, read("risk_phase", _phase)),
        operator_reset_after_ns=read("operator_reset_after_ns", _integer_or_none),
        shared_stop=_shared_or_none(record.data.get("shared_stop")),
        risk_state=_risk_state(record.data.get("risk_state")),
    )
    if record.data.get("resumed"):
        problem = (
            "this session continued one that died: its ledger and orders came from the "
            "database, not from this journal, so it cannot be replayed from the journal alone"
        )
        raise JournalError(path, record.line, problem)
    return SessionStart(
        run_id=read("run_id", str),
        mode=read("mode", str),
        clock=clock,
        strategy=read("strategy", str),
        parameters=dict(config.parameters),
        config=config,
        instruments=tuple(read("instruments", _text_list)),
        interval_ns=read("interval_ns", _integer),
        book=bool(record.data.get("book", False)),
    )


def _risk_state(value: Any) -> StoredRiskState | None:
    if value is None:
        return None
    try:
        return StoredRiskState(
            kill_switch=KillSwitchState.from_dict(value["kill_switch"]),
            breaker=BreakerState.from_dict(value["breaker"]),
        )
    except (KeyError, TypeError, RiskStateError) as error:
        raise FieldError("risk_state", str(error)) from None


def history(tape: Tape, records: Sequence[Record], interval_ns: int) -> list[BarSeries]:
    """Return the warm-up bars the session started with, one series per instrument."""
    found = next((r for r in records[1:2] if r.kind == HISTORY), None)
    if found is None:
        return []
    bars = tape.read(found, "bars", _bars)
    symbols = dict.fromkeys(b.instrument for b in bars)
    return [
        BarSeries.from_bars(s, interval_ns, [b for b in bars if b.instrument == s]) for s in symbols
    ]


def partial_reader(tape: Tape, record: Record) -> Callable[[str, Callable[[Any], T]], T]:
    """Return a reader of `record`'s fields that names the line and field on a problem."""

    def read(name: str, parse: Callable[[Any], T]) -> T:
        return tape.read(record, name, parse)

    return read


def _slippage(read: Callable[[str, Callable[[Any], Any]], Any], record: Record) -> Slippage:
    """Read the session's slippage; a journal older than the model holds a fixed figure."""
    if "slippage" in record.data:
        slippage: Slippage = read("slippage", slippage_from_json)
        return slippage
    return FixedSlippage(bps=read("slippage_bps", Decimal))


def _risk(path: Path, record: Record, phase: int | None) -> RiskProfile | None:
    profile = None if phase is None else profile_for(phase)
    breaker = record.data.get("breaker")
    if profile is not None and isinstance(breaker, dict):
        # A demo session scales its breaker's durations to its bars (`BreakerSettings.scaled`).
        try:
            profile = replace(profile, breaker=BreakerSettings.from_dict(breaker))
        except RiskConfigError as error:
            raise JournalError(path, record.line, f"field 'breaker': {error}") from None
    if repr(profile) != record.data.get("risk"):
        problem = (
            f"field 'risk': the session's limits are not phase {phase}'s defaults (a risk "
            "file or overrides), and the journal holds only the phase: cannot rebuild them"
        )
        raise JournalError(path, record.line, problem)
    return profile


def replay_journal(path: Path) -> ReplayReport:
    """Replay the journal at `path` and compare its digest with the session's."""
    records = read_journal(path)
    start = read_start(path, records[0])
    end = records[-1]
    tape = Tape(path, records)
    original_digest = tape.read(end, "digest", str)
    original = tape.read(end, "decisions", _text_list)
    bars = [tape.whole(r, bar_from_json) for r in records if r.kind == "bar"]
    result = _run(start, tape, bars, history(tape, records, start.interval_ns))
    tape.finished()
    entries = decisions(result)
    return ReplayReport(
        path=path,
        run_id=start.run_id,
        mode=start.mode,
        original=original_digest,
        replay=digest(entries),
        first_difference=_first_difference(original, entries, tape.fill_lines),
        bars=len(bars),
        orders=len(result.orders),
        fills=len(result.fills),
    )


def _run(
    start: SessionStart, tape: Tape, bars: Sequence[Bar], warmup: Sequence[BarSeries]
) -> BacktestResult:
    strategy, _ = build_strategy(start.strategy, start.parameters)
    # A paper run's clock followed its bars; a session's readings are on the tape.
    first = bars[0].ts if bars else 0
    clock: Clock = ReplayClock(tape) if start.clock == WALL else HistoricalClock(first)

    def build(instruments: Mapping[str, Instrument], _clock: Clock, _c: BacktestConfig) -> Venue:
        return ReplayVenue(tape)  # built as the engine wires the run, after its first reading

    book = start.opening_book()
    return run_live(
        _reconciled(bars, tape, book),
        strategy,
        start.config,
        instruments=start.instruments,
        history=warmup,
        clock=clock,
        venue=build,
        interval_ns=start.interval_ns,
        book=book,
        operator=partial(
            ReplayOperator,
            tape=tape,
            clock=clock,
            reset_after_ns=start.config.operator_reset_after_ns,
        ),
    )


def _first_difference(
    original: Sequence[str], replay: Sequence[str], fill_lines: Mapping[str, int]
) -> str | None:
    for index, (theirs, ours) in enumerate(zip(original, replay, strict=False)):
        if theirs != ours:
            return f"entry {index}: session {theirs}, replay {ours}{_where(ours, fill_lines)}"
    if len(original) != len(replay):
        return f"the session has {len(original)} entries, the replay {len(replay)}"
    return None


def _where(entry: str, fill_lines: Mapping[str, int]) -> str:
    for trade_id, line in fill_lines.items():
        if f'"trade_id":"{trade_id}"' in entry:
            return f" (the fill recorded at journal line {line})"
    return ""


def _instruments(value: Any) -> dict[str, Instrument]:
    if not isinstance(value, dict):
        msg = "expected an object of instruments"
        raise TypeError(msg)
    return {symbol: instrument_from_json(data) for symbol, data in value.items()}


def _amounts(value: Any) -> dict[str, Decimal]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        msg = "expected an object of decimal strings"
        raise TypeError(msg)
    return {currency: Decimal(amount) for currency, amount in value.items()}


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"expected an integer, found {type(value).__name__}"
        raise TypeError(msg)
    return value


def _integer_or_none(value: Any) -> int | None:
    return None if value is None else _integer(value)


def _phase(value: Any) -> int | None:
    return None if value is None else _integer(value)


def _shared_or_none(value: Any) -> KillSwitchFlag | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise FieldError("flag", f"expected an object or null, found {type(value).__name__}")
    by, reason, ts = value.get("by"), value.get("reason"), value.get("ts_ns")
    if not isinstance(by, str) or not isinstance(reason, str):
        raise FieldError("flag", "expected text 'by' and 'reason'")
    return KillSwitchFlag(by=by, reason=reason, ts_ns=_integer(ts))


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        msg = f"expected true or false, found {type(value).__name__}"
        raise TypeError(msg)
    return value


def _deposits(value: Any) -> list[Deposit]:
    if not isinstance(value, list):
        raise FieldError("deposits", f"expected a list, found {type(value).__name__}")
    return [deposit_from_json(item) for item in value]


def _fills(value: Any) -> list[Fill]:
    if not isinstance(value, list):
        raise FieldError("fills", f"expected a list, found {type(value).__name__}")
    return [fill_from_json(item) for item in value]


def _bars(value: Any) -> list[Bar]:
    if not isinstance(value, list):
        raise FieldError("bars", f"expected a list, found {type(value).__name__}")
    return [bar_from_json(item) for item in value]


def _text_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        msg = "expected a list of strings"
        raise TypeError(msg)
    return list(value)


def _text_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        msg = "expected an object of strings"
        raise TypeError(msg)
    return dict(value)
