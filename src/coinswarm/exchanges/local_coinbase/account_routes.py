"""One account by its uuid, and the one portfolio this exchange keeps.

The local exchange has a single portfolio (`convert.PORTFOLIO_UUID`, "Default") holding one
account per currency; creating, renaming, deleting portfolios or moving funds between them is
refused (see `unsupported`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter

from coinswarm.exchanges.local_coinbase import convert
from coinswarm.exchanges.local_coinbase.deps import KeyName, Svc
from coinswarm.exchanges.local_coinbase.errors import ApiError
from coinswarm.exchanges.local_coinbase.routes import PREFIX
from coinswarm.exchanges.local_coinbase.venue import Venue

__all__ = ["router"]

router = APIRouter(prefix=PREFIX)

PORTFOLIO = {"name": "Default", "uuid": convert.PORTFOLIO_UUID, "type": "DEFAULT", "deleted": False}
ZERO = Decimal(0)


def _accounts(venue: Venue) -> list[dict[str, Any]]:
    created = venue.now_ns
    return [
        convert.account(currency, total, hold, created_ns=created).model_dump(mode="json")
        for currency, (total, hold) in venue.balances().items()
    ]


@router.get("/accounts/{account_uuid}")
async def get_account(account_uuid: str, svc: Svc, _key: KeyName) -> dict[str, Any]:
    """Return one account by its uuid, or 404."""
    for account in _accounts(svc.venue):
        if account["uuid"] == account_uuid:
            return {"account": account}
    raise ApiError(404, "NOT_FOUND", f"account {account_uuid} not found")


@router.get("/portfolios")
async def list_portfolios(
    svc: Svc, _key: KeyName, portfolio_type: str | None = None
) -> dict[str, Any]:
    """List the one portfolio (none when another `portfolio_type` is asked for)."""
    shown = portfolio_type in (None, "", "DEFAULT", "UNDEFINED")
    return {"portfolios": [PORTFOLIO] if shown else []}


def _value_in(venue: Venue, currency: str, amount: Decimal, wanted: str) -> Decimal:
    """Return `amount` of `currency` in `wanted` at the last close, or 0 without a price."""
    if currency == wanted:
        return amount
    for instrument in venue.instruments():
        bar = venue.last_bar(instrument.symbol)
        if bar is None or not bar.close > 0:
            continue
        close = Decimal(repr(bar.close))
        if (instrument.base, instrument.quote) == (currency, wanted):
            return amount * close
        if (instrument.base, instrument.quote) == (wanted, currency):
            return amount / close
    return ZERO


def _position(venue: Venue, currency: str, total: Decimal, hold: Decimal, wanted: str) -> Any:
    account = convert.account(currency, total, hold, created_ns=venue.now_ns)
    return {
        "asset": currency,
        "account_uuid": account.uuid,
        # Coinbase sends these figures as JSON numbers; they are kept Decimal until here.
        "total_balance_fiat": _value_in(venue, currency, total, wanted),
        "total_balance_crypto": total,
        "available_to_trade_fiat": _value_in(venue, currency, total - hold, wanted),
        "available_to_trade_crypto": total - hold,
        "is_cash": account.type == "ACCOUNT_TYPE_FIAT",
        "allocation": ZERO,
        "asset_img_url": "",
    }


def _as_numbers(position: dict[str, Any]) -> dict[str, Any]:
    return {k: float(v) if isinstance(v, Decimal) else v for k, v in position.items()}


@router.get("/portfolios/{portfolio_uuid}")
async def portfolio_breakdown(
    portfolio_uuid: str, svc: Svc, _key: KeyName, currency: str = "USD"
) -> dict[str, Any]:
    """Return the portfolio's balances and spot positions valued in `currency`."""
    if portfolio_uuid != convert.PORTFOLIO_UUID:
        raise ApiError(404, "NOT_FOUND", f"portfolio {portfolio_uuid} not found")
    venue = svc.venue
    positions = [
        _position(venue, code, total, hold, currency)
        for code, (total, hold) in venue.balances().items()
    ]
    worth = sum((p["total_balance_fiat"] for p in positions), ZERO)
    cash = sum((p["total_balance_fiat"] for p in positions if p["is_cash"]), ZERO)
    for position in positions:
        position["allocation"] = position["total_balance_fiat"] / worth if worth else ZERO

    def money(value: Decimal) -> dict[str, str]:
        return {"value": convert.decimal_text(value), "currency": currency}

    balances = {
        "total_balance": money(worth),
        "total_futures_balance": money(ZERO),
        "total_cash_equivalent_balance": money(cash),
        "total_crypto_balance": money(worth - cash),
        "futures_unrealized_pnl": money(ZERO),
        "perp_unrealized_pnl": money(ZERO),
    }
    breakdown = {
        "portfolio": PORTFOLIO,
        "portfolio_balances": balances,
        "spot_positions": [_as_numbers(p) for p in positions],
        "perp_positions": [],
        "futures_positions": [],
    }
    return {"breakdown": breakdown}
