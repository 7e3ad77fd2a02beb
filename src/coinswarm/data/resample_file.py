"""`coinswarm data resample`: one bar file in, the same market in longer bars out.

Everything a person can get wrong (an unknown interval, a finer target, an output that
exists, a name that does not say the instrument) is refused by `plan_resample` before any
bar is read; `write_resampled` then loads, resamples and writes atomically, so a failure
leaves no file behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from coinswarm.data.loader import load_bars, write_bars
from coinswarm.data.naming import DATA_SUFFIXES, data_file_name, parse_file_name
from coinswarm.data.resample import Resampled, check_timeframe, to_timeframe
from coinswarm.data.timefmt import format_interval, format_timestamp, parse_interval
from coinswarm.domain.errors import DataError

__all__ = ["ResamplePlan", "Written", "plan_resample", "write_resampled"]


@dataclass(frozen=True, slots=True)
class ResamplePlan:
    """A checked request: read `source` as `instrument`, write `out` in bars of `interval_ns`."""

    source: Path
    out: Path
    instrument: str
    interval_ns: int


@dataclass(frozen=True, slots=True)
class Written:
    """What `write_resampled` wrote, with what it could not make whole."""

    path: Path
    source_interval_ns: int
    result: Resampled

    def render_lines(self) -> list[str]:
        """Return what a person reads after the command: the file, the bars, the caveats."""
        out, result = self.result.series, self.result
        span = f"{format_timestamp(int(out.ts[0]))} .. {format_timestamp(int(out.ts[-1]))}"
        lines = [
            f"{self.path}: {len(out):,} {out.instrument} bars of {format_interval(out.interval_ns)}"
            f" from {result.source_bars:,} of {format_interval(self.source_interval_ns)}, {span}"
        ]
        if result.incomplete:
            lines.append(
                f"  {result.incomplete:,} of them cover a gap in the source (fewer source bars "
                f"than a full {format_interval(out.interval_ns)}); no bar was invented"
            )
        if result.unfinished_ts is not None:
            lines.append(
                f"  the last {format_interval(out.interval_ns)} bar, opening "
                f"{format_timestamp(result.unfinished_ts)}, was dropped: the data ends before "
                f"it closes"
            )
        return lines


def _suffix(path: Path) -> str:
    lower = path.name.lower()
    return next((s for s in sorted(DATA_SUFFIXES, key=len, reverse=True) if lower.endswith(s)), "")


def _target(label: str, source: Path) -> int:
    try:
        interval = parse_interval(label)
    except ValueError as error:
        raise DataError(f"--to: {error}") from None
    named = parse_file_name(source).interval
    if named is not None:
        _check_finer(parse_interval(named), interval, source)
    return interval


def _check_finer(source_ns: int, target_ns: int, path: Path) -> None:
    if target_ns == source_ns:
        msg = f"--to: the file already holds {format_interval(source_ns)} bars"
        raise DataError(msg, path=str(path))
    try:
        check_timeframe(source_ns, target_ns)
    except ValueError as error:
        raise DataError(f"--to: {error}", path=str(path)) from None


def _output(source: Path, out: Path | None, instrument: str, label: str) -> Path:
    if out is None:
        return source.with_name(data_file_name(instrument, label, _suffix(source) or ".csv.gz"))
    if not _suffix(out):
        msg = f"--out: expected a name ending in .csv, .csv.gz or .parquet, found {out.name!r}"
        raise DataError(msg)
    return out


def plan_resample(
    source: Path, *, to: str, out: Path | None = None, pair: str | None = None, force: bool = False
) -> ResamplePlan:
    """Check a resampling request without reading a bar; raise DataError on anything wrong."""
    if not source.is_file():
        raise DataError("no such file", path=str(source))
    interval = _target(to, source)
    instrument = pair or parse_file_name(source).instrument
    if instrument is None:
        msg = "cannot tell the instrument from the file name; pass --pair BTC-USDT"
        raise DataError(msg, path=str(source))
    target = _output(source, out, instrument, to)
    if target.resolve() == source.resolve():
        raise DataError("--out: would replace the file it reads", path=str(target))
    if target.exists() and not force:
        raise DataError("already exists; pass --force to replace it", path=str(target))
    return ResamplePlan(source, target, instrument, interval)


def write_resampled(plan: ResamplePlan) -> Written:
    """Load `plan.source`, resample it and write `plan.out` atomically; return what it wrote."""
    series = load_bars(plan.source, instrument=plan.instrument)
    _check_finer(series.interval_ns, plan.interval_ns, plan.source)
    result = to_timeframe(series, plan.interval_ns)
    if len(result.series) == 0:
        msg = f"no finished {format_interval(plan.interval_ns)} bar in {len(series):,} bars"
        raise DataError(msg, path=str(plan.source))
    write_bars(result.series, plan.out)
    return Written(plan.out, series.interval_ns, result)
