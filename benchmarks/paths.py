"""Where the benchmarks find their data by default: the shared real candles beside the project."""

from pathlib import Path

DEFAULT_DATA = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "binance-spot-1h"
    / "BTC_USDT-1h.csv.gz"
)
