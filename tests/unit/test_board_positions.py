"""The session board keeps what a running session holds, from its latest equity event.

A paper session stores its account only at checkpoints (every few thousand bars), so while it
runs GET /api/system is where the API says what it holds: a stop that flattens it shows there
as every quantity going to zero.
"""

from __future__ import annotations

from coinswarm.api.board import SessionBoard


def _equity(ts: int, held: str) -> dict[str, object]:
    return {
        "run_id": "run-1", "mode": "paper", "kind": "equity", "ts_ns": ts,
        "equity": "100", "cash": "50", "positions": {"BTC-USD": held}, "drawdown": 0.0,
        "day_pnl": "0", "daily_loss_limit": "5",
    }  # fmt: skip


def test_the_board_shows_the_latest_positions_of_a_session() -> None:
    board = SessionBoard()
    board.observe(_equity(1, "0.5"), received_ns=10)
    assert board.to_json(20)[0]["account"]["positions"] == {"BTC-USD": "0.5"}
    board.observe(_equity(2, "0"), received_ns=30)
    assert board.to_json(40)[0]["account"]["positions"] == {"BTC-USD": "0"}
